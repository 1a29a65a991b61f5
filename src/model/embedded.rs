//! The trained default models, compiled into the binary so that every command works without
//! `--weights` and without training: one per shipped problem that has one, keyed by problem
//! name (the `-safe` and `-paper` variants share their base problem's model).

use super::Weights;
use super::weights::weights_from_safetensors_bytes;
use crate::problem::Problem;

/// A model as `cellwise train` wrote it: weights and training record.
struct Model {
    /// `STEM.safetensors`.
    weights: &'static [u8],
    /// `STEM.json`: seed, epochs, accuracies, time, command, fingerprint.
    record: &'static str,
}

/// Includes `models/STEM.safetensors` and `models/STEM.json`.
macro_rules! model {
    ($stem:literal) => {
        Model {
            weights: include_bytes!(concat!("../../models/", $stem, ".safetensors")),
            record: include_str!(concat!("../../models/", $stem, ".json")),
        }
    };
}

const RNN32: Model = model!("mnist-rnn32");
const GRU32: Model = model!("mnist-gru32");
const LSTM32: Model = model!("mnist-lstm32");
const GRU64: Model = model!("mnist-gru64");
const SMALL: Model = model!("mnist-6x6");
const GROUND: Model = model!("mnist-11x11");
const FASHION_RNN32: Model = model!("fashion-rnn32");
const VOWELS_RNN32: Model = model!("vowels-rnn32");
const VOWELS_GRU32: Model = model!("vowels-gru32");
const RNN64: Model = model!("mnist-rnn64");
const RNN128: Model = model!("mnist-rnn128");
const FASHION_GRU32: Model = model!("fashion-gru32");

/// The default model of each shipped problem that has one.
const DEFAULTS: &[(&str, &Model)] = &[
    ("mnist-rnn32", &RNN32),
    ("mnist-rnn32-paper", &RNN32),
    ("mnist-rnn32-safe", &RNN32),
    ("mnist-gru32", &GRU32),
    ("mnist-gru32-safe", &GRU32),
    ("mnist-lstm32", &LSTM32),
    ("mnist-lstm32-safe", &LSTM32),
    ("mnist-gru64", &GRU64),
    ("mnist-6x6", &SMALL),
    ("mnist-11x11", &GROUND),
    ("fashion-rnn32", &FASHION_RNN32),
    ("vowels-rnn32", &VOWELS_RNN32),
    ("vowels-gru32", &VOWELS_GRU32),
    ("mnist-rnn64", &RNN64),
    ("mnist-rnn64-safe", &RNN64),
    ("mnist-rnn128", &RNN128),
    ("fashion-gru32", &FASHION_GRU32),
    ("fashion-gru32-safe", &FASHION_GRU32),
];

/// The default model's training record (problem `mnist-rnn32`), JSON.
pub const EMBEDDED_RECORD: &str = RNN32.record;

impl Model {
    fn weights(&self) -> Weights {
        // Every embedded file is parsed and checked against its record by a test.
        weights_from_safetensors_bytes(self.weights).expect("embedded weights are valid")
    }
}

impl Weights {
    /// The embedded default model of the `mnist-rnn32` problem.
    pub fn embedded_default() -> Weights {
        RNN32.weights()
    }

    /// The embedded default model of `problem`: the one shipped for its name, else (a preset
    /// of the user's, e.g. other fits for a shipped network) the first embedded model of the
    /// same data set, cell, input width, hidden size and classes; `None` if there is none
    /// (then train one and pass its weights).
    pub fn embedded_for(problem: &Problem) -> Option<Weights> {
        if let Some((_, model)) = DEFAULTS.iter().find(|(name, _)| *name == problem.name) {
            return Some(model.weights());
        }
        let shape = (
            problem.input_width(),
            problem.model.hidden,
            problem.model.classes,
        );
        let dataset = problem.dataset();
        DEFAULTS
            .iter()
            .filter(|(name, _)| Problem::load(name).is_ok_and(|p| p.dataset() == dataset))
            .map(|(_, model)| model.weights())
            .find(|w| w.cell == problem.cell() && w.validate(Some(shape)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let w = Weights::embedded_default();
        w.validate(Some((28, 32, 10))).unwrap();
        assert_eq!(w.parameter_count(), 28 * 32 + 32 * 32 + 32 + 32 * 10 + 10);
        let default = Problem::load(crate::problem::DEFAULT_PROBLEM).unwrap();
        assert_eq!(Weights::embedded_for(&default), Some(w));
    }

    /// Every default fits its problem (cell and shape), matches its record's fingerprint and
    /// was trained for its problem or the base problem it shares.
    #[test]
    fn every_default_fits_its_problem_and_record() {
        for (name, model) in DEFAULTS {
            let problem = Problem::load(name).unwrap();
            let w = Weights::embedded_for(&problem).unwrap();
            assert_eq!(w.cell, problem.cell(), "{name}");
            w.validate(Some((
                problem.input_width(),
                problem.model.hidden,
                problem.model.classes,
            )))
            .unwrap();
            let record: serde_json::Value = serde_json::from_str(model.record).unwrap();
            assert_eq!(
                record["fingerprint"].as_str(),
                Some(w.fingerprint().as_str())
            );
            let trained_for = record["problem"].as_str().unwrap();
            assert!(
                name.starts_with(trained_for),
                "{name} uses {trained_for}'s model"
            );
        }
    }

    /// A preset of the user's gets the embedded model of its network, by cell and shape.
    #[test]
    fn other_presets_of_a_shipped_network_share_its_model() {
        for (base, hidden, found) in [("mnist-lstm32", 32, true), ("mnist-gru32", 16, false)] {
            let mut p = Problem::load(base).unwrap();
            p.name = "my-fits".into();
            p.model.hidden = hidden;
            let w = Weights::embedded_for(&p);
            assert_eq!(w.is_some(), found, "{base} with {hidden} units");
            if let Some(w) = w {
                assert_eq!(
                    Some(w),
                    Weights::embedded_for(&Problem::load(base).unwrap())
                );
            }
        }
    }
}
