//! The framework fixtures: cellwise's exact forward pass gives each framework's logits on
//! the 200 fixture images (within 1e-4) and the same predictions, from .npz and .safetensors.

use cellwise::data::idx::read_idx;
use cellwise::model::forward::{argmax_rows, logits};
use cellwise::model::load_weights;
use cellwise::recurrence::CellKind;
use ndarray::{Array2, Array3};

use super::common::{STEMS, gated_dir};

/// The fixture's test images as 28 steps of 28 pixels / 255.
fn images() -> Array3<f32> {
    let idx = read_idx(
        &cellwise::data::fixture_dir().join("t10k-images.idx3-ubyte"),
        3,
    )
    .unwrap();
    let (n, rows, cols) = (idx.dims[0], idx.dims[1], idx.dims[2]);
    Array3::from_shape_vec(
        (n, rows, cols),
        idx.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
    )
    .unwrap()
}

/// The framework's record of a fixture: cell, hidden, logits, predictions.
struct Reference {
    cell: CellKind,
    hidden: usize,
    logits: Array2<f32>,
    predictions: Vec<usize>,
}

fn reference(stem: &str) -> Reference {
    let text =
        std::fs::read_to_string(gated_dir().join(format!("{stem}.predictions.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cell = match v["cell"].as_str().unwrap() {
        "rnn" => CellKind::SimpleRnn,
        other => other.parse().unwrap(),
    };
    let rows: Vec<Vec<f32>> = serde_json::from_value(v["logits"].clone()).unwrap();
    let classes = rows[0].len();
    let logits =
        Array2::from_shape_vec((rows.len(), classes), rows.into_iter().flatten().collect())
            .unwrap();
    Reference {
        cell,
        hidden: v["hidden"].as_u64().unwrap() as usize,
        logits,
        predictions: serde_json::from_value(v["predictions"].clone()).unwrap(),
    }
}

#[test]
fn framework_logits_and_predictions_are_reproduced() {
    let images = images();
    for stem in STEMS {
        let want = reference(stem);
        assert_eq!(want.logits.nrows(), images.dim().0, "{stem}");
        for ext in ["npz", "safetensors"] {
            let path = gated_dir().join(format!("{stem}.{ext}"));
            let w = load_weights(&path).unwrap();
            assert_eq!(w.cell, want.cell, "{stem}.{ext}");
            assert_eq!(
                (w.input_width(), w.hidden(), w.classes()),
                (28, want.hidden, 10)
            );
            let got = logits(&w, images.view());
            let mut worst = 0.0f32;
            for (g, r) in got.iter().zip(want.logits.iter()) {
                // 1e-4 absolute for logits up to 1, relative beyond.
                let err = (g - r).abs() / r.abs().max(1.0);
                worst = worst.max(err);
            }
            assert!(worst <= 1e-4, "{stem}.{ext}: logits differ by {worst:e}");
            assert_eq!(
                argmax_rows(&got),
                want.predictions,
                "{stem}.{ext}: predictions differ"
            );
        }
    }
}

#[test]
fn npz_and_safetensors_fixtures_are_the_same_weights() {
    for stem in STEMS {
        let dir = gated_dir();
        assert_eq!(
            load_weights(&dir.join(format!("{stem}.npz"))).unwrap(),
            load_weights(&dir.join(format!("{stem}.safetensors"))).unwrap(),
            "{stem}"
        );
    }
}
