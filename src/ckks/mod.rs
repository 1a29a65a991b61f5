//! CKKS: circuits written against the [`evaluator::Evaluator`] trait — Chebyshev
//! polynomials ([`poly`]), packed linear layers ([`linear`]), the RNN step plan ([`plan`]) —
//! and the simulated evaluator ([`sim`]) that runs them over (level, scale, values) and counts
//! operations per level, which the cost model uses. The RNS engine core implements the same
//! trait.

pub mod bootstrap;
pub mod cell;
pub mod circuit_ops;
pub mod conformance;
pub mod evaluator;
pub mod linear;
pub mod math;
pub mod plan;
pub mod poly;
pub mod profile;
pub mod ring;
pub mod roofline;
pub mod scheme;
pub mod sim;
