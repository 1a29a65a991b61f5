//! The client: key generation, packing and encryption of images, decryption of logits. It is
//! the only party that ever holds the secret key; what it hands the server is a
//! [`ServerKeys`], which has no field that could carry a secret.

use std::sync::Arc;

use ndarray::{Array2, ArrayView3};
use sha2::{Digest, Sha256};

use crate::ckks::bootstrap::{self, BootstrapConfig, EncapsulationKeys};
use crate::ckks::cell::{CellCircuit, CellMatrices};
use crate::ckks::linear::Layout;
use crate::ckks::plan::{RnnCircuit, RnnMatrices};
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::encryption::{Decryptor, Encryptor};
use crate::ckks::scheme::keys::{EvaluationKeys, KeyGenerator, SecretKey};
use crate::ckks::scheme::params::ParametersLiteral;
use crate::recurrence::CellKind;

use super::InferError;

/// Most time steps a network shape may have. A batch's inputs are one ciphertext per step
/// (10 MiB each at `fgb-like`), so this also bounds an inputs file: 4,096 steps are already
/// 40 GiB of inputs.
pub const MAX_STEPS: usize = 4096;
/// Largest width (inputs per step, hidden units, classes) a network shape may have: the
/// packing gives each unit a block of slots, and the largest ring (N = 2^16) has 2^15 slots.
pub const MAX_WIDTH: usize = 1 << 15;

/// The shape of the network the keys are made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetShape {
    /// The recurrent cell (its circuit decides the rotation keys). Files written before
    /// gated cells ran encrypted have none: they are SimpleRNN files.
    #[serde(default = "simple_rnn")]
    pub cell: CellKind,
    /// Time steps.
    pub steps: usize,
    /// Inputs per step.
    pub input_width: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Output classes.
    pub classes: usize,
}

fn simple_rnn() -> CellKind {
    CellKind::SimpleRnn
}

impl NetShape {
    /// The network of `problem`.
    pub fn of(problem: &crate::problem::Problem) -> Self {
        NetShape {
            cell: problem.cell(),
            steps: problem.steps(),
            input_width: problem.input_width(),
            hidden: problem.model.hidden,
            classes: problem.model.classes,
        }
    }

    /// Refuses a shape with a size of 0 or above its bound ([`MAX_STEPS`], [`MAX_WIDTH`]),
    /// before anything is sized by it (a shape is read from file headers).
    pub fn check(&self) -> Result<(), InferError> {
        for (what, got, max) in [
            ("steps", self.steps, MAX_STEPS),
            ("inputs per step", self.input_width, MAX_WIDTH),
            ("hidden units", self.hidden, MAX_WIDTH),
            ("classes", self.classes, MAX_WIDTH),
        ] {
            if !(1..=max).contains(&got) {
                return Err(InferError::Invalid(format!(
                    "a network of {got} {what}: 1 to {max} possible"
                )));
            }
        }
        Ok(())
    }

    /// Unit blocks of the packing: the smallest power of two holding every dimension (at
    /// most [`MAX_WIDTH`]). A shape outside its bounds ([`NetShape::check`]) is refused
    /// first, so nothing overflows.
    pub fn blocks(&self) -> Result<usize, InferError> {
        self.check()?;
        let widest = self.input_width.max(self.hidden).max(self.classes);
        widest.checked_next_power_of_two().ok_or_else(|| {
            InferError::Invalid(format!(
                "a network {widest} units wide has no power-of-two packing"
            ))
        })
    }

    /// The packing layout over `slots` slots.
    pub fn layout(&self, slots: usize) -> Result<Layout, InferError> {
        Ok(Layout::new(slots, self.blocks()?)?)
    }

    /// Rotation steps the cell's circuit needs (trained weights have every diagonal): the
    /// SimpleRNN's [`RnnCircuit`], a gated cell's [`CellCircuit`].
    pub fn rotation_steps(&self, slots: usize) -> Result<Vec<isize>, InferError> {
        let layout = self.layout(slots)?;
        let (w, h, c) = (self.input_width, self.hidden, self.classes);
        Ok(match self.cell {
            CellKind::SimpleRnn => {
                RnnCircuit::new(layout, &RnnMatrices::ones(w, h, c), None)?.rotation_steps()
            }
            kind => CellCircuit::new(layout, &CellMatrices::ones(kind, w, h, c))?.rotation_steps(),
        })
    }
}

/// Everything the server needs and nothing more: parameters, evaluation keys (relinearisation,
/// rotations, conjugation) and the bootstrapping's encapsulation keys.
pub struct ServerKeys {
    /// The parameters the keys belong to.
    pub params: ParametersLiteral,
    /// Id of the key set (see [`key_set_id`]).
    pub key_set: u64,
    /// The network shape the rotation keys were made for.
    pub shape: NetShape,
    /// Relinearisation, rotation and conjugation keys.
    pub eval: EvaluationKeys,
    /// Sparse-secret encapsulation keys of the bootstrap.
    pub encapsulation: EncapsulationKeys,
}

/// Encrypted inputs of one batch: one ciphertext per step (row t of every image), at the
/// computation top level.
pub struct EncryptedBatch {
    /// Key set they were encrypted under.
    pub key_set: u64,
    /// Images in the batch.
    pub images: usize,
    /// One ciphertext per step.
    pub inputs: Vec<Ciphertext>,
}

/// The key holder.
pub struct Client {
    ctx: Arc<Context>,
    params: ParametersLiteral,
    shape: NetShape,
    layout: Layout,
    sk: SecretKey,
    key_set: u64,
    encryptor: Encryptor,
    decryptor: Decryptor,
}

