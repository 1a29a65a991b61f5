//! TODO

pub mod evaluator;
pub mod poly;
pub mod sim;
