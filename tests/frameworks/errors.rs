//! Bad weight files and weights of another problem: one line naming the file and the
//! problem, never a panic.

use std::path::Path;
use std::process::Command;

use cellwise::model::{WeightsError, load_weights};
use cellwise::problem::Problem;

use super::common::{Named, arrays_of, gated_dir, npz_entries, npz_of, safetensors_of};

/// The error of loading `bytes` as file `name`, without the "PATH: " prefix.
fn refused(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let e = load_weights(&path).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    let prefix = format!("{}: ", path.display());
    e.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{e} does not name the file"))
        .to_string()
}

/// A fixture's arrays with `edit` applied.
fn edited(stem: &str, edit: impl FnOnce(&mut Vec<Named>)) -> Vec<u8> {
    let mut a = arrays_of(stem);
    edit(&mut a);
    safetensors_of(&a)
}

fn array<'a>(a: &'a mut [Named], name: &str) -> &'a mut Named {
    a.iter_mut().find(|x| x.0 == name).unwrap()
}

const KERAS: &str = "the Keras layout: kernel, recurrent_kernel, bias, dense_kernel, dense_bias";
const TORCH: &str =
    "a PyTorch state_dict of one single-layer, one-direction RNN/GRU/LSTM and one Linear head";

#[test]
fn truncated_and_corrupt_files() {
    let npz = std::fs::read(gated_dir().join("keras-gru.npz")).unwrap();
    let e = refused("cut.npz", &npz[..npz.len() / 2]);
    assert!(e.starts_with("not a readable .npz (zip) file: "), "{e}");
    let mut entries = npz_entries("keras-gru");
    let kernel = entries.iter_mut().find(|e| e.0 == "kernel.npy").unwrap();
    kernel.1.truncate(kernel.1.len() - 8);
    assert_eq!(
        refused("short.npz", &npz_of(&entries)),
        "array 'kernel' is truncated or corrupt: shape [28, 12] needs 1344 data bytes, the file has 1336"
    );
    let mut entries = npz_entries("keras-gru");
    entries[1].1.truncate(30);
    assert_eq!(
        refused("header.npz", &npz_of(&entries)),
        "array 'recurrent_kernel' is truncated or corrupt (header cut short)"
    );
    let st = std::fs::read(gated_dir().join("torch-lstm.safetensors")).unwrap();
    let e = refused("cut.safetensors", &st[..st.len() - 4]);
    assert!(e.starts_with("not a readable safetensors file: "), "{e}");
    assert_eq!(
        refused("empty.npz", &npz_of(&[])),
        "the file holds no arrays"
    );
    // Stored entries marked deflated (np.savez_compressed's method, which is read since zip's
    // deflate feature came with the sktime wheel): their bytes do not inflate.
    let mut deflated = npz.clone();
    for i in 0..deflated.len().saturating_sub(12) {
        match &deflated[i..i + 4] {
            b"PK\x03\x04" => deflated[i + 8] = 8,
            b"PK\x01\x02" => deflated[i + 10] = 8,
            _ => {}
        }
    }
    let e = refused("deflated.npz", &deflated);
    assert!(e.contains("is truncated or corrupt"), "{e}");
    // Another compression method than stored or deflated.
    let mut bzip2 = npz.clone();
    for i in 0..bzip2.len().saturating_sub(12) {
        match &bzip2[i..i + 4] {
            b"PK\x03\x04" => bzip2[i + 8] = 12,
            b"PK\x01\x02" => bzip2[i + 10] = 12,
            _ => {}
        }
    }
    assert_eq!(
        refused("bzip2.npz", &bzip2),
        "array 0 of the .npz: Compression method not supported (cellwise reads np.savez and np.savez_compressed files: stored or deflated entries)"
    );
}

