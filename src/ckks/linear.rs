//! The RNN's linear algebra on packed ciphertexts: many images per ciphertext, matrix-vector
//! products by diagonals with baby-step giant-step and hoisted baby steps.
//!
//! # Layout (unit-major blocks)
//! A ciphertext of `slots` slots holds a batch of `batch = slots / blocks` images: slot
//! `u * batch + j` holds unit (or feature) `u` of image `j`. With `blocks = 32` and N = 2^16
//! that is 32 units x 1024 images. Rotating by `k * batch` moves every image's unit `u + k`
//! (mod blocks) to unit `u` at once, so a `blocks x blocks` matrix-vector product for the
//! whole batch is the diagonal method on blocks:
//! y_v = sum_k W[(v + k) mod H, v] * h_{(v + k) mod H}, i.e. y = sum_k d_k (.) rot(h, k * batch).
//! Vectors shorter than `blocks` (28 pixels, 10 logits) are zero-padded.
//!
//! # Baby-step giant-step
//! With k = g * n1 + i: y = sum_g rot(sum_i d'_{g,i} (.) rot(h, i * batch), g * n1 * batch),
//! where d'_{g,i} = rot(d_{g n1 + i}, -g n1 batch) is pre-rotated in plaintext. The n1 - 1 baby
//! rotations share one decomposition ([`Evaluator::rotate_hoisted`]); the n2 - 1 giant
//! rotations and their sum are one [`Evaluator::rotate_sum`] (one key-switching ModDown for all
//! of them in the engine). For 32 blocks the default is n1 = 8, n2 = 4: 7 hoisted + 3 rotations.
//!
//! [`Linear`] computes sum_m x_m W_m + b for several inputs at once (the RNN step's
//! x_t Wx + h_{t-1} Wh + b): the inputs' products are summed *before* the giant rotations, so
//! they share them, and one rescale ends the whole step: **one level**. The bias is added after
//! the rescale, at the output scale. Weights are given in Keras layout ([in, out]).
//!
//! Diagonals are encoded for a given level and scales ([`Linear::encode`], counted as `encode`
//! operations), then applied any number of times ([`EncodedLinear::apply`]).

use ndarray::ArrayView2;

use super::evaluator::{EvalError, Evaluator};

/// How a batch of vectors is packed into the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// Unit blocks (vector dimension after padding), a power of two.
    pub blocks: usize,
    /// Images per ciphertext (`slots / blocks`).
    pub batch: usize,
}

impl Layout {
    /// `blocks` unit blocks over `slots` slots; both powers of two, `blocks <= slots`.
    pub fn new(slots: usize, blocks: usize) -> Result<Self, EvalError> {
        if !slots.is_power_of_two() || !blocks.is_power_of_two() || blocks > slots {
            return Err(EvalError::InvalidInput(format!(
                "layout: {blocks} blocks over {slots} slots (both must be powers of two, blocks <= slots)"
            )));
        }
        Ok(Layout {
            blocks,
            batch: slots / blocks,
        })
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.blocks * self.batch
    }

    /// Packs `rows` (one vector of dimension <= blocks per image, at most `batch` images) into
    /// a slot vector; missing units and images are zero.
    pub fn pack(&self, rows: ArrayView2<f64>) -> Result<Vec<f64>, EvalError> {
        let (n, dim) = rows.dim();
        if n > self.batch || dim > self.blocks {
            return Err(EvalError::InvalidInput(format!(
                "layout: {n} images of dimension {dim} do not fit {} images of {} units",
                self.batch, self.blocks
            )));
        }
        let mut out = vec![0.0; self.slots()];
        for ((j, u), &v) in rows.indexed_iter() {
            out[u * self.batch + j] = v;
        }
        Ok(out)
    }

    /// The first `dim` units of the first `n` images of a slot vector, as [n, dim].
    pub fn unpack(&self, slots: &[f64], n: usize, dim: usize) -> ndarray::Array2<f64> {
        ndarray::Array2::from_shape_fn((n, dim), |(j, u)| slots[u * self.batch + j])
    }

    /// A per-unit vector (length <= blocks) broadcast over every image.
    pub fn broadcast(&self, units: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.slots()];
        for (u, &v) in units.iter().enumerate().take(self.blocks) {
            out[u * self.batch..(u + 1) * self.batch].fill(v);
        }
        out
    }
}

