//! The RNS-CKKS scheme: validated parameters and presets ([`params`]), the shared
//! [`context::Context`], the canonical-embedding [`encoder`], [`keys`], client-side
//! [`encryption`] (encode, encrypt, decrypt), hybrid [`keyswitch`]ing, the server-side
//! [`engine::Engine`] that implements [`crate::ckks::evaluator::Evaluator`] (with the fused
//! plaintext [`inner_product`]s it and the bootstrap share), and the
//! versioned file format ([`wire`]).

pub mod ciphertext;
pub mod context;
pub mod encoder;
pub mod encryption;
pub mod engine;
pub mod error;
pub mod inner_product;
pub mod keys;
pub mod keyswitch;
pub mod params;
pub mod wire;

#[cfg(test)]
mod tests;
