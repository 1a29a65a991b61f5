//! Keras-style training: Adam (epsilon 1e-7), shuffled mini-batches, early stopping on
//! validation loss with best weights restored, reduce-LR-on-plateau, a checkpoint per epoch.
//!
//! Deterministic: the initial weights come from the seed, epoch e shuffles with a generator
//! seeded from (seed, e), and the arithmetic runs on one thread in a fixed order, so the same
//! seed gives the same weights bit for bit, and a resumed run equals an uninterrupted one.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use ndarray::Array3;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::Weights;
use super::forward::{logits, loss_and_accuracy};
use super::gradient::loss_and_gradient;
use super::init::keras_init_cell;
use crate::data::{Split, Splits};
use crate::problem::Problem;

/// Keras' Adam defaults.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-7;
/// Keras' ReduceLROnPlateau `min_delta` (relative mode off: absolute improvement).
const PLATEAU_MIN_DELTA: f64 = 1e-4;

/// Errors raised while training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },
    #[error("training diverged at epoch {epoch}: the loss is {loss}")]
    Diverged { epoch: usize, loss: f64 },
}

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub seconds: f64,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

/// Everything needed to continue training exactly where it stopped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    /// Problem name and seed, checked on resume.
    pub problem: String,
    pub seed: u64,
    pub weights: Weights,
    adam_m: Weights,
    adam_v: Weights,
    adam_steps: u64,
    pub learning_rate: f64,
    pub best_val_loss: f64,
    pub best_weights: Weights,
    pub best_epoch: usize,
    early_stop_wait: usize,
    plateau_best: f64,
    plateau_wait: usize,
    pub history: Vec<EpochRecord>,
    /// True once early stopping (or the epoch limit) ended training.
    pub finished: bool,
}

impl TrainState {
    /// A fresh state: Keras-initialised weights of the problem's cell from the seed.
    pub fn new(problem: &Problem, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let w = keras_init_cell(
            problem.cell(),
            problem.input_width(),
            problem.model.hidden,
            problem.model.classes,
            &mut rng,
        );
        let zeros = w.mapv(|_| 0.0);
        Self {
            problem: problem.name.clone(),
            seed,
            adam_m: zeros.clone(),
            adam_v: zeros,
            adam_steps: 0,
            learning_rate: problem.training.learning_rate,
            best_val_loss: f64::INFINITY,
            best_weights: w.clone(),
            best_epoch: 0,
            early_stop_wait: 0,
            plateau_best: f64::INFINITY,
            plateau_wait: 0,
            history: Vec::new(),
            finished: false,
            weights: w,
        }
    }

    /// Reads a checkpoint and checks that it belongs to this problem and seed, and that its
    /// weights (current, best and Adam's moments) are valid weights of the problem's cell and
    /// shape.
    pub fn load(path: &Path, problem: &Problem, seed: u64) -> Result<Self, TrainError> {
        let err = |message: String| TrainError::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let state: Self = serde_json::from_str(&text).map_err(|e| err(format!("corrupt: {e}")))?;
        if state.problem != problem.name || state.seed != seed {
            return Err(err(format!(
                "belongs to problem {} seed {}, not {} seed {seed}",
                state.problem, state.seed, problem.name
            )));
        }
        let shape = (
            problem.input_width(),
            problem.model.hidden,
            problem.model.classes,
        );
        for (what, w) in [
            ("weights", &state.weights),
            ("best weights", &state.best_weights),
            ("Adam's first moments", &state.adam_m),
            ("Adam's second moments", &state.adam_v),
        ] {
            if w.cell != problem.cell() {
                return Err(err(format!(
                    "its {what} belong to cell {}, problem {} has cell {}",
                    w.cell,
                    problem.name,
                    problem.cell()
                )));
            }
            w.validate(Some(shape))
                .map_err(|e| err(format!("{what}: {e}")))?;
        }
        Ok(state)
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let err = |message: String| TrainError::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let text = serde_json::to_vec(self).map_err(|e| err(e.to_string()))?;
        crate::fsutil::write_atomic(path, &text).map_err(|e| err(e.to_string()))
    }
}

