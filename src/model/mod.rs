//! The model: a Keras-style recurrent cell (SimpleRNN, GRU or LSTM, see
//! [`crate::recurrence`]) of H units followed by Dense(C).
//!
//! The state starts at zero, each step runs the cell's step program on x_t, and
//! logits = h_T Wd + bd.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::recurrence::CellKind;

mod embedded;
pub mod forward;
mod gradient;
pub mod init;
pub mod inputs;
mod tanhf;
pub mod train;
mod weights;

pub use embedded::EMBEDDED_RECORD;
pub use gradient::loss_and_gradient;
pub use weights::{
    ARRAY_NAMES, WeightsError, load_weights, save_weights, to_safetensors, weights_from_npz_bytes,
    weights_from_safetensors_bytes,
};

/// Weights of a recurrent cell and its Dense head, in Keras layout (row vectors multiply
/// from the left; gate blocks side by side in the cell's gate order, see
/// [`crate::recurrence::Cell::gates`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The recurrent cell these weights belong to.
    #[serde(default = "simple_rnn")]
    pub cell: CellKind,
    /// Input kernel, [input width, G * hidden].
    pub kernel: Array2<f32>,
    /// Recurrent kernel, [hidden, G * hidden].
    pub recurrent_kernel: Array2<f32>,
    /// Input bias, [G * hidden].
    pub bias: Array1<f32>,
    /// Recurrent bias, [G * hidden] (GRU with reset_after only).
    #[serde(default)]
    pub recurrent_bias: Option<Array1<f32>>,
    /// Dense kernel, [hidden, classes].
    pub dense_kernel: Array2<f32>,
    /// Dense bias, [classes].
    pub dense_bias: Array1<f32>,
}

fn simple_rnn() -> CellKind {
    CellKind::SimpleRnn
}

impl Weights {
    /// The same shapes with `f` applied to every value.
    pub fn mapv(&self, f: impl Fn(f32) -> f32) -> Self {
        Self {
            cell: self.cell,
            kernel: self.kernel.mapv(&f),
            recurrent_kernel: self.recurrent_kernel.mapv(&f),
            bias: self.bias.mapv(&f),
            recurrent_bias: self.recurrent_bias.as_ref().map(|b| b.mapv(&f)),
            dense_kernel: self.dense_kernel.mapv(&f),
            dense_bias: self.dense_bias.mapv(&f),
        }
    }

    /// Mutable flat views of the arrays, in canonical order (the recurrent bias, if any,
    /// after the input bias).
    fn arrays_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out = vec![
            self.kernel.as_slice_mut(),
            self.recurrent_kernel.as_slice_mut(),
            self.bias.as_slice_mut(),
        ];
        if let Some(b) = self.recurrent_bias.as_mut() {
            out.push(b.as_slice_mut());
        }
        out.push(self.dense_kernel.as_slice_mut());
        out.push(self.dense_bias.as_slice_mut());
        out.into_iter()
            .map(|s| s.expect("weights are standard-layout arrays")) // invariant: built in C order
            .collect()
    }

    /// Flat views of the arrays, in canonical order.
    fn arrays_ref(&self) -> Vec<&[f32]> {
        let mut out = vec![
            self.kernel.as_slice(),
            self.recurrent_kernel.as_slice(),
            self.bias.as_slice(),
        ];
        if let Some(b) = self.recurrent_bias.as_ref() {
            out.push(b.as_slice());
        }
        out.push(self.dense_kernel.as_slice());
        out.push(self.dense_bias.as_slice());
        out.into_iter()
            .map(|s| s.expect("weights are standard-layout arrays")) // invariant: built in C order
            .collect()
    }
}
