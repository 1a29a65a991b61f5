//! Command-line cases: output streams, flags, presets, run directories, checkpoints.