/// sum_m x_m W_m + b on packed ciphertexts (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    layout: Layout,
    n1: usize,
    n2: usize,
    out_dim: usize,
    /// Per input, per diagonal k = g n1 + i: the pre-rotated diagonal per block, or `None`
    /// when it is zero.
    diagonals: Vec<Vec<Option<Vec<f64>>>>,
    bias: Option<Vec<f64>>,
}

/// What one application did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinearReport {
    /// Level of the inputs (after dropping them to a common level).
    pub level_in: usize,
    /// Level of the output.
    pub level_out: usize,
    /// Hoisted baby-step rotations (over all inputs).
    pub hoisted_rotations: usize,
    /// Giant-step rotations.
    pub giant_rotations: usize,
    /// Plaintext products.
    pub mul_plain: usize,
}

impl Linear {
    /// Builds the transform of `weights` (one [in_m, out] matrix per input, Keras layout, equal
    /// `out`) plus an optional bias of length `out`. `n1` is the baby-step count (a power of
    /// two dividing `blocks`; default 2^ceil(log2(blocks) / 2)). Refuses non-finite weights and
    /// dimensions above `layout.blocks`.
    pub fn new(
        layout: Layout,
        weights: &[ArrayView2<f64>],
        bias: Option<&[f64]>,
        n1: Option<usize>,
    ) -> Result<Self, EvalError> {
        let h = layout.blocks;
        let bad = |m: String| Err(EvalError::InvalidInput(format!("linear layer: {m}")));
        let Some(out_dim) = weights.first().map(|w| w.ncols()) else {
            return bad("no weight matrix".into());
        };
        for w in weights {
            if w.ncols() != out_dim || w.nrows() > h || out_dim > h {
                return bad(format!(
                    "matrix {}x{} does not fit {h} blocks with {out_dim} outputs",
                    w.nrows(),
                    w.ncols()
                ));
            }
            if w.iter().any(|v| !v.is_finite()) {
                return bad("weights are not finite".into());
            }
        }
        if let Some(b) = bias
            && (b.len() != out_dim || b.iter().any(|v| !v.is_finite()))
        {
            return bad(format!(
                "bias must have {out_dim} finite values, got {}",
                b.len()
            ));
        }
        let n1 = n1.unwrap_or(1 << (h.trailing_zeros().div_ceil(2)));
        if !n1.is_power_of_two() || n1 > h {
            return bad(format!(
                "baby steps {n1} must be a power of two dividing {h}"
            ));
        }
        let n2 = h / n1;
        let diagonals = weights
            .iter()
            .map(|w| {
                (0..h)
                    .map(|k| {
                        let g = k / n1;
                        // d_k[v] = W[(v + k) mod h, v], pre-rotated by -g n1 blocks.
                        let d: Vec<f64> = (0..h)
                            .map(|slot| {
                                let v = (slot + h - (g * n1) % h) % h;
                                let u = (v + k) % h;
                                if u < w.nrows() && v < w.ncols() {
                                    w[[u, v]]
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        d.iter().any(|&x| x != 0.0).then_some(d)
                    })
                    .collect()
            })
            .collect();
        Ok(Linear {
            layout,
            n1,
            n2,
            out_dim,
            diagonals,
            bias: bias.map(|b| b.to_vec()),
        })
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Number of inputs (weight matrices).
    pub fn inputs(&self) -> usize {
        self.diagonals.len()
    }

    /// Output dimension.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// (baby steps n1, giant steps n2).
    pub fn bsgs(&self) -> (usize, usize) {
        (self.n1, self.n2)
    }

    /// Levels one application consumes.
    pub const DEPTH: usize = 1;

    /// Baby steps used by input `m` (those with a non-zero diagonal for some giant step).
    fn babies(&self, m: usize) -> Vec<usize> {
        (1..self.n1)
            .filter(|&i| (0..self.n2).any(|g| self.diagonals[m][g * self.n1 + i].is_some()))
            .collect()
    }

    /// Giant steps with a non-zero diagonal for some input.
    fn giants(&self) -> Vec<usize> {
        (1..self.n2)
            .filter(|&g| {
                self.diagonals
                    .iter()
                    .any(|d| (0..self.n1).any(|i| d[g * self.n1 + i].is_some()))
            })
            .collect()
    }

    /// Rotation steps (in slots) whose keys the transform needs, sorted.
    pub fn rotation_steps(&self) -> Vec<isize> {
        let b = self.layout.batch as isize;
        let mut steps: Vec<isize> = (0..self.diagonals.len())
            .flat_map(|m| self.babies(m))
            .map(|i| i as isize * b)
            .chain(
                self.giants()
                    .into_iter()
                    .map(|g| (g * self.n1) as isize * b),
            )
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Encodes the diagonals for inputs at `level` with scales `in_scales` (one per input) and
    /// an output of scale `out_scale` at `level - 1`: input m's diagonals are encoded at
    /// out_scale * q_level / in_scales[m], so every product has scale out_scale * q_level.
    ///
    /// `affine = (alpha, beta)` folds an affine map into the encoding: the transform computes
    /// alpha * (sum_m x_m W_m + b) + beta (beta on the `out_dim` outputs only), e.g. the map of
    /// a polynomial's interval onto [-1, 1]. `(1.0, 0.0)` is the plain transform.
    pub fn encode<E: Evaluator>(
        &self,
        ev: &E,
        level: usize,
        in_scales: &[f64],
        out_scale: f64,
        affine: (f64, f64),
        storage: Storage,
    ) -> Result<EncodedLinear<E>, E::Error> {
        let (alpha, beta) = affine;
        if !alpha.is_finite() || !beta.is_finite() {
            return Err(EvalError::NotFinite { op: "linear layer" }.into());
        }
        if in_scales.len() != self.diagonals.len() {
            return Err(EvalError::InvalidInput(format!(
                "linear layer has {} inputs, got {} scales",
                self.diagonals.len(),
                in_scales.len()
            ))
            .into());
        }
        if level == 0 {
            return Err(EvalError::OutOfLevels {
                op: "linear layer",
                level,
                needed: 1,
            }
            .into());
        }
        let q = ev.rescale_prime(level) as f64;
        let mut plain = Vec::with_capacity(self.diagonals.len());
        for (diags, &s) in self.diagonals.iter().zip(in_scales) {
            let mut per = Vec::with_capacity(diags.len());
            for d in diags {
                per.push(match d {
                    Some(d) => {
                        let d: Vec<f64> = d.iter().map(|v| alpha * v).collect();
                        let (values, scale) = (self.layout.broadcast(&d), out_scale * q / s);
                        Some(match storage {
                            Storage::Expanded => {
                                Diagonal::Expanded(ev.encode(&values, level, scale)?)
                            }
                            Storage::Compact => {
                                Diagonal::Compact(ev.encode_compact(&values, level, scale)?)
                            }
                        })
                    }
                    None => None,
                });
            }
            plain.push(per);
        }
        let bias: Vec<f64> = match &self.bias {
            Some(b) => b.iter().map(|v| alpha * v + beta).collect(),
            None => vec![beta; self.out_dim],
        };
        let bias = if bias.iter().any(|&v| v != 0.0) {
            Some(ev.encode(&self.layout.broadcast(&bias), level - 1, out_scale)?)
        } else {
            None
        };
        Ok(EncodedLinear {
            linear: self.clone(),
            level,
            in_scales: in_scales.to_vec(),
            plain,
            bias,
        })
    }
}

/// The baby-step rotations of one ciphertext, made once (hoisted) and shared by every transform
/// that reads it: entry `i` is rot(ct, i * batch), entry 0 the ciphertext itself.
#[derive(Debug)]
pub struct BabySteps<E: Evaluator> {
    rotated: Vec<Option<E::Ciphertext>>,
}

impl<E: Evaluator> BabySteps<E> {
    /// Rotations of `ct` by `babies` (each in 1..n1) times the batch, hoisted.
    pub fn new(
        ev: &E,
        layout: Layout,
        n1: usize,
        ct: &E::Ciphertext,
        babies: &[usize],
    ) -> Result<Self, E::Error> {
        if babies.iter().any(|&i| i == 0 || i >= n1) {
            return Err(EvalError::InvalidInput(format!(
                "baby steps must lie in 1..{n1}, got {babies:?}"
            ))
            .into());
        }
        let steps: Vec<isize> = babies
            .iter()
            .map(|&i| i as isize * layout.batch as isize)
            .collect();
        let rots = ev.rotate_hoisted(ct, &steps)?;
        let mut rotated: Vec<Option<E::Ciphertext>> = vec![None; n1];
        rotated[0] = Some(ct.clone());
        for (&i, r) in babies.iter().zip(rots) {
            rotated[i] = Some(r);
        }
        Ok(Self { rotated })
    }

    /// The rotated ciphertext itself.
    pub fn input(&self) -> &E::Ciphertext {
        // Invariant: `new` always stores the input at entry 0.
        self.rotated[0]
            .as_ref()
            .expect("the input of the baby steps")
    }

    /// The rotation by `i` baby steps (0: the input), if made.
    pub fn rotated(&self, i: usize) -> Option<&E::Ciphertext> {
        self.rotated.get(i)?.as_ref()
    }

    /// Rotations made (the input itself not counted).
    pub fn rotations(&self) -> usize {
        self.rotated.iter().skip(1).filter(|r| r.is_some()).count()
    }
}

/// How an [`EncodedLinear`] keeps its diagonals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// As plaintexts ready to multiply (a residue per prime of the level, NTT form).
    Expanded,
    /// As integer coefficients, expanded at each use ([`Evaluator::encode_compact`]): about
    /// `1 / (level + 1)` of the memory, for an NTT per prime and diagonal at each use.
    Compact,
}

/// One encoded diagonal.
#[derive(Debug)]
enum Diagonal<E: Evaluator> {
    Expanded(E::Plaintext),
    Compact(E::Compact),
}

/// A [`Linear`] with its diagonals encoded for one level and input scales.
#[derive(Debug)]
pub struct EncodedLinear<E: Evaluator> {
    linear: Linear,
    level: usize,
    in_scales: Vec<f64>,
    plain: Vec<Vec<Option<Diagonal<E>>>>,
    bias: Option<E::Plaintext>,
}

impl<E: Evaluator> EncodedLinear<E> {
    /// The level the inputs must be at.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Plaintexts this encoding made, as (level, count): the non-zero diagonals at the input
    /// level and the bias (if any) one level below.
    pub fn encodings(&self) -> Vec<(usize, usize)> {
        let diagonals = self.plain.iter().flatten().filter(|p| p.is_some()).count();
        let mut out = vec![(self.level, diagonals)];
        if self.bias.is_some() {
            out.push((self.level - 1, 1));
        }
        out
    }

    /// Applies the transform to `inputs` (one per weight matrix, at this level and the encoded
    /// scales): one level, output scale as encoded.
    pub fn apply(
        &self,
        ev: &E,
        inputs: &[&E::Ciphertext],
    ) -> Result<(E::Ciphertext, LinearReport), E::Error> {
        if inputs.len() != self.plain.len() {
            return Err(self.input_count_error(inputs.len()).into());
        }
        let rotated = inputs
            .iter()
            .enumerate()
            .map(|(m, ct)| {
                BabySteps::new(
                    ev,
                    self.linear.layout,
                    self.linear.n1,
                    ct,
                    &self.linear.babies(m),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&BabySteps<E>> = rotated.iter().collect();
        let (out, mut report) = self.apply_rotated(ev, &refs)?;
        report.hoisted_rotations = rotated.iter().map(BabySteps::rotations).sum();
        Ok((out, report))
    }

    fn input_count_error(&self, got: usize) -> EvalError {
        EvalError::InvalidInput(format!(
            "linear layer has {} inputs, got {got}",
            self.plain.len(),
        ))
    }

    /// The baby steps input `m` needs (see [`BabySteps`]).
    pub fn baby_steps(&self, m: usize) -> Vec<usize> {
        self.linear.babies(m)
    }

    /// Applies the transform to inputs whose baby-step rotations were made already (one
    /// [`BabySteps`] per weight matrix, holding at least [`EncodedLinear::baby_steps`]): several
    /// transforms of the same ciphertext share its rotations. The report counts no hoisted
    /// rotations (they were made outside).
    pub fn apply_rotated(
        &self,
        ev: &E,
        inputs: &[&BabySteps<E>],
    ) -> Result<(E::Ciphertext, LinearReport), E::Error> {
        let lin = &self.linear;
        if inputs.len() != self.plain.len() {
            return Err(self.input_count_error(inputs.len()).into());
        }
        for (m, (b, &s)) in inputs.iter().zip(&self.in_scales).enumerate() {
            let ct = b.input();
            if ev.level(ct) != self.level {
                return Err(EvalError::LevelMismatch {
                    op: "linear layer",
                    left: ev.level(ct),
                    right: self.level,
                }
                .into());
            }
            if !super::evaluator::scales_match(ev.scale(ct), s) {
                return Err(EvalError::ScaleMismatch {
                    op: "linear layer",
                    left: ev.scale(ct),
                    right: s,
                }
                .into());
            }
            if b.rotated.len() != lin.n1 || lin.babies(m).iter().any(|&i| b.rotated[i].is_none()) {
                return Err(EvalError::InvalidInput(format!(
                    "linear layer: input {m} lacks baby-step rotations it needs"
                ))
                .into());
            }
        }
        let batch = lin.layout.batch as isize;
        let mut report = LinearReport {
            level_in: self.level,
            level_out: self.level - 1,
            hoisted_rotations: 0,
            giant_rotations: 0,
            mul_plain: 0,
        };
        let rotated: Vec<&Vec<Option<E::Ciphertext>>> = inputs.iter().map(|b| &b.rotated).collect();
        let mut parts: Vec<(E::Ciphertext, isize)> = Vec::with_capacity(lin.n2);
        for g in 0..lin.n2 {
            let mut inner: Option<E::Ciphertext> = None;
            // Expanded diagonals are summed in one inner product, compact ones in another.
            let mut expanded: Vec<(&E::Ciphertext, &E::Plaintext)> = Vec::new();
            let mut compact: Vec<(&E::Ciphertext, &E::Compact)> = Vec::new();
            for (m, row) in rotated.iter().enumerate() {
                for (i, x) in row.iter().enumerate() {
                    let (Some(p), Some(x)) = (&self.plain[m][g * lin.n1 + i], x) else {
                        continue;
                    };
                    report.mul_plain += 1;
                    match p {
                        Diagonal::Expanded(p) => expanded.push((x, p)),
                        Diagonal::Compact(c) => compact.push((x, c)),
                    }
                }
            }
            if !expanded.is_empty() {
                inner = Some(ev.dot_plain(&expanded)?);
            }
            if !compact.is_empty() {
                let dot = ev.dot_compact(&compact)?;
                inner = Some(match inner {
                    None => dot,
                    Some(a) => ev.add(&a, &dot)?,
                });
            }
            let Some(inner) = inner else { continue };
            if g > 0 {
                report.giant_rotations += 1;
            }
            parts.push((inner, (g * lin.n1) as isize * batch));
        }
        let terms: Vec<(&E::Ciphertext, isize)> = parts.iter().map(|(c, s)| (c, *s)).collect();
        let acc = if terms.is_empty() {
            // An all-zero transform: the input times a zero plaintext keeps the shape right.
            let x = inputs[0].input();
            let zero = ev.encode(&[], self.level, ev.scale(x))?;
            ev.mul_plain(x, &zero)?
        } else {
            ev.rotate_sum(&terms)?
        };
        let out = ev.rescale(&acc)?;
        let out = match &self.bias {
            Some(b) => ev.add_plain(&out, b)?,
            None => out,
        };
        Ok((out, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::sim::{SimEvaluator, SimOp, SimParams};
    use ndarray::Array2;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut s = seed;
        Array2::from_shape_fn((rows, cols), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
    }

    #[test]
    fn pack_and_unpack_round_trip() {
        let l = Layout::new(64, 8).unwrap();
        let x = matrix(8, 5, 1);
        let s = l.pack(x.view()).unwrap();
        assert_eq!(l.unpack(&s, 8, 5), x);
        assert_eq!(s[3 * 8 + 2], x[[2, 3]]);
        assert!(l.pack(matrix(9, 5, 1).view()).is_err());
        assert!(Layout::new(64, 3).is_err());
    }

    #[test]
    fn matvec_equals_ndarray() {
        let params = SimParams::chain(32 * 4, 4, 40, 55).unwrap();
        let layout = Layout::new(params.slots, 32).unwrap();
        let (wh, wx) = (matrix(32, 32, 2), matrix(28, 32, 3));
        let b: Vec<f64> = matrix(1, 32, 4).into_raw_vec_and_offset().0;
        for n1 in [1, 2, 4, 8, 16, 32] {
            let lin = Linear::new(layout, &[wh.view(), wx.view()], Some(&b), Some(n1)).unwrap();
            let ev = SimEvaluator::new(params.clone()).with_rotation_keys(lin.rotation_steps());
            let (h, x) = (matrix(4, 32, 5), matrix(4, 28, 6));
            let s = ev.default_scale();
            let hc = ev.encrypt(&layout.pack(h.view()).unwrap(), 4, s).unwrap();
            let xc = ev.encrypt(&layout.pack(x.view()).unwrap(), 4, s).unwrap();
            let enc = lin
                .encode(&ev, 4, &[s, s], s, (0.5, 0.25), Storage::Expanded)
                .unwrap();
            let (out, rep) = enc.apply(&ev, &[&hc, &xc]).unwrap();
            assert_eq!((rep.level_in, rep.level_out, out.level), (4, 3, 3));
            assert!((out.scale / s - 1.0).abs() < 1e-12);
            let want = (h.dot(&wh) + x.dot(&wx) + ndarray::Array1::from(b.clone())) * 0.5 + 0.25;
            let got = layout.unpack(ev.decrypt(&out).unwrap(), 4, 32);
            let err = (&got - &want).iter().fold(0.0f64, |m, e| m.max(e.abs()));
            assert!(err < 1e-9, "n1 = {n1}: max error {err}");
            let c = ev.counts();
            assert_eq!(c.total(SimOp::HoistedRotate), 2 * (n1 - 1));
            assert_eq!(c.total(SimOp::Rotate), 32 / n1 - 1);
            assert_eq!(c.total(SimOp::MulPlain), 64);
            assert_eq!(c.total(SimOp::Rescale), 1);
            assert_eq!(rep.hoisted_rotations + rep.giant_rotations, {
                let st = lin.rotation_steps().len();
                st + (n1 - 1)
            });
        }
    }

    #[test]
    fn default_bsgs_and_rotation_steps_for_32_units() {
        let layout = Layout::new(1 << 15, 32).unwrap();
        let wd = matrix(32, 10, 7);
        let lin = Linear::new(layout, &[wd.view()], None, None).unwrap();
        assert_eq!(lin.bsgs(), (8, 4));
        let steps: Vec<isize> = (1..8).chain([8, 16, 24]).map(|k| k * 1024).collect();
        assert_eq!(lin.rotation_steps(), steps);
    }

    #[test]
    fn bad_weights_and_levels_are_refused() {
        let layout = Layout::new(64, 8).unwrap();
        let mut w = matrix(8, 8, 1);
        assert!(Linear::new(layout, &[matrix(9, 8, 1).view()], None, None).is_err());
        assert!(Linear::new(layout, &[w.view()], Some(&[0.0; 3]), None).is_err());
        assert!(Linear::new(layout, &[w.view()], None, Some(3)).is_err());
        w[[0, 0]] = f64::NAN;
        assert!(Linear::new(layout, &[w.view()], None, None).is_err());
        let ev = SimEvaluator::new(SimParams::chain(64, 2, 40, 55).unwrap());
        let lin = Linear::new(layout, &[matrix(8, 8, 2).view()], None, None).unwrap();
        assert!(matches!(
            lin.encode(&ev, 0, &[1.0], 1.0, (1.0, 0.0), Storage::Expanded),
            Err(EvalError::OutOfLevels { .. })
        ));
        let s = ev.default_scale();
        let enc = lin
            .encode(&ev, 2, &[s], s, (1.0, 0.0), Storage::Compact)
            .unwrap();
        let ct = ev.encrypt(&[1.0], 1, s).unwrap();
        assert!(enc.apply(&ev, &[&ct]).is_err());
    }
}
