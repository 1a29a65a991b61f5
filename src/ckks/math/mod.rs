//! Arithmetic modulo word-sized NTT-friendly primes: modular reduction with precomputed
//! Shoup constants ([`modular`]), deterministic prime generation ([`primes`]) and negacyclic
//! NTT plans over `tfhe-ntt` ([`ntt`]), and counts of the limb operations performed
//! ([`tally`]). The RNS ring layer is built on these.

pub mod modular;
pub mod ntt;
pub mod primes;
pub mod tally;
