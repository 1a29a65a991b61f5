//! PyTorch `state_dict`s of one `nn.RNN`/`nn.GRU`/`nn.LSTM` layer and one `nn.Linear` head:
//! `PREFIXweight_ih_l0` [G·H, in], `PREFIXweight_hh_l0` [G·H, H], `PREFIXbias_ih_l0`,
//! `PREFIXbias_hh_l0` [G·H], `HEAD.weight` [C, H], `HEAD.bias` [C]. Converted to the Keras
//! layout: matrices transposed, GRU gate blocks (r, z, n) reordered to Keras's (z, r, h)
//! (LSTM's i, f, g, o is Keras's i, f, c, o), the two biases summed for RNN and LSTM and kept
//! apart for the GRU (bias_hh is the recurrent bias of Keras's reset_after).

use ndarray::{Array1, Array2, s};

use super::tensors::Tensors;
use super::{cell_of, shape_error};
use crate::model::Weights;
use crate::recurrence::CellKind;

/// The suffix that marks a PyTorch recurrent layer's input weights.
pub(super) const INPUT_WEIGHT: &str = "weight_ih_l0";

/// Reads a state_dict (detected by a name ending in [`INPUT_WEIGHT`]).
pub(super) fn read(t: &Tensors) -> Result<Weights, String> {
    let layers: Vec<&str> = t.names().filter(|n| n.ends_with(INPUT_WEIGHT)).collect();
    let prefix = match layers[..] {
        [one] => &one[..one.len() - INPUT_WEIGHT.len()],
        _ => {
            return Err(format!(
                "several recurrent layers ({}); cellwise reads one",
                layers.join(", ")
            ));
        }
    };
    let [wih, whh, bih, bhh] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
        .map(|s| format!("{prefix}{s}"));
    // The head: the one 2-D `*.weight` (the recurrent layer's names end in `_l0`).
    let heads: Vec<&str> = t
        .names()
        .filter(|n| n.ends_with(".weight") || *n == "weight")
        .filter(|n| t.get(n).is_some_and(|a| a.shape.len() == 2))
        .collect();
    let head = match heads[..] {
        [one] => one.to_string(),
        [] => {
            return Err(format!(
                "a PyTorch state_dict with {wih} but no linear head (a 2-D '*.weight' and its '*.bias')"
            ));
        }
        _ => {
            return Err(format!(
                "several linear heads ({}); cellwise reads one nn.Linear after the recurrent layer",
                heads.join(", ")
            ));
        }
    };
    let head_bias = format!("{}bias", &head[..head.len() - "weight".len()]);
    let expected = [
        wih.as_str(),
        whh.as_str(),
        bih.as_str(),
        bhh.as_str(),
        head.as_str(),
        head_bias.as_str(),
    ];
    t.expect_names(
        &expected,
        "a PyTorch state_dict of one single-layer, one-direction RNN/GRU/LSTM and one Linear head",
    )?;

    let w_hh = t.need(&whh)?.matrix(&whh)?;
    let (gh, h) = w_hh.dim();
    let cell = cell_of(&whh, w_hh.shape(), h, gh)?;
    let w_ih = t.need(&wih)?.matrix(&wih)?;
    if w_ih.nrows() != gh || w_ih.ncols() == 0 {
        return Err(shape_error(
            &wih,
            w_ih.shape(),
            &format!("[{gh}, input width]"),
            cell,
            h,
        ));
    }
    let vector = |name: &str| -> Result<Array1<f32>, String> {
        let v = t.need(name)?.vector(name)?;
        if v.len() != gh {
            return Err(shape_error(name, v.shape(), &format!("[{gh}]"), cell, h));
        }
        Ok(v)
    };
    let (b_ih, b_hh) = (vector(&bih)?, vector(&bhh)?);
    let fc = t.need(&head)?.matrix(&head)?;
    if fc.ncols() != h || fc.nrows() == 0 {
        return Err(shape_error(
            &head,
            fc.shape(),
            &format!("[classes, {h}]"),
            cell,
            h,
        ));
    }
    let c = fc.nrows();
    let fc_bias = t.need(&head_bias)?.vector(&head_bias)?;
    if fc_bias.len() != c {
        return Err(format!(
            "{head_bias} has shape {:?}, expected [{c}] ({head} has {c} classes)",
            fc_bias.shape()
        ));
    }

    // Every size is now known to agree; reorder the gate blocks and transpose.
    let order = keras_order(cell);
    // Keras's [in, G·H] from PyTorch's [G·H, in]: column k is row k of Keras's block order.
    let keras = |m: &Array2<f32>| {
        Array2::from_shape_fn((m.ncols(), m.nrows()), |(i, k)| {
            m[[order[k / h] * h + k % h, i]]
        })
    };
    let entries = |v: &Array1<f32>| -> Array1<f32> {
        order
            .iter()
            .flat_map(|&g| v.slice(s![g * h..(g + 1) * h]).to_vec())
            .collect()
    };
    let (bias, recurrent_bias) = if cell.cell().recurrent_bias {
        (entries(&b_ih), Some(entries(&b_hh)))
    } else {
        (entries(&b_ih) + entries(&b_hh), None)
    };
    Ok(Weights {
        cell,
        kernel: keras(&w_ih),
        recurrent_kernel: keras(&w_hh),
        bias,
        recurrent_bias,
        dense_kernel: fc.t().as_standard_layout().into_owned(),
        dense_bias: fc_bias,
    })
}

/// For each Keras gate block, the PyTorch block it comes from.
fn keras_order(cell: CellKind) -> Vec<usize> {
    match cell {
        // PyTorch r, z, n -> Keras z, r, h.
        CellKind::Gru => vec![1, 0, 2],
        // PyTorch i, f, g, o is Keras i, f, c, o; a SimpleRNN has one block.
        CellKind::Lstm => vec![0, 1, 2, 3],
        CellKind::SimpleRnn => vec![0],
    }
}
