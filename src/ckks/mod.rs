//! TODO

pub mod circuit_ops;
pub mod conformance;
pub mod evaluator;
pub mod linear;
pub mod plan;
pub mod poly;
pub mod sim;
