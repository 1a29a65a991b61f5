//! The default trained model, compiled into the binary so that every command works without
//! `--weights` and without training.

use super::Weights;
use super::weights::weights_from_safetensors_bytes;

/// The default model's weights (problem `mnist-rnn32`), as trained by `cellwise train`.
const EMBEDDED_WEIGHTS: &[u8] = include_bytes!("../../models/mnist-rnn32.safetensors");

/// The default model's training record (seed, epochs, accuracies, time, command), JSON.
pub const EMBEDDED_RECORD: &str = include_str!("../../models/mnist-rnn32.json");

impl Weights {
    /// The embedded default model of the `mnist-rnn32` problem.
    pub fn embedded_default() -> Weights {
        // The committed file is checked by the `embedded_default_is_valid` test.
        weights_from_safetensors_bytes(EMBEDDED_WEIGHTS).expect("embedded weights are valid")
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
        let record: serde_json::Value = serde_json::from_str(EMBEDDED_RECORD).unwrap();
        assert_eq!(
            record["fingerprint"].as_str(),
            Some(w.fingerprint().as_str())
        );
    }
}
