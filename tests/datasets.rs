//! The data sets beside MNIST: Fashion-MNIST from a Debian package, JapaneseVowels from the
//! sktime wheel's `.ts` files. Bad input (a damaged package or wheel, a ragged or
//! non-numeric `.ts` row, a series longer than the problem's steps, an unknown data set)
//! ends in one line naming the file and the problem. Uses the committed fixtures and
//! packages built here; nothing is downloaded.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use cellwise::data::{self, FASHION_FILES, VOWELS_FILES, deb::build_package};
use cellwise::problem::{Dataset, Problem};

fn cellwise(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(args)
        .env_remove("CELLWISE_DATA_DIR")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a one-line error that mentions every needle.
fn fails_with(args: &[&str], needles: &[&str]) {
    let (ok, _, stderr) = cellwise(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: no '{needle}' in {stderr}"
        );
    }
}

/// Asserts a one-line message (no newline) naming every needle.
fn one_line_naming(message: &str, needles: &[&str]) {
    assert!(!message.contains('\n'), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "no '{needle}' in {message}");
    }
}

#[test]
fn new_presets_load_with_their_shapes() {
    for (name, dataset, steps, width, classes) in [
        ("fashion-rnn32", Dataset::FashionMnist, 28, 28, 10),
        ("fashion-gru32", Dataset::FashionMnist, 28, 28, 10),
        ("fashion-gru32-safe", Dataset::FashionMnist, 28, 28, 10),
        ("vowels-rnn32", Dataset::JapaneseVowels, 29, 12, 9),
        ("vowels-gru32", Dataset::JapaneseVowels, 29, 12, 9),
        ("mnist-rnn64", Dataset::Mnist, 28, 28, 10),
        ("mnist-rnn128", Dataset::Mnist, 28, 28, 10),
    ] {
        let p = Problem::load(name).unwrap();
        assert_eq!(
            (p.dataset(), p.steps(), p.input_width(), p.model.classes),
            (dataset, steps, width, classes),
            "{name}"
        );
        assert!(
            cellwise::model::Weights::embedded_for(&p).is_some(),
            "{name}"
        );
    }
}

#[test]
fn fixtures_load_as_sequences() {
    let fashion = data::load_fixture_splits(&Problem::load("fashion-rnn32").unwrap()).unwrap();
    assert_eq!(fashion.train.images.shape(), [400, 28, 28]);
    assert_eq!((fashion.val.len(), fashion.test.len()), (100, 200));
    let vowels = data::load_fixture_splits(&Problem::load("vowels-rnn32").unwrap()).unwrap();
    // 45 training series (5 per speaker): every fifth is validation.
    assert_eq!((vowels.train.len(), vowels.val.len()), (36, 9));
    assert_eq!(vowels.test.images.shape(), [36, 29, 12]);
    assert!(vowels.train.labels.iter().all(|&l| l < 9));
    // Pre-padded: a short series starts with zero steps and ends with data.
    let x = &vowels.test.images;
    let short = (0..x.shape()[0])
        .find(|&i| x.slice(ndarray::s![i, 0, ..]).iter().all(|&v| v == 0.0))
        .expect("a series shorter than 29 steps");
    assert!(
        x.slice(ndarray::s![short, 28, ..])
            .iter()
            .any(|&v| v != 0.0)
    );
    // Standardised by the training split: its real values have mean ~0 and deviation ~1.
    let t = &vowels.train.images;
    let (mut n, mut sum, mut sq) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..t.shape()[0] {
        for s in 0..29 {
            let row = t.slice(ndarray::s![i, s, ..]);
            if row.iter().any(|&v| v != 0.0) {
                for &v in row {
                    n += 1.0;
                    sum += f64::from(v);
                    sq += f64::from(v) * f64::from(v);
                }
            }
        }
    }
    assert!((sum / n).abs() < 1e-3 && (sq / n - 1.0).abs() < 1e-2);
}

#[test]
fn eval_runs_on_the_new_fixtures() {
    for problem in ["fashion-rnn32", "vowels-rnn32"] {
        let (ok, stdout, stderr) = cellwise(&["eval", "--problem", problem, "--fixture"]);
        assert!(ok, "{problem}: {stderr}");
        assert!(stdout.contains("all-17"), "{problem}: {stdout}");
    }
}

