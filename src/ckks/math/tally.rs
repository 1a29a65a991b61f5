//! Counts of the primitive limb operations the engine performs (one count = one limb of N
//! coefficients), read by the roofline (`ckks::roofline`): process-wide relaxed atomics,
//! one addition per limb operation, so their cost is far below the operations they count.

use std::sync::atomic::{AtomicU64, Ordering};

/// A primitive operation on one limb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// Forward NTT.
    NttForward,
    /// Inverse NTT (normalised).
    NttInverse,
    /// A modular multiplication (or reduction of a product) per coefficient.
    ModMul,
    /// A lazy multiply-accumulate into `u128` per coefficient (key-switching inner products,
    /// basis conversion).
    Mac,
    /// A modular addition, subtraction or negation per coefficient.
    Add,
    /// A permutation of the coefficients or evaluations (automorphisms).
    Permute,
    /// A limb of a seeded key's uniform mask drawn from its seed (`math::keystream`): what a
    /// key switch with a key kept seeded does instead of reading the mask from memory.
    MaskDraw,
}

/// The number of primitives.
pub const PRIMITIVES: usize = 7;

impl Primitive {
    /// Every primitive, in [`Tally`] order.
    pub const ALL: [Primitive; PRIMITIVES] = [
        Primitive::NttForward,
        Primitive::NttInverse,
        Primitive::ModMul,
        Primitive::Mac,
        Primitive::Add,
        Primitive::Permute,
        Primitive::MaskDraw,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::NttForward => "ntt",
            Primitive::NttInverse => "intt",
            Primitive::ModMul => "modmul",
            Primitive::Mac => "mac",
            Primitive::Add => "add",
            Primitive::Permute => "permute",
            Primitive::MaskDraw => "draw",
        }
    }
}

static COUNTS: [AtomicU64; PRIMITIVES] = [const { AtomicU64::new(0) }; PRIMITIVES];

/// Counts `limbs` limb operations of `p`.
#[inline]
pub fn count(p: Primitive, limbs: usize) {
    COUNTS[p as usize].fetch_add(limbs as u64, Ordering::Relaxed);
}

/// Limb operations per primitive (in [`Primitive::ALL`] order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally(pub [u64; PRIMITIVES]);

impl Tally {
    /// The process's counts so far.
    pub fn now() -> Tally {
        Tally(std::array::from_fn(|i| COUNTS[i].load(Ordering::Relaxed)))
    }

    /// The counts made since `earlier` (with nothing else running, those of the work
    /// between the two readings).
    pub fn since(self, earlier: Tally) -> Tally {
        Tally(std::array::from_fn(|i| self.0[i] - earlier.0[i]))
    }

    /// The count of `p`.
    pub fn get(&self, p: Primitive) -> u64 {
        self.0[p as usize]
    }
}
