//! The model: a Keras-style SimpleRNN(H, tanh) followed by Dense(C).
//!
//! h_0 = 0, h_t = act_t(x_t Wx + h_{t-1} Wh + b), logits = h_T Wd + bd.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

mod embedded;
pub mod forward;
mod gradient;
pub mod init;
pub mod train;
mod weights;

pub use embedded::EMBEDDED_RECORD;
pub use gradient::loss_and_gradient;
pub use weights::{
    ARRAY_NAMES, WeightsError, load_weights, save_weights, to_safetensors,
    weights_from_safetensors_bytes,
};

/// Weights in Keras layout (row vectors multiply from the left).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

impl RnnWeights {
    /// The same shapes with `f` applied to every value.
    pub fn mapv(&self, f: impl Fn(f32) -> f32) -> Self {
        Self {
            wx: self.wx.mapv(&f),
            wh: self.wh.mapv(&f),
            b: self.b.mapv(&f),
            wd: self.wd.mapv(&f),
            bd: self.bd.mapv(&f),
        }
    }

    /// Mutable flat views of the five arrays, in canonical order.
    fn arrays_mut(&mut self) -> [&mut [f32]; 5] {
        [
            self.wx.as_slice_mut(),
            self.wh.as_slice_mut(),
            self.b.as_slice_mut(),
            self.wd.as_slice_mut(),
            self.bd.as_slice_mut(),
        ]
        .map(|s| s.expect("weights are standard-layout arrays")) // invariant: built in C order
    }

    /// Flat views of the five arrays, in canonical order.
    fn arrays_ref(&self) -> [&[f32]; 5] {
        [
            self.wx.as_slice(),
            self.wh.as_slice(),
            self.b.as_slice(),
            self.wd.as_slice(),
            self.bd.as_slice(),
        ]
        .map(|s| s.expect("weights are standard-layout arrays")) // invariant: built in C order
    }
}