fn fashion_package(corrupt: impl Fn(usize, &mut Vec<u8>)) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = FASHION_FILES
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut raw = std::fs::read(data::fashion_fixture_dir().join(f.name)).unwrap();
            corrupt(i, &mut raw);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw).unwrap();
            (
                format!("usr/share/datasets/fashion-mnist/{}.gz", f.name),
                gz.finish().unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    build_package(&refs)
}

#[test]
fn damaged_debian_packages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let deb = dir.path().join("dataset-fashion-mnist.deb");
    let deb_s = deb.to_str().unwrap();
    let fetch = [
        "fetch",
        "--problem",
        "fashion-rnn32",
        "--data-dir",
        d,
        "--deb",
        deb_s,
    ];
    // Well formed, but the fixture's files are not Fashion-MNIST's: their digest is checked
    // after decompression.
    std::fs::write(&deb, fashion_package(|_, _| {})).unwrap();
    fails_with(&fetch, &[deb_s, "fashion-rnn32", "SHA-256", "decompressed"]);
    let good = fashion_package(|_, _| {});
    // Damaged: flipped bytes in the compressed data, truncated, not an archive at all.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0x5a;
    }
    for bytes in [flipped, good[..good.len() / 3].to_vec(), b"hello".to_vec()] {
        std::fs::write(&deb, &bytes).unwrap();
        fails_with(&fetch, &[deb_s, "fashion-rnn32"]);
    }
    // A package without the data set's files.
    std::fs::write(&deb, build_package(&[("usr/share/doc/x", b"x")])).unwrap();
    fails_with(&fetch, &[deb_s, "fashion-rnn32", "train-images-idx3-ubyte"]);
    // Nothing was written under the data directory's fashion-mnist/.
    let out = Path::new(d).join("fashion-mnist");
    assert!(std::fs::read_dir(&out).map_or(true, |mut e| e.next().is_none()));
}

