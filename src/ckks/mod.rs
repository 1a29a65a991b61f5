//! TODO

pub mod evaluator;
pub mod sim;