#[test]
fn missing_and_unknown_arrays() {
    let bytes = edited("keras-lstm", |a| a.retain(|x| x.0 != "dense_bias"));
    assert_eq!(
        refused("m.safetensors", &bytes),
        format!("missing array: dense_bias ({KERAS})")
    );
    let bytes = edited("keras-lstm", |a| {
        a.push(("optimizer/iterations".into(), vec![1], vec![3.0]))
    });
    assert_eq!(
        refused("m.safetensors", &bytes),
        format!("unknown array: optimizer/iterations ({KERAS})")
    );
    let bytes = edited("torch-gru", |a| {
        let l0: Vec<Named> = a.iter().filter(|x| x.0.contains("_l0")).cloned().collect();
        a.extend(
            l0.into_iter()
                .map(|(n, s, v)| (n.replace("_l0", "_l1"), s, v)),
        );
    });
    assert_eq!(
        refused("m.safetensors", &bytes),
        format!(
            "unknown arrays: rnn.bias_hh_l1, rnn.bias_ih_l1, rnn.weight_hh_l1, rnn.weight_ih_l1 ({TORCH})"
        )
    );
    let bytes = edited("torch-rnn", |a| a.retain(|x| x.0 != "rnn.bias_hh_l0"));
    assert_eq!(
        refused("m.safetensors", &bytes),
        format!("missing array: rnn.bias_hh_l0 ({TORCH})")
    );
    let bytes = edited("torch-rnn", |a| a.retain(|x| x.0 != "fc.weight"));
    assert_eq!(
        refused("m.safetensors", &bytes),
        "a PyTorch state_dict with rnn.weight_ih_l0 but no linear head (a 2-D '*.weight' and its '*.bias')"
    );
    let bytes = safetensors_of(&[("foo".into(), vec![1], vec![0.0])]);
    assert_eq!(
        refused("m.safetensors", &bytes),
        "no known weight arrays (found foo); expected the Keras names (kernel, recurrent_kernel, bias, dense_kernel, dense_bias) or a PyTorch state_dict (*weight_ih_l0, *weight_hh_l0, ...)"
    );
    let bytes = safetensors_of(&[("wx".into(), vec![1], vec![0.0])]);
    assert_eq!(
        refused("m.safetensors", &bytes),
        "missing arrays: wh, b, wd, bd (cellwise's earlier layout: wx, wh, b, wd, bd)"
    );
}

#[test]
fn wrong_gate_block_sizes() {
    let bytes = edited("keras-gru", |a| {
        let r = array(a, "recurrent_kernel");
        r.1 = vec![4, 8];
        r.2.truncate(32);
    });
    assert_eq!(
        refused("g.safetensors", &bytes),
        "recurrent_kernel has shape [4, 8]: 8 is not 1, 3 or 4 gate blocks of 4 units (SimpleRNN, GRU, LSTM)"
    );
    let bytes = edited("keras-lstm", |a| {
        let k = array(a, "kernel");
        k.1 = vec![28, 12];
        k.2.truncate(28 * 12);
    });
    assert_eq!(
        refused("g.safetensors", &bytes),
        "kernel has shape [28, 12], expected [input width, 16] (an lstm of 4 units)"
    );
    let bytes = edited("torch-lstm", |a| {
        let b = array(a, "rnn.bias_ih_l0");
        b.1 = vec![15];
        b.2.truncate(15);
    });
    assert_eq!(
        refused("g.safetensors", &bytes),
        "rnn.bias_ih_l0 has shape [15], expected [16] (an lstm of 4 units)"
    );
    let bytes = edited("torch-rnn", |a| {
        let w = array(a, "fc.weight");
        w.1 = vec![10, 3];
        w.2.truncate(30);
    });
    assert_eq!(
        refused("g.safetensors", &bytes),
        "fc.weight has shape [10, 3], expected [classes, 4] (a simple-rnn of 4 units)"
    );
    let bytes = edited("keras-gru", |a| {
        let b = array(a, "bias");
        b.1 = vec![3, 12];
        b.2 = vec![0.0; 36];
    });
    assert_eq!(
        refused("g.safetensors", &bytes),
        "bias has shape [3, 12], expected [2, 12] (input bias, recurrent bias) (a gru of 4 units)"
    );
}

