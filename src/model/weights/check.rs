//! What weights are: their dimensions, the checks of their shapes and values (and of their
//! fit to a problem), and a fingerprint for outputs.

use sha2::{Digest, Sha256};

use super::{WeightsError, a_cell};
use crate::model::Weights;
use crate::problem::Problem;
use crate::recurrence::CellKind;

impl Weights {
    /// Input width.
    pub fn input_width(&self) -> usize {
        self.kernel.nrows()
    }

    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.recurrent_kernel.nrows()
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.dense_kernel.ncols()
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.arrays_ref().iter().map(|a| a.len()).sum()
    }

    /// Refuses weights of another cell or shape than `problem`'s, one line naming what
    /// differs (e.g. "the weights are a gru, problem mnist-lstm32 needs an lstm").
    pub fn check_against(&self, problem: &Problem) -> Result<(), WeightsError> {
        let p = &problem.name;
        let cell = problem.cell();
        let mismatch = if self.cell != cell {
            format!(
                "the weights are {}, problem {p} needs {}",
                a_cell(self.cell),
                a_cell(cell)
            )
        } else if self.input_width() != problem.input_width() {
            format!(
                "the weights take {} inputs per step, problem {p} has {}",
                self.input_width(),
                problem.input_width()
            )
        } else if self.hidden() != problem.model.hidden {
            format!(
                "the weights have {} hidden units, problem {p} needs {}",
                self.hidden(),
                problem.model.hidden
            )
        } else if self.classes() != problem.model.classes {
            format!(
                "the weights have {} classes, problem {p} needs {}",
                self.classes(),
                problem.model.classes
            )
        } else {
            return Ok(());
        };
        Err(WeightsError::Mismatch(mismatch))
    }

    /// Checks shapes against each other (and, if given, against a problem's input width,
    /// hidden size and classes) and that every value is finite.
    pub fn validate(&self, expect: Option<(usize, usize, usize)>) -> Result<(), WeightsError> {
        let g = self.cell.cell().gate_count();
        let (i, h, c) = (
            self.kernel.nrows(),
            self.recurrent_kernel.nrows(),
            self.dense_kernel.ncols(),
        );
        let mut shapes = vec![
            ("kernel", self.kernel.shape().to_vec(), vec![i, g * h]),
            (
                "recurrent_kernel",
                self.recurrent_kernel.shape().to_vec(),
                vec![h, g * h],
            ),
            ("bias", self.bias.shape().to_vec(), vec![g * h]),
            (
                "dense_kernel",
                self.dense_kernel.shape().to_vec(),
                vec![h, c],
            ),
            ("dense_bias", self.dense_bias.shape().to_vec(), vec![c]),
        ];
        match (&self.recurrent_bias, self.cell.cell().recurrent_bias) {
            (Some(b), true) => shapes.push(("recurrent_bias", b.shape().to_vec(), vec![g * h])),
            (None, false) => {}
            (Some(_), false) => {
                return Err(WeightsError::Invalid(format!(
                    "a {} has no recurrent bias",
                    self.cell
                )));
            }
            (None, true) => {
                return Err(WeightsError::Invalid(format!(
                    "a {} needs a recurrent bias",
                    self.cell
                )));
            }
        }
        for (name, found, want) in shapes {
            if found != want {
                return Err(WeightsError::Invalid(format!(
                    "{name} has shape {found:?}, expected {want:?} (a {} of {h} units on {i} inputs)",
                    self.cell
                )));
            }
        }
        if let Some((ei, eh, ec)) = expect
            && (ei, eh, ec) != (i, h, c)
        {
            return Err(WeightsError::Invalid(format!(
                "input width x hidden x classes is {i}x{h}x{c}, the problem needs {ei}x{eh}x{ec}"
            )));
        }
        for (name, values) in self.arrays() {
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(WeightsError::Invalid(format!(
                    "{name} holds a non-finite value ({}) at flat index {pos}",
                    values[pos]
                )));
            }
        }
        Ok(())
    }

    /// The arrays as flat slices with their names, in canonical order.
    fn arrays(&self) -> Vec<(&'static str, Vec<f32>)> {
        let mut out = vec![
            ("kernel", self.kernel.iter().copied().collect()),
            (
                "recurrent_kernel",
                self.recurrent_kernel.iter().copied().collect(),
            ),
            ("bias", self.bias.to_vec()),
        ];
        if let Some(b) = &self.recurrent_bias {
            out.push(("recurrent_bias", b.to_vec()));
        }
        out.push(("dense_kernel", self.dense_kernel.iter().copied().collect()));
        out.push(("dense_bias", self.dense_bias.to_vec()));
        out
    }

    /// The shapes of [`Weights::arrays`], in the same order.
    fn shapes(&self) -> Vec<Vec<usize>> {
        let mut out = vec![
            self.kernel.shape().to_vec(),
            self.recurrent_kernel.shape().to_vec(),
            self.bias.shape().to_vec(),
        ];
        if let Some(b) = &self.recurrent_bias {
            out.push(b.shape().to_vec());
        }
        out.push(self.dense_kernel.shape().to_vec());
        out.push(self.dense_bias.shape().to_vec());
        out
    }

    /// First 16 hex digits of the SHA-256 of the shapes and little-endian values (a gated
    /// cell's name first; a SimpleRNN's fingerprint is what earlier versions computed).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        if self.cell != CellKind::SimpleRnn {
            h.update(self.cell.name().as_bytes());
        }
        let shapes = self.shapes();
        for (shape, (_, values)) in shapes.iter().zip(self.arrays()) {
            for d in shape.iter() {
                h.update((*d as u64).to_le_bytes());
            }
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        crate::data::hex(&h.finalize()[..8])
    }
}
