//! The float forward pass with the exact activation (the reference the oracle is checked
//! against, and the trainer's forward pass).

use ndarray::{Array2, ArrayView3, Axis, s};

use super::RnnWeights;

/// Hidden states of a batch: `states[t]` is h_{t+1}, shaped [batch, hidden].
pub struct Trace {
    pub states: Vec<Array2<f32>>,
    pub logits: Array2<f32>,
}

/// Runs the RNN with exact tanh over `images` [batch, steps, width], keeping every hidden
/// state (needed for backpropagation through time).
pub fn forward_trace(w: &RnnWeights, images: ArrayView3<f32>) -> Trace {
    let (n, steps, _) = images.dim();
    let mut h = Array2::<f32>::zeros((n, w.hidden()));
    let mut states = Vec::with_capacity(steps);
    for t in 0..steps {
        let mut z = images.slice(s![.., t, ..]).dot(&w.wx);
        z += &h.dot(&w.wh);
        z += &w.b;
        z.mapv_inplace(f32::tanh);
        h = z;
        states.push(h.clone());
    }
    let logits = h.dot(&w.wd) + &w.bd;
    Trace { states, logits }
}

/// Logits of the exact-tanh model.
pub fn logits(w: &RnnWeights, images: ArrayView3<f32>) -> Array2<f32> {
    forward_trace(w, images).logits
}

/// Index of the largest logit of each row (non-finite logits never win; a row without a
/// finite logit predicts `usize::MAX`, which matches no label).
pub fn argmax_rows(logits: &Array2<f32>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = (usize::MAX, f32::NEG_INFINITY);
            for (i, &v) in row.iter().enumerate() {
                if v.is_finite() && (best.0 == usize::MAX || v > best.1) {
                    best = (i, v);
                }
            }
            best.0
        })
        .collect()
}

/// Mean softmax cross-entropy and accuracy of logits against labels.
pub fn loss_and_accuracy(logits: &Array2<f32>, labels: &[u8]) -> (f64, f64) {
    let mut loss = 0.0f64;
    for (row, &y) in logits.axis_iter(Axis(0)).zip(labels) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        loss += max + sum.ln() - row[y as usize] as f64;
    }
    let correct = argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p == **y as usize)
        .count();
    let n = labels.len().max(1) as f64;
    (loss / n, correct as f64 / n)
}
