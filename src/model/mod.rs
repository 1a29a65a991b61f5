//! The model: a Keras-style SimpleRNN(H, tanh) followed by Dense(C).
//!
//! h_0 = 0, h_t = act_t(x_t Wx + h_{t-1} Wh + b), logits = h_T Wd + bd.

use ndarray::{Array1, Array2};

/// Weights in Keras layout (row vectors multiply from the left).
#[derive(Clone, Debug, PartialEq)]
pub struct RnnWeights {
    /// Input kernel, [input width, hidden].
    pub wx: Array2<f32>,
    /// Recurrent kernel, [hidden, hidden].
    pub wh: Array2<f32>,
    /// Recurrent bias, [hidden].
    pub b: Array1<f32>,
    /// Dense kernel, [hidden, classes].
    pub wd: Array2<f32>,
    /// Dense bias, [classes].
    pub bd: Array1<f32>,
}