/// Trains until early stopping or the epoch limit, checkpointing after every epoch when
/// `checkpoint` is given. Returns the final state (its `best_weights` are the model).
pub fn train(
    problem: &Problem,
    splits: &Splits,
    mut state: TrainState,
    checkpoint: Option<&Path>,
) -> Result<TrainState, TrainError> {
    let cfg = &problem.training;
    while !state.finished {
        let epoch = state.history.len() + 1;
        let start = Instant::now();
        let (train_loss, train_accuracy) = run_epoch(
            &mut state,
            &splits.train,
            cfg.batch_size,
            cfg.clip_norm,
            epoch,
        );
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                loss: train_loss,
            });
        }
        let (val_loss, val_accuracy) = loss_and_accuracy(
            &logits(&state.weights, splits.val.images.view()),
            &splits.val.labels,
        );
        let record = EpochRecord {
            epoch,
            seconds: start.elapsed().as_secs_f64(),
            learning_rate: state.learning_rate,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
        };
        eprintln!(
            "epoch {epoch:3}  {:.2}s  lr {:.0e}  loss {train_loss:.4}  acc {train_accuracy:.4}  val_loss {val_loss:.4}  val_acc {val_accuracy:.4}",
            record.seconds, record.learning_rate
        );
        state.history.push(record);
        end_of_epoch_callbacks(&mut state, problem, val_loss, epoch);
        if let Some(path) = checkpoint {
            state.save(path)?;
        }
    }
    Ok(state)
}

/// EarlyStopping(val_loss, patience, restore best) and ReduceLROnPlateau(val_loss).
fn end_of_epoch_callbacks(state: &mut TrainState, problem: &Problem, val_loss: f64, epoch: usize) {
    let cfg = &problem.training;
    if val_loss < state.best_val_loss {
        state.best_val_loss = val_loss;
        state.best_weights = state.weights.clone();
        state.best_epoch = epoch;
        state.early_stop_wait = 0;
    } else {
        state.early_stop_wait += 1;
    }
    if val_loss < state.plateau_best - PLATEAU_MIN_DELTA {
        state.plateau_best = val_loss;
        state.plateau_wait = 0;
    } else {
        state.plateau_wait += 1;
        if state.plateau_wait >= cfg.reduce_lr_patience
            && state.learning_rate > cfg.min_learning_rate
        {
            state.learning_rate =
                (state.learning_rate * cfg.reduce_lr_factor).max(cfg.min_learning_rate);
            state.plateau_wait = 0;
            eprintln!("  reducing learning rate to {:.0e}", state.learning_rate);
        }
    }
    if state.early_stop_wait >= cfg.early_stopping_patience || epoch >= cfg.max_epochs {
        state.finished = true;
    }
}

/// One pass over the shuffled training split; returns its mean loss and accuracy (measured
/// on the batches as they were trained, as Keras reports them).
fn run_epoch(
    state: &mut TrainState,
    train: &Split,
    batch: usize,
    clip_norm: Option<f64>,
    epoch: usize,
) -> (f64, f64) {
    let n = train.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mix = (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    order.shuffle(&mut ChaCha20Rng::seed_from_u64(state.seed ^ mix));
    let (steps, width) = (train.images.dim().1, train.images.dim().2);
    let bar = progress_bar(n.div_ceil(batch) as u64, epoch);
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    for chunk in order.chunks(batch) {
        let x = Array3::from_shape_fn((chunk.len(), steps, width), |(i, t, c)| {
            train.images[[chunk[i], t, c]]
        });
        let y: Vec<u8> = chunk.iter().map(|&i| train.labels[i]).collect();
        let (loss, right, mut grad) = loss_and_gradient(&state.weights, x.view(), &y);
        if let Some(c) = clip_norm {
            clip_global_norm(&mut grad, c);
        }
        loss_sum += loss * chunk.len() as f64;
        correct += right as f64;
        adam_step(state, &grad);
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.4} acc {:.4}",
            loss_sum / bar.position() as f64 / batch as f64,
            correct / bar.position() as f64 / batch as f64
        ));
    }
    bar.finish_and_clear();
    (loss_sum / n as f64, correct / n as f64)
}

