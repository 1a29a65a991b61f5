//! Arithmetic modulo word-sized NTT-friendly primes: modular reduction with precomputed
//! Shoup constants ([`modular`]), the coefficient-wise kernels of one limb with their AVX-512
//! paths ([`lanes`]), the ChaCha8 keystream of seeded key masks ([`keystream`]),
//! deterministic prime generation ([`primes`]) and negacyclic NTT plans over `tfhe-ntt`
//! ([`ntt`]), and counts of the limb operations performed
//! ([`tally`]). The RNS ring layer is built on these.

pub mod keystream;
pub mod lanes;
pub mod modular;
pub mod ntt;
pub mod primes;
pub mod tally;
