//! Deterministic generation of NTT-friendly primes `q = 1 mod 2N` of a given bit size.

use tfhe_ntt::prime::is_prime64;

/// Why a set of primes could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrimeError {
    /// The requested size is outside what the NTT supports.
    #[error("prime size of {0} bits is outside the supported range 20..=62")]
    BadSize(u32),
    /// Not enough primes of that size exist.
    #[error("only {found} primes of {bits} bits are 1 mod {modulus}, but {wanted} were needed")]
    Exhausted {
        /// Bit size.
        bits: u32,
        /// 2N.
        modulus: u64,
        /// Primes found.
        found: usize,
        /// Primes requested.
        wanted: usize,
    },
}

/// `count` distinct primes `q = 1 mod 2n` closest to `2^bits`, alternating above and below
/// it (so products of consecutive primes stay close to powers of two, which keeps CKKS scales
/// stable after rescaling), never any prime in `exclude`. Deterministic: the same arguments
/// always give the same primes. All primes lie in `(2^(bits-1), 2^bits + 2^(bits-1))` and
/// below `2^62`.
pub fn ntt_primes(
    bits: u32,
    n: usize,
    count: usize,
    exclude: &[u64],
) -> Result<Vec<u64>, PrimeError> {
    if !(20..=62).contains(&bits) {
        return Err(PrimeError::BadSize(bits));
    }
    let m = 2 * n as u64;
    let centre = 1u64 << bits;
    let lo_bound = centre >> 1;
    let hi_bound = (centre + (centre >> 1)).min(1u64 << 62);
    let mut up = centre + 1;
    let mut down = centre + 1 - m;
    let mut out = Vec::with_capacity(count);
    let mut take_up = true;
    while out.len() < count {
        let up_ok = up < hi_bound;
        let down_ok = down > lo_bound;
        if !up_ok && !down_ok {
            return Err(PrimeError::Exhausted {
                bits,
                modulus: m,
                found: out.len(),
                wanted: count,
            });
        }
        let candidate = if (take_up && up_ok) || !down_ok {
            let c = up;
            up += m;
            c
        } else {
            let c = down;
            down -= m;
            c
        };
        if is_prime64(candidate) && !exclude.contains(&candidate) && !out.contains(&candidate) {
            out.push(candidate);
            take_up = !take_up;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_ntt_friendly_distinct_and_deterministic() {
        let n = 1 << 16;
        let ps = ntt_primes(42, n, 20, &[]).unwrap();
        assert_eq!(ps, ntt_primes(42, n, 20, &[]).unwrap());
        for (i, &p) in ps.iter().enumerate() {
            assert!(is_prime64(p));
            assert_eq!(p % (2 * n as u64), 1);
            assert!((p as f64).log2() > 41.5 && (p as f64).log2() < 42.5);
            assert!(!ps[..i].contains(&p));
        }
        let others = ntt_primes(42, n, 3, &ps).unwrap();
        assert!(others.iter().all(|p| !ps.contains(p)));
        assert!(
            ntt_primes(61, n, 2, &[])
                .unwrap()
                .iter()
                .all(|&p| p < 1 << 62)
        );
    }

    #[test]
    fn bad_sizes_and_exhaustion_are_errors() {
        assert_eq!(
            ntt_primes(63, 1 << 13, 1, &[]),
            Err(PrimeError::BadSize(63))
        );
        assert!(matches!(
            ntt_primes(20, 1 << 16, 100, &[]),
            Err(PrimeError::Exhausted { .. })
        ));
    }
}