#[test]
fn non_finite_values_and_other_dtypes() {
    let bytes = edited("torch-gru", |a| {
        array(a, "rnn.weight_hh_l0").2[5] = f32::NAN;
    });
    assert_eq!(
        refused("n.safetensors", &bytes),
        "array 'rnn.weight_hh_l0' holds a non-finite value (NaN) at flat index 5"
    );
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![1], &[0; 4]).unwrap();
    let bytes = safetensors::serialize([("bias", view)], None).unwrap();
    assert_eq!(
        refused("d.safetensors", &bytes),
        "array 'bias' has dtype I32, expected F32 or F64"
    );
}

#[test]
fn keras_gru_reset_before_is_refused() {
    let path = gated_dir().join("keras-gru-reset-before.npz");
    let e = load_weights(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: a Keras GRU with reset_after=False (bias of shape [12]) is not supported; cellwise reads reset_after=True (bias [2, 12], the Keras 2 default) and PyTorch's nn.GRU",
            path.display()
        )
    );
}

/// A preset of `cell` with `hidden` units and `classes` classes on 28 x 28 MNIST.
fn problem(cell: &str, hidden: usize, classes: usize) -> String {
    format!(
        r#"name = "test-{cell}{hidden}"
[data]
dataset = "mnist"
image_side = 28
validation = 5000
[model]
cell = "{cell}"
hidden = {hidden}
classes = {classes}
[training]
learning_rate = 1e-3
batch_size = 128
max_epochs = 1
early_stopping_patience = 1
reduce_lr_factor = 0.1
reduce_lr_patience = 1
min_learning_rate = 1e-5
seed = 1
[approximation]
degrees = [3, 7]
interval = [-8.0, 8.0]
method = "least-squares"
"#
    )
}

#[test]
fn weights_of_another_problem_are_refused() {
    let load = |stem: &str| load_weights(&gated_dir().join(format!("{stem}.npz"))).unwrap();
    let check = |stem: &str, p: &Problem| match load(stem).check_against(p) {
        Err(WeightsError::Mismatch(m)) => m,
        other => panic!("{stem}: {other:?}"),
    };
    let lstm = Problem::from_toml("t", &problem("lstm", 4, 10)).unwrap();
    assert_eq!(
        check("keras-gru", &lstm),
        "the weights are a gru, problem test-lstm4 needs an lstm"
    );
    assert_eq!(
        check("torch-rnn", &lstm),
        "the weights are a simple-rnn, problem test-lstm4 needs an lstm"
    );
    load("torch-lstm").check_against(&lstm).unwrap();
    assert_eq!(
        check("torch-rnn", &Problem::load("mnist-rnn32").unwrap()),
        "the weights have 4 hidden units, problem mnist-rnn32 needs 32"
    );
    assert_eq!(
        check("torch-rnn", &Problem::load("mnist-6x6").unwrap()),
        "the weights take 28 inputs per step, problem mnist-6x6 has 6"
    );
    let twelve = Problem::from_toml("t", &problem("gru", 4, 12)).unwrap();
    assert_eq!(
        check("torch-gru", &twelve),
        "the weights have 10 classes, problem test-gru4 needs 12"
    );
}

#[test]
fn the_cli_refuses_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("lstm.toml");
    std::fs::write(&toml, problem("lstm", 4, 10)).unwrap();
    let weights = gated_dir().join("keras-gru.safetensors");
    let run = |args: &[&Path]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cellwise"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let e = run(&[
        Path::new("eval"),
        Path::new("--problem"),
        &toml,
        Path::new("--weights"),
        &weights,
    ]);
    assert_eq!(
        e,
        format!(
            "error: {}: the weights are a gru, problem test-lstm4 needs an lstm\n",
            weights.display()
        )
    );
    let reset = gated_dir().join("keras-gru-reset-before.npz");
    let e = run(&[
        Path::new("export"),
        Path::new("--weights"),
        &reset,
        Path::new("--out"),
        &dir.path().join("x"),
    ]);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("reset_after=False"), "{e}");
}