/// The L2 norm of all of `w`'s arrays together, summed in `f64`.
fn global_norm(w: &Weights) -> f64 {
    w.arrays_ref()
        .iter()
        .flat_map(|a| a.iter())
        .map(|&g| f64::from(g) * f64::from(g))
        .sum::<f64>()
        .sqrt()
}

/// Keras' `global_clipnorm`: scales every gradient by `c / norm` when their
/// [`global_norm`] exceeds `c`.
fn clip_global_norm(grad: &mut Weights, c: f64) {
    let norm = global_norm(grad);
    if norm > c {
        let k = (c / norm) as f32;
        for a in grad.arrays_mut() {
            a.iter_mut().for_each(|g| *g *= k);
        }
    }
}

/// One Adam update with Keras' bias correction folded into the step size.
fn adam_step(state: &mut TrainState, grad: &Weights) {
    state.adam_steps += 1;
    let t = state.adam_steps as f64;
    let lr_t = (state.learning_rate * (1.0 - BETA2.powf(t)).sqrt() / (1.0 - BETA1.powf(t))) as f32;
    let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPSILON as f32);
    let params = state.weights.arrays_mut();
    let ms = state.adam_m.arrays_mut();
    let vs = state.adam_v.arrays_mut();
    for (((p, m), v), g) in params.into_iter().zip(ms).zip(vs).zip(grad.arrays_ref()) {
        for (((p, m), v), &g) in p
            .iter_mut()
            .zip(m.iter_mut())
            .zip(v.iter_mut())
            .zip(g.iter())
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr_t * *m / (v.sqrt() + eps);
        }
    }
}

fn progress_bar(len: u64, epoch: usize) -> indicatif::ProgressBar {
    if std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style =
        indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(epoch.to_string());
    bar
}

/// Accuracy of weights on a split under the exact activations.
pub fn float_accuracy(w: &Weights, split: &Split) -> f64 {
    loss_and_accuracy(&logits(w, split.images.view()), &split.labels).1
}

/// Largest |pre-activation| at any activation slot of the exact model over a split (how far
/// the slots leave a fit interval).
pub fn max_abs_preactivation(w: &Weights, split: &Split) -> f32 {
    let cell = w.cell.cell();
    let p = super::forward::Params::of(w);
    let mut max = 0.0f32;
    super::forward::logits_with(w, &p, split.images.view(), |slot, _, z| {
        max = z.iter().fold(max, |m, v| m.max(v.abs()));
        super::forward::exact(cell.slots[slot].function, z);
    });
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;

    #[test]
    fn clipping_scales_a_large_gradient_to_the_norm_and_leaves_a_small_one() {
        let problem = Problem::load("mnist-rnn32").unwrap();
        let g = TrainState::new(&problem, 1).weights;
        let before = global_norm(&g);
        assert!(before > 2.0, "{before}");
        let mut clipped = g.clone();
        clip_global_norm(&mut clipped, 2.0);
        assert!(
            (global_norm(&clipped) - 2.0).abs() < 1e-4,
            "{}",
            global_norm(&clipped)
        );
        // Every entry keeps its direction: one common factor.
        let k = f64::from(clipped.kernel[[0, 0]]) / f64::from(g.kernel[[0, 0]]);
        assert!((k - 2.0 / before).abs() < 1e-6, "{k}");
        let mut untouched = g.clone();
        clip_global_norm(&mut untouched, before * 1.01);
        assert_eq!(untouched, g);
    }
}
