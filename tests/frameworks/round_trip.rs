//! Writing and reading back: every cell, both formats, Keras names, fingerprints kept.

use cellwise::model::{
    ARRAY_NAMES, Weights, load_weights, save_weights, to_safetensors, weights_from_npz_bytes,
    weights_from_safetensors_bytes,
};
use cellwise::recurrence::CellKind;
use ndarray::{Array1, Array2};

use super::common::{STEMS, gated_dir};

/// Weights of `cell` with distinct, deterministic values (5 inputs, 3 units, 2 classes).
fn weights(cell: CellKind) -> Weights {
    let (i, h, c, g) = (5, 3, 2, cell.cell().gate_count());
    let mut k = 0u32;
    let mut next = || {
        k += 1;
        ((k * 7919) % 1000) as f32 / 1000.0 - 0.5
    };
    let mut m = |r, c| Array2::from_shape_simple_fn((r, c), &mut next);
    let (kernel, recurrent_kernel, dense_kernel) = (m(i, g * h), m(h, g * h), m(h, c));
    let mut v = |n| Array1::from_shape_simple_fn(n, &mut next);
    Weights {
        cell,
        kernel,
        recurrent_kernel,
        bias: v(g * h),
        recurrent_bias: (cell == CellKind::Gru).then(|| v(g * h)),
        dense_kernel,
        dense_bias: v(c),
    }
}

/// The names and shapes of a safetensors file, sorted by name.
fn header(bytes: &[u8]) -> Vec<(String, Vec<usize>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_cell_round_trips_under_keras_names() {
    let dir = tempfile::tempdir().unwrap();
    for cell in CellKind::ALL {
        let w = weights(cell);
        w.validate(None).unwrap();
        let stem = dir.path().join(cell.name());
        save_weights(&w, &stem).unwrap();
        for ext in ["npz", "safetensors"] {
            let back = load_weights(&stem.with_extension(ext)).unwrap();
            assert_eq!(back, w, "{cell} .{ext}");
            assert_eq!(back.fingerprint(), w.fingerprint());
        }
        let bytes = to_safetensors(&w).unwrap();
        assert_eq!(weights_from_safetensors_bytes(&bytes).unwrap(), w);
        let npz = std::fs::read(stem.with_extension("npz")).unwrap();
        assert_eq!(weights_from_npz_bytes(&npz).unwrap(), w);
        let names: Vec<(String, Vec<usize>)> = header(&bytes);
        let g = cell.cell().gate_count();
        let bias = if cell == CellKind::Gru {
            vec![2, g * 3]
        } else {
            vec![g * 3]
        };
        let mut want = vec![
            ("bias".to_string(), bias),
            ("dense_bias".to_string(), vec![2]),
            ("dense_kernel".to_string(), vec![3, 2]),
            ("kernel".to_string(), vec![5, g * 3]),
            ("recurrent_kernel".to_string(), vec![3, g * 3]),
        ];
        want.sort();
        assert_eq!(names, want, "{cell}");
        assert!(names.iter().all(|(n, _)| ARRAY_NAMES.contains(&n.as_str())));
    }
}

#[test]
fn framework_files_round_trip_through_keras_names() {
    let dir = tempfile::tempdir().unwrap();
    for stem in STEMS {
        let w = load_weights(&gated_dir().join(format!("{stem}.npz"))).unwrap();
        save_weights(&w, &dir.path().join(stem)).unwrap();
        let back = load_weights(&dir.path().join(format!("{stem}.safetensors"))).unwrap();
        assert_eq!(back, w, "{stem}");
        assert_eq!(back.fingerprint(), w.fingerprint());
    }
}

#[test]
fn the_simple_rnn_fingerprint_is_unchanged() {
    // The embedded file uses the earlier names (wx, wh, b, wd, bd).
    let w = Weights::embedded_default();
    assert_eq!(w.fingerprint(), "d6c505810c31edb7");
    let back = weights_from_safetensors_bytes(&to_safetensors(&w).unwrap()).unwrap();
    assert_eq!(back, w);
    assert_eq!(back.fingerprint(), "d6c505810c31edb7");
}

#[test]
fn inconsistent_weights_are_not_written() {
    let mut w = weights(CellKind::Gru);
    w.recurrent_bias = None;
    let e = to_safetensors(&w).unwrap_err().to_string();
    assert_eq!(e, "weights: a gru needs a recurrent bias");
    let mut w = weights(CellKind::Lstm);
    w.recurrent_bias = Some(w.bias.clone());
    let e = to_safetensors(&w).unwrap_err().to_string();
    assert_eq!(e, "weights: an lstm has no recurrent bias");
}

#[test]
fn export_writes_keras_names_for_a_pytorch_gru() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gru");
    let input = gated_dir().join("torch-gru.npz");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(["export", "--weights"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let bytes = std::fs::read(out.with_extension("safetensors")).unwrap();
    assert_eq!(
        header(&bytes),
        vec![
            ("bias".to_string(), vec![2, 12]),
            ("dense_bias".to_string(), vec![10]),
            ("dense_kernel".to_string(), vec![4, 10]),
            ("kernel".to_string(), vec![28, 12]),
            ("recurrent_kernel".to_string(), vec![4, 12]),
        ]
    );
    let w = load_weights(&input).unwrap();
    assert_eq!(load_weights(&out.with_extension("npz")).unwrap(), w);
}
