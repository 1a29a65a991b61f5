//! Hostile input (issue 22): every case of bad input, grouped by where it enters. Each case
//! is a test that fails on code that panics, hangs, allocates without bound or answers
//! silently wrong. results/robustness.md lists the classes and their error texts.

#[path = "robustness/cli.rs"]
mod cli;
#[path = "robustness/keys.rs"]
mod keys;
