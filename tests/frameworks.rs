//! Weights in and out against the frameworks (issue "GRU and LSTM ... in plaintext", item 3):
//! Keras and PyTorch fixtures give their framework's logits on the 200 fixture images;
//! every cell round-trips through cellwise's files; bad files are refused in one line.

#[path = "frameworks/common.rs"]
mod common;
#[path = "frameworks/errors.rs"]
mod errors;
#[path = "frameworks/fixtures.rs"]
mod fixtures;
#[path = "frameworks/mutations.rs"]
mod mutations;
#[path = "frameworks/round_trip.rs"]
mod round_trip;
