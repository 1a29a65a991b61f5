//! Problem presets (`problems/*.toml`): the data, model shape, training recipe and
//! candidate approximations of one experiment.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The default problem: MNIST row by row, SimpleRNN(32) + Dense(10), trained at lr 1e-3.
pub const DEFAULT_PROBLEM: &str = "mnist-rnn32";

/// Presets shipped in `problems/`, embedded so that the binary works from any directory.
const EMBEDDED: &[(&str, &str)] = &[
    ("mnist-rnn32", include_str!("../problems/mnist-rnn32.toml")),
    (
        "mnist-rnn32-paper",
        include_str!("../problems/mnist-rnn32-paper.toml"),
    ),
    (
        "mnist-rnn32-safe",
        include_str!("../problems/mnist-rnn32-safe.toml"),
    ),
    ("mnist-6x6", include_str!("../problems/mnist-6x6.toml")),
];

/// Errors raised while loading or validating a problem preset.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    #[error("unknown problem preset '{0}' (known: {1}; or give a path to a .toml file)")]
    Unknown(String, String),
    #[error("reading problem file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing problem {name}: {message}")]
    Parse { name: String, message: String },
    #[error("problem {name}: {message}")]
    Invalid { name: String, message: String },
}

/// One experiment: what data, what network, how it is trained, which polynomials may replace
/// its activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// Short name, used in file names and run directories.
    pub name: String,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
    pub data: DataSpec,
    pub model: ModelSpec,
    pub training: TrainingSpec,
    pub approximation: ApproximationSpec,
}

/// How images become sequences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Only "mnist" for now.
    pub dataset: String,
    /// Side of the (square) image after optional average pooling: 28 keeps MNIST as is;
    /// a smaller value crops the border so that the side divides evenly and average-pools
    /// (e.g. 6: crop to 24x24, pool 4x4). Each row is one time step.
    pub image_side: usize,
    /// Number of training images held out, from the end of the training file, as the
    /// validation split.
    pub validation: usize,
}

/// Network shape: SimpleRNN(hidden) on `steps` inputs of `input_width`, then Dense(classes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub hidden: usize,
    pub classes: usize,
    /// Only "tanh" for now.
    pub activation: String,
}

/// Keras-style training recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Early stopping on validation loss; best weights are restored.
    pub early_stopping_patience: usize,
    /// ReduceLROnPlateau on validation loss.
    pub reduce_lr_factor: f64,
    pub reduce_lr_patience: usize,
    pub min_learning_rate: f64,
    pub seed: u64,
}

/// The candidate polynomials of every cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproximationSpec {
    /// "tanh" or "sigmoid".
    pub function: String,
    /// Candidate degrees, e.g. [3, 7, 17].
    pub degrees: Vec<usize>,
    /// Fit interval [lo, hi].
    pub interval: [f64; 2],
    /// "least-squares" (uniform grid, as the paper), "chebyshev" (interpolation) or
    /// "weighted" (least squares under the measured pre-activation histogram).
    pub method: String,
}

impl Problem {
    /// Loads a preset by name (embedded) or from a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Self, ProblemError> {
        if let Some((name, text)) = EMBEDDED.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(name, text);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| ProblemError::Io {
                path: path.display().to_string(),
                source,
            })?;
            return Self::from_toml(&path.display().to_string(), &text);
        }
        let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        Err(ProblemError::Unknown(
            name_or_path.to_string(),
            known.join(", "),
        ))
    }

    /// Parses and validates a preset from TOML text; `name` is only used in messages.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, ProblemError> {
        let problem: Problem = toml::from_str(text).map_err(|e| ProblemError::Parse {
            name: name.to_string(),
            message: e.message().to_string(),
        })?;
        problem.validate()?;
        Ok(problem)
    }

    /// Number of time steps (cells): one per image row.
    pub fn steps(&self) -> usize {
        self.data.image_side
    }

    /// Width of each time step's input: one image row.
    pub fn input_width(&self) -> usize {
        self.data.image_side
    }

    fn validate(&self) -> Result<(), ProblemError> {
        let bad = |message: String| {
            Err(ProblemError::Invalid {
                name: self.name.clone(),
                message,
            })
        };
        if self.data.dataset != "mnist" {
            return bad(format!(
                "unknown dataset '{}' (known: mnist)",
                self.data.dataset
            ));
        }
        if self.data.image_side == 0 || self.data.image_side > 28 {
            return bad(format!(
                "image_side {} must be in 1..=28",
                self.data.image_side
            ));
        }
        if self.data.validation == 0 || self.data.validation >= 60_000 {
            return bad(format!(
                "validation {} must be in 1..60000",
                self.data.validation
            ));
        }
        if self.model.hidden == 0 || self.model.classes < 2 {
            return bad("hidden must be >= 1 and classes >= 2".into());
        }
        if self.model.activation != "tanh" {
            return bad(format!(
                "unknown activation '{}' (known: tanh)",
                self.model.activation
            ));
        }
        let t = &self.training;
        if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
            return bad(format!(
                "learning_rate {} must be positive",
                t.learning_rate
            ));
        }
        if !(t.min_learning_rate > 0.0 && t.min_learning_rate <= t.learning_rate) {
            return bad("min_learning_rate must be positive and <= learning_rate".into());
        }
        if !(t.reduce_lr_factor > 0.0 && t.reduce_lr_factor < 1.0) {
            return bad(format!(
                "reduce_lr_factor {} must be in (0, 1)",
                t.reduce_lr_factor
            ));
        }
        if t.batch_size == 0 || t.max_epochs == 0 {
            return bad("batch_size and max_epochs must be >= 1".into());
        }
        let a = &self.approximation;
        if !matches!(a.function.as_str(), "tanh" | "sigmoid") {
            return bad(format!(
                "unknown function '{}' (known: tanh, sigmoid)",
                a.function
            ));
        }
        if a.degrees.is_empty() || a.degrees.contains(&0) {
            return bad("degrees must be a non-empty list of positive degrees".into());
        }
        let [lo, hi] = a.interval;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(format!("interval [{lo}, {hi}] must be finite with lo < hi"));
        }
        if !matches!(
            a.method.as_str(),
            "least-squares" | "chebyshev" | "weighted"
        ) {
            return bad(format!(
                "unknown method '{}' (known: least-squares, chebyshev, weighted)",
                a.method
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_presets_load() {
        let p = Problem::load(DEFAULT_PROBLEM).unwrap();
        assert_eq!((p.steps(), p.input_width(), p.model.hidden), (28, 28, 32));
        let paper = Problem::load("mnist-rnn32-paper").unwrap();
        assert_eq!(paper.training.learning_rate, 1e-2);
        let safe = Problem::load("mnist-rnn32-safe").unwrap();
        assert_eq!(safe.approximation.method, "weighted");
    }

    #[test]
    fn bad_presets_are_refused() {
        assert!(matches!(
            Problem::load("nope"),
            Err(ProblemError::Unknown(..))
        ));
        let text = include_str!("../problems/mnist-rnn32.toml");
        let broken = text.replace("interval = [-8.0, 8.0]", "interval = [8.0, -8.0]");
        let err = Problem::from_toml("x", &broken).unwrap_err().to_string();
        assert!(err.contains("interval"), "{err}");
        let typo = text.replace("hidden =", "hiden =");
        assert!(matches!(
            Problem::from_toml("x", &typo),
            Err(ProblemError::Parse { .. })
        ));
    }
}
