//! The Keras layout: `kernel` [in, G·H], `recurrent_kernel` [H, G·H], `bias` ([G·H], or
//! [2, 3H] for a GRU with reset_after: input bias, recurrent bias), `dense_kernel` [H, C],
//! `dense_bias` [C]; gate blocks in Keras's order. cellwise's earlier names (`wx`, `wh`, `b`,
//! `wd`, `bd`) are the same arrays and are still read.

use super::tensors::{Tensor, Tensors};
use super::{a_cell, cell_of, shape_error};
use crate::model::Weights;
use crate::recurrence::CellKind;

/// Names of the arrays in the Keras layout, in canonical order (what cellwise writes).
pub const KERAS_NAMES: [&str; 5] = [
    "kernel",
    "recurrent_kernel",
    "bias",
    "dense_kernel",
    "dense_bias",
];

/// cellwise's earlier names of the same arrays (its SimpleRNN files), still read.
pub(super) const LEGACY_NAMES: [&str; 5] = ["wx", "wh", "b", "wd", "bd"];

/// Reads weights stored under `names` (the Keras names or the earlier ones); the cell comes
/// from the recurrent kernel's shape and, for a GRU, the [2, 3H] bias.
pub(super) fn read(t: &Tensors, names: [&str; 5]) -> Result<Weights, String> {
    let [nk, nr, nb, ndk, ndb] = names;
    let layout = if names == KERAS_NAMES {
        "the Keras layout"
    } else {
        "cellwise's earlier layout"
    };
    t.expect_names(&names, &format!("{layout}: {}", names.join(", ")))?;
    let recurrent_kernel = t.need(nr)?.matrix(nr)?;
    let (h, gh) = recurrent_kernel.dim();
    let cell = cell_of(nr, recurrent_kernel.shape(), h, gh)?;
    let kernel = t.need(nk)?.matrix(nk)?;
    if kernel.ncols() != gh || kernel.nrows() == 0 {
        return Err(shape_error(
            nk,
            kernel.shape(),
            &format!("[input width, {gh}]"),
            cell,
            h,
        ));
    }
    let b = t.need(nb)?;
    let (bias, recurrent_bias) = match (cell, &b.shape[..]) {
        (CellKind::Gru, &[2, n]) if n == gh => {
            let rows = b.matrix(nb)?;
            (rows.row(0).to_owned(), Some(rows.row(1).to_owned()))
        }
        (CellKind::Gru, &[n]) if n == gh => {
            return Err(format!(
                "a Keras GRU with reset_after=False ({nb} of shape [{gh}]) is not supported; \
                 cellwise reads reset_after=True (bias [2, {gh}], the Keras 2 default) and PyTorch's nn.GRU"
            ));
        }
        (CellKind::Gru, found) => {
            return Err(shape_error(
                nb,
                found,
                &format!("[2, {gh}] (input bias, recurrent bias)"),
                cell,
                h,
            ));
        }
        (_, &[n]) if n == gh => (b.vector(nb)?, None),
        (_, found) => return Err(shape_error(nb, found, &format!("[{gh}]"), cell, h)),
    };
    let dense_kernel = t.need(ndk)?.matrix(ndk)?;
    if dense_kernel.nrows() != h || dense_kernel.ncols() == 0 {
        return Err(shape_error(
            ndk,
            dense_kernel.shape(),
            &format!("[{h}, classes]"),
            cell,
            h,
        ));
    }
    let c = dense_kernel.ncols();
    let dense_bias = t.need(ndb)?.vector(ndb)?;
    if dense_bias.len() != c {
        return Err(format!(
            "{ndb} has shape {:?}, expected [{c}] ({ndk} has {c} classes)",
            dense_bias.shape()
        ));
    }
    Ok(Weights {
        cell,
        kernel,
        recurrent_kernel,
        bias,
        recurrent_bias,
        dense_kernel,
        dense_bias,
    })
}

/// The arrays of `w` under the Keras names (a GRU's biases stacked as [2, 3H]).
pub(super) fn arrays(w: &Weights) -> Result<Vec<(&'static str, Tensor)>, String> {
    let flat = |a: &[usize], v: Vec<f32>| Tensor {
        shape: a.to_vec(),
        values: v,
    };
    let bias = match (&w.recurrent_bias, w.cell.cell().recurrent_bias) {
        (None, false) => flat(w.bias.shape(), w.bias.to_vec()),
        (Some(rb), true) if rb.len() == w.bias.len() => {
            let mut rows = w.bias.to_vec();
            rows.extend(rb.iter());
            flat(&[2, w.bias.len()], rows)
        }
        (Some(_), true) => {
            return Err(format!(
                "the recurrent bias of {} differs in length from its input bias",
                a_cell(w.cell)
            ));
        }
        (None, true) => return Err(format!("{} needs a recurrent bias", a_cell(w.cell))),
        (Some(_), false) => return Err(format!("{} has no recurrent bias", a_cell(w.cell))),
    };
    let [nk, nr, nb, ndk, ndb] = KERAS_NAMES;
    Ok(vec![
        (
            nk,
            flat(w.kernel.shape(), w.kernel.iter().copied().collect()),
        ),
        (
            nr,
            flat(
                w.recurrent_kernel.shape(),
                w.recurrent_kernel.iter().copied().collect(),
            ),
        ),
        (nb, bias),
        (
            ndk,
            flat(
                w.dense_kernel.shape(),
                w.dense_kernel.iter().copied().collect(),
            ),
        ),
        (ndb, flat(w.dense_bias.shape(), w.dense_bias.to_vec())),
    ])
}
