//! cellwise: choose, cell by cell, the polynomial that replaces each activation of a
//! recurrent network so that it can run under CKKS homomorphic encryption.
//!
//! The module tree follows the data flow:
//! [`problem`] (presets) -> [`data`] -> [`model`] -> [`approx`] -> [`schedule`] ->
//! [`oracle`] -> [`cost`] (backed by the [`ckks`] engine) -> [`search`] -> [`report`];
//! [`infer`] runs a chosen schedule end to end under CKKS and checks it against the oracle
//! and the cost model.

pub mod allocator;
pub mod approx;
pub mod ckks;
pub mod cost;
pub mod data;
pub mod fsutil;
pub mod infer;
pub mod model;
pub mod oracle;
pub mod problem;
pub mod recurrence;
pub mod report;
pub mod schedule;
pub mod search;
pub mod store;
pub mod sysinfo;