fn wheel(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn damaged_wheels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let whl = dir.path().join("sktime-1.2.0-py3-none-any.whl");
    let whl_s = whl.to_str().unwrap();
    let fetch = [
        "fetch",
        "--problem",
        "vowels-rnn32",
        "--data-dir",
        d,
        "--wheel",
        whl_s,
    ];
    let fixture: Vec<(String, Vec<u8>)> = VOWELS_FILES
        .iter()
        .map(|f| {
            (
                format!("sktime/datasets/data/JapaneseVowels/{}", f.name),
                std::fs::read(data::vowels_fixture_dir().join(f.name)).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = fixture
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let good = wheel(&refs);
    // Readable, but the fixture is not the real files: checked by SHA-256.
    std::fs::write(&whl, &good).unwrap();
    fails_with(&fetch, &[whl_s, "vowels-rnn32", "SHA-256"]);
    // Damaged or not a wheel; a wheel without the files.
    let mut flipped = good.clone();
    let mid = flipped.len() / 3;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0x5a;
    }
    for bytes in [
        flipped,
        good[..good.len() / 2].to_vec(),
        b"PK not a zip".to_vec(),
        wheel(&[("sktime/__init__.py", b"")]),
    ] {
        std::fs::write(&whl, &bytes).unwrap();
        fails_with(&fetch, &[whl_s, "vowels-rnn32"]);
    }
    // The other data set's package option is refused by name.
    fails_with(
        &["fetch", "--dataset", "japanese-vowels", "--deb", whl_s],
        &["--deb", "fashion-mnist"],
    );
}

/// The fixture's `.ts` files in a fresh directory, with line `line` of the training file
/// (1-based) passed through `edit`.
fn ts_dir(line: usize, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in VOWELS_FILES {
        let text = std::fs::read_to_string(data::vowels_fixture_dir().join(f.name)).unwrap();
        let text: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == line && f.name.contains("TRAIN") {
                    edit(l)
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(dir.path().join(f.name), text.join("\n") + "\n").unwrap();
    }
    dir
}

/// The 1-based line of the first series in the fixture's training file.
fn first_series_line() -> usize {
    let text =
        std::fs::read_to_string(data::vowels_fixture_dir().join(VOWELS_FILES[0].name)).unwrap();
    text.lines()
        .position(|l| l.trim().eq_ignore_ascii_case("@data"))
        .unwrap()
        + 2
}

/// An edit of one line of a `.ts` file.
type Edit = Box<dyn Fn(&str) -> String>;

#[test]
fn bad_ts_rows_name_the_file_line_and_problem() {
    let problem = Problem::load("vowels-rnn32").unwrap();
    let line = first_series_line();
    let cases: [(&str, Edit); 4] = [
        // A dimension with one value fewer than the others.
        (
            "ragged",
            Box::new(|l: &str| {
                let mut dims: Vec<String> = l.split(':').map(String::from).collect();
                let cut = dims[3].rfind(',').unwrap();
                dims[3].truncate(cut);
                dims.join(":")
            }),
        ),
        // A dimension missing altogether.
        (
            "ragged",
            Box::new(|l: &str| {
                let dims: Vec<&str> = l.split(':').collect();
                [&dims[..5], &dims[6..]].concat().join(":")
            }),
        ),
        (
            "'abc' is not a finite number",
            Box::new(|l: &str| l.replacen(',', ",abc,", 1)),
        ),
        (
            "class label '12'",
            Box::new(|l: &str| format!("{}:12", &l[..l.rfind(':').unwrap()])),
        ),
    ];
    for (says, edit) in cases {
        let dir = ts_dir(line, edit);
        let e = data::load_ts_splits(&problem, dir.path(), false)
            .unwrap_err()
            .to_string();
        let file = dir.path().join(VOWELS_FILES[0].name);
        one_line_naming(
            &e,
            &[
                file.to_str().unwrap(),
                &format!("line {line}"),
                "vowels-rnn32",
                says,
            ],
        );
    }
}

#[test]
fn a_series_longer_than_the_steps_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("vowels-short.toml");
    let text = include_str!("../problems/vowels-rnn32.toml")
        .replace("name = \"vowels-rnn32\"", "name = \"vowels-short\"")
        .replace("steps = 29", "steps = 20");
    std::fs::write(&toml, text).unwrap();
    let problem = Problem::load(toml.to_str().unwrap()).unwrap();
    assert_eq!(problem.steps(), 20);
    let e = data::load_fixture_splits(&problem).unwrap_err().to_string();
    one_line_naming(
        &e,
        &[
            "vowels-short",
            "JapaneseVowels_TRAIN.ts",
            "longer than the problem's 20",
        ],
    );
    // Through the CLI on the fixture as well.
    fails_with(
        &["eval", "--problem", toml.to_str().unwrap(), "--fixture"],
        &["vowels-short", "JapaneseVowels_TRAIN.ts", "steps"],
    );
}

#[test]
fn unknown_data_sets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("typo.toml");
    std::fs::write(
        &toml,
        include_str!("../problems/fashion-rnn32.toml")
            .replace("dataset = \"fashion-mnist\"", "dataset = \"fashoin-mnist\""),
    )
    .unwrap();
    let t = toml.to_str().unwrap();
    for args in [
        vec!["eval", "--problem", t],
        vec!["fetch", "--problem", t],
        vec!["train", "--problem", t],
    ] {
        fails_with(
            &args,
            &[
                "fashion-rnn32",
                t,
                "unknown data set 'fashoin-mnist'",
                "japanese-vowels",
            ],
        );
    }
    fails_with(
        &["fetch", "--dataset", "cifar"],
        &["unknown data set 'cifar'", "fashion-mnist"],
    );
}

#[test]
fn dataset_options_are_checked() {
    // An image preset without image_side, a sequence preset with one, too few classes.
    let base = include_str!("../problems/vowels-rnn32.toml");
    for (text, says) in [
        (
            include_str!("../problems/fashion-rnn32.toml").replace("image_side = 28\n", ""),
            "image_side is required",
        ),
        (
            base.replace("steps = 29", "image_side = 28"),
            "image_side is for image data sets",
        ),
        (base.replace("classes = 9", "classes = 8"), "classes 8"),
        (
            base.replace("validation = 54", "validation = 270"),
            "validation 270",
        ),
    ] {
        let e = Problem::from_toml("x", &text).unwrap_err().to_string();
        one_line_naming(
            &e,
            &["vowels-rnn32", says].map(|s| {
                if s == "vowels-rnn32" && text.contains("fashion") {
                    "fashion-rnn32"
                } else {
                    s
                }
            }),
        );
    }
}
