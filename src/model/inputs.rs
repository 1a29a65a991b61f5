//! What each activation position of the exact model sees on real images: the distribution
//! of its arguments and how much the loss depends on its result.
//!
//! For every (slot, step) position, one pass of the exact float model (forward, then
//! backpropagation through time) gives
//! - the histogram of the pre-activations entering the slot at that step, and
//! - the sensitivity G = mean over images of sum over units of (dL_i / dy)^2, y being the
//!   slot's result at that step and L_i the image's cross-entropy.
//!
//! Lee et al.'s layerwise approximation models the loss's change under an approximation
//! error e at a position as having variance G * E[e^2], the expectation taken over the
//! position's real inputs; [`crate::search::dp_levels`] builds its proxy from these two.

use ndarray::{ArrayView3, Axis, s};
use serde::Serialize;

use super::Weights;
use super::gradient::observed_loss_and_gradient;

/// Images per forward and backward pass (bounds the memory of the kept trace).
const BATCH: usize = 256;

/// One (slot, step) position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PositionInputs {
    /// Pre-activations per bin of the slot's range (values beyond it in the end bins).
    pub counts: Vec<f64>,
    /// Mean over images of the squared norm of the loss's gradient with respect to the
    /// slot's result at this step.
    pub sensitivity: f64,
}

/// Every position's inputs and sensitivity on a set of images.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputProfile {
    /// Images measured.
    pub images: usize,
    /// The histogram range of each slot.
    pub ranges: Vec<[f64; 2]>,
    /// Bins per histogram.
    pub bins: usize,
    /// One entry per (slot, step) position, step-major as schedules store them.
    pub positions: Vec<PositionInputs>,
}

impl InputProfile {
    /// Measures the exact model `w` on `images` (with their `labels`): histograms of `bins`
    /// equal bins over `ranges[slot]`, sensitivities by backpropagation through time.
    /// Batches run in order, so the result does not depend on the number of threads.
    pub fn measure(
        w: &Weights,
        images: ArrayView3<f32>,
        labels: &[u8],
        ranges: &[[f64; 2]],
        bins: usize,
    ) -> Self {
        let slots = ranges.len();
        let (n, steps, _) = images.dim();
        let bins = bins.max(1);
        let mut positions = vec![
            PositionInputs {
                counts: vec![0.0; bins],
                sensitivity: 0.0,
            };
            steps * slots
        ];
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let x = images.slice(s![start..end, .., ..]);
            let batch = (end - start) as f64;
            let mut counts: Vec<Vec<f64>> = vec![vec![0.0; bins]; steps * slots];
            let mut sums = vec![0.0; steps * slots];
            observed_loss_and_gradient(
                w,
                x,
                &labels[start..end],
                |slot, t, z| {
                    let [lo, hi] = ranges[slot];
                    let c = &mut counts[t * slots + slot];
                    for &v in z.iter() {
                        let b = ((v as f64 - lo) / (hi - lo) * bins as f64).floor();
                        // NaN (never from the exact model) lands in bin 0 with the low tail.
                        let b = if b >= bins as f64 {
                            bins - 1
                        } else if b > 0.0 {
                            b as usize
                        } else {
                            0
                        };
                        c[b] += 1.0;
                    }
                },
                |slot, t, d| {
                    // Row i holds image i's gradient divided by the batch size.
                    sums[t * slots + slot] += d
                        .axis_iter(Axis(0))
                        .map(|row| row.iter().map(|&g| (g as f64 * batch).powi(2)).sum::<f64>())
                        .sum::<f64>();
                },
            );
            for ((p, c), s) in positions.iter_mut().zip(counts).zip(sums) {
                p.counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
                p.sensitivity += s;
            }
        }
        for p in &mut positions {
            p.sensitivity /= n.max(1) as f64;
        }
        Self {
            images: n,
            ranges: ranges.to_vec(),
            bins,
            positions,
        }
    }

    /// The centre of each bin of `slot`'s histogram.
    pub fn centres(&self, slot: usize) -> Vec<f64> {
        let [lo, hi] = self.ranges[slot];
        let width = (hi - lo) / self.bins as f64;
        (0..self.bins)
            .map(|b| lo + (b as f64 + 0.5) * width)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::forward::{Params, exact, forward_with};
    use crate::model::init::keras_init_cell;
    use crate::recurrence::CellKind;
    use ndarray::Array3;
    use rand::rngs::ChaCha20Rng;
    use rand::{RngExt, SeedableRng};

    /// Sensitivities agree with finite differences: adding a small h to one unit of one
    /// slot's result at one step changes image i's loss by about h * dL_i/dy.
    #[test]
    fn sensitivities_match_finite_differences_and_histograms_count_every_input() {
        for cell in CellKind::ALL {
            let mut rng = ChaCha20Rng::seed_from_u64(3);
            let w = keras_init_cell(cell, 5, 4, 3, &mut rng);
            let x = Array3::from_shape_fn((3, 4, 5), |_| rng.random_range(0.0f32..1.0));
            let y = [0u8, 2, 1];
            let slots = cell.cell().slots.len();
            let ranges = vec![[-4.0, 4.0]; slots];
            let profile = InputProfile::measure(&w, x.view(), &y, &ranges, 16);
            assert_eq!(profile.positions.len(), 4 * slots);
            for p in &profile.positions {
                // Every unit of every image enters once per (slot, step).
                assert_eq!(p.counts.iter().sum::<f64>(), (3 * 4) as f64, "{cell}");
            }
            // Finite differences of each image's loss, perturbing all units of (slot, step).
            let p = Params::<f64>::of(&w);
            let x64 = x.mapv(f64::from);
            let loss_of = |target: (usize, usize), unit: usize, h: f64| -> Vec<f64> {
                let trace = forward_with(&w, &p, x64.view(), |slot, t, z| {
                    exact(cell.cell().slots[slot].function, z);
                    if (slot, t) == target {
                        z.column_mut(unit).mapv_inplace(|v| v + h);
                    }
                });
                trace
                    .logits
                    .axis_iter(Axis(0))
                    .zip(&y)
                    .map(|(row, &label)| {
                        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                        max + sum.ln() - row[label as usize]
                    })
                    .collect()
            };
            for (slot, t) in [(0, 0), (slots - 1, 3), (0, 2)] {
                let h = 1e-5;
                let mut g2 = 0.0;
                for unit in 0..4 {
                    let (up, down) = (loss_of((slot, t), unit, h), loss_of((slot, t), unit, -h));
                    g2 += up
                        .iter()
                        .zip(&down)
                        .map(|(a, b)| ((a - b) / (2.0 * h)).powi(2))
                        .sum::<f64>();
                }
                let want = g2 / 3.0;
                let got = profile.positions[t * slots + slot].sensitivity;
                assert!(
                    (got - want).abs() <= 1e-3 * want.max(1e-6),
                    "{cell} slot {slot} step {t}: {got} vs {want}"
                );
            }
        }
    }
}
