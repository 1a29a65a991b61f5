//! The CKKS scheme layer: validated parameters and presets ([`params`]).

pub mod params;
