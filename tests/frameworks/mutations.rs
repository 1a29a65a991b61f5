//! Mutated weight files: corrupt bytes and truncations of every fixture are refused with a
//! one-line error (or, if the mutation left a well-formed file, read as valid weights),
//! never a panic or an unbounded allocation. 1,024 proptest cases plus every truncation of
//! every fixture; about a second in release.

use cellwise::model::{
    Weights, WeightsError, weights_from_npz_bytes, weights_from_safetensors_bytes,
};
use proptest::prelude::*;

use super::common::{STEMS, gated_dir};

/// Every fixture file: (bytes, true for .npz).
fn files() -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    for stem in STEMS.iter().chain(&["keras-gru-reset-before"]) {
        for (ext, npz) in [("npz", true), ("safetensors", false)] {
            if let Ok(bytes) = std::fs::read(gated_dir().join(format!("{stem}.{ext}"))) {
                out.push((bytes, npz));
            }
        }
    }
    out
}

fn parse(bytes: &[u8], npz: bool) -> Result<Weights, WeightsError> {
    if npz {
        weights_from_npz_bytes(bytes)
    } else {
        weights_from_safetensors_bytes(bytes)
    }
}

/// Valid weights or a one-line error.
fn check(bytes: &[u8], npz: bool) -> Result<(), String> {
    match parse(bytes, npz) {
        Ok(w) => w.validate(None).map_err(|e| e.to_string()),
        Err(e) => {
            let e = e.to_string();
            if e.lines().count() == 1 && e.len() < 1000 {
                Ok(())
            } else {
                Err(format!("not one short line: {e}"))
            }
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for (bytes, npz) in files() {
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len], npz).is_err(), "prefix of {len} bytes");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn mutated_bytes_never_panic(
        file in 0usize..11,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let files = files();
        let (mut bytes, npz) = files[file % files.len()].clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assert_eq!(check(&bytes, npz), Ok(()));
    }
}