/// A public fingerprint of a key set: the SHA-256 of the relinearisation key's first limb.
pub fn key_set_id(eval: &EvaluationKeys) -> u64 {
    let mut h = Sha256::new();
    if let Some(r) = &eval.relin {
        for v in &r.b[0].limbs[0] {
            h.update(v.to_le_bytes());
        }
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

impl Client {
    /// Generates a key set for `params` and a network of `shape`: the secret key (kept here),
    /// and the server's keys: relinearisation, the rotations of the RNN circuit and of the
    /// bootstrap, conjugation, encapsulation. `seed` makes everything reproducible (tests);
    /// `None` draws from the OS.
    pub fn keygen(
        params: &ParametersLiteral,
        shape: NetShape,
        seed: Option<u64>,
    ) -> Result<(Client, ServerKeys), InferError> {
        shape.check()?;
        let built = params.build()?;
        let ctx = Context::new(&built)?;
        let boot = BootstrapConfig::for_params(&built)?;
        let slots = built.slots();
        let mut steps = shape.rotation_steps(slots)?;
        steps.extend(bootstrap::rotation_steps(&built, &boot)?);
        steps.sort_unstable();
        steps.dedup();
        let mut kg = KeyGenerator::new(&ctx, seed);
        let sk = kg.secret_key();
        let eval = kg.evaluation_keys(&sk, &steps, true);
        let encapsulation = bootstrap::encapsulation_keys(&mut kg, &ctx, &sk);
        let key_set = key_set_id(&eval);
        let client = Client::from_secret(params, shape, sk, key_set, seed.map(|s| s ^ 0x5eed))?;
        let keys = ServerKeys {
            params: params.clone(),
            key_set,
            shape,
            eval,
            encapsulation,
        };
        Ok((client, keys))
    }

    /// A client from a stored secret key.
    pub fn from_secret(
        params: &ParametersLiteral,
        shape: NetShape,
        sk: SecretKey,
        key_set: u64,
        seed: Option<u64>,
    ) -> Result<Client, InferError> {
        shape.check()?;
        let ctx = Context::new(&params.build()?)?;
        let layout = shape.layout(ctx.params().slots())?;
        Ok(Client {
            encryptor: Encryptor::secret(&ctx, &sk, seed)?,
            decryptor: Decryptor::new(&ctx, &sk)?,
            params: params.clone(),
            shape,
            layout,
            sk,
            key_set,
            ctx,
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The parameters.
    pub fn params(&self) -> &ParametersLiteral {
        &self.params
    }

    /// The network shape.
    pub fn shape(&self) -> NetShape {
        self.shape
    }

    /// The key set id.
    pub fn key_set(&self) -> u64 {
        self.key_set
    }

    /// The secret key (for the client's own key file).
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// Images one batch holds (one per slot block).
    pub fn batch_capacity(&self) -> usize {
        self.layout.batch
    }

    /// Packs and encrypts `images` ([images, steps, width], values as the model reads them)
    /// at the computation top level: one ciphertext per step.
    pub fn encrypt(&self, images: ArrayView3<f32>) -> Result<EncryptedBatch, InferError> {
        let (n, steps, width) = images.dim();
        if steps != self.shape.steps || width != self.shape.input_width {
            return Err(InferError::Invalid(format!(
                "images of {steps} steps x {width} inputs, the keys were made for {} x {}",
                self.shape.steps, self.shape.input_width
            )));
        }
        if n == 0 || n > self.layout.batch {
            return Err(InferError::Invalid(format!(
                "{n} images: a batch holds 1 to {} with these parameters",
                self.layout.batch
            )));
        }
        if images.iter().any(|v| !v.is_finite()) {
            return Err(InferError::Invalid(
                "an image holds a non-finite value".into(),
            ));
        }
        let params = self.ctx.params();
        let inputs = (0..steps)
            .map(|t| {
                let rows = images.slice(ndarray::s![.., t, ..]).mapv(f64::from);
                let packed = self.layout.pack(rows.view())?;
                Ok(self.encryptor.encrypt_values(
                    &packed,
                    params.top_level(),
                    params.default_scale(),
                )?)
            })
            .collect::<Result<_, InferError>>()?;
        Ok(EncryptedBatch {
            key_set: self.key_set,
            images: n,
            inputs,
        })
    }

    /// Decrypts the logits of `images` images ([images, classes]).
    pub fn decrypt(&self, logits: &Ciphertext, images: usize) -> Result<Array2<f64>, InferError> {
        if !(1..=self.layout.batch).contains(&images) {
            return Err(InferError::Invalid(format!(
                "logits of {images} images: a batch holds 1 to {} with these parameters",
                self.layout.batch
            )));
        }
        let slots = self.decryptor.decrypt_values(logits)?;
        Ok(self.layout.unpack(&slots, images, self.shape.classes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_shapes_have_no_blocks() {
        let shape = NetShape {
            cell: CellKind::SimpleRnn,
            steps: 28,
            input_width: 28,
            hidden: 32,
            classes: 10,
        };
        assert_eq!(shape.blocks().unwrap(), 32);
        for (hidden, message) in [
            (
                usize::MAX,
                "a network of 18446744073709551615 hidden units: 1 to 32768 possible",
            ),
            ((1 << 63) + 1, "hidden units: 1 to 32768 possible"),
            (0, "a network of 0 hidden units"),
        ] {
            let err = NetShape { hidden, ..shape }
                .blocks()
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{err}");
            assert!(NetShape { hidden, ..shape }.layout(1 << 15).is_err());
        }
        assert_eq!(
            NetShape {
                hidden: MAX_WIDTH,
                ..shape
            }
            .blocks()
            .unwrap(),
            MAX_WIDTH
        );
    }
}
