//! TODO

pub mod evaluator;
pub mod linear;
pub mod poly;
pub mod sim;
