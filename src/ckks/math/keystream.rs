//! The ChaCha8 keystream of `rand`'s `ChaCha8Rng` (key = seed, 64-bit block counter from 0,
//! 64-bit stream), as `fill` on a `[u64]` produces it, sixteen blocks at a time on AVX-512.
//!
//! Key switching expands each seeded key mask on every use (`scheme::keys`), and `rand`'s
//! generator runs four blocks at a time on AVX2 behind a small buffer: a sixth of a bootstrap
//! went there (perf, 2026-12-05). The same words come out either way (tested against
//! `ChaCha8Rng`); the portable path (`lanes::set_portable`, or a CPU without AVX-512) is the
//! generator itself.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::lanes::{self, KernelPath};

/// Fills `out` with the words `ChaCha8Rng::from_seed(seed)`, set to `stream`, gives from its
/// start (`fill`), and returns nothing else: the generator would next give word
/// `2 * out.len()` of the stream.
pub fn fill(seed: &[u8; 32], stream: u64, out: &mut [u64]) {
    fill_from(seed, stream, 0, out);
}

/// [`fill`]'s words `first .. first + out.len()` (in `u64`s; `first` a multiple of
/// [`BLOCK_WORDS`], so a piece starts on a ChaCha block): filling a slice in consecutive
/// pieces gives the same words as filling it at once.
pub fn fill_from(seed: &[u8; 32], stream: u64, first: usize, out: &mut [u64]) {
    assert_eq!(first % BLOCK_WORDS, 0, "a piece starts on a ChaCha block");
    #[cfg(target_arch = "x86_64")]
    if lanes::path() != KernelPath::Portable {
        // SAFETY: a path other than the portable one is only taken where the CPU has
        // AVX-512 F (`lanes::detected`).
        unsafe { avx512::fill(seed, stream, (first / BLOCK_WORDS) as u64, out) };
        return;
    }
    generator(seed, stream, 2 * first as u128).fill(out);
}

/// `u64` words in one ChaCha block (64 bytes).
pub const BLOCK_WORDS: usize = 8;

/// Redraw words generated at a time (sixteen blocks).
const REDRAW_WORDS: usize = 16 * BLOCK_WORDS;

/// Uniform residues below `q` by rejection, as the key masks are defined: word `k` of the
/// stream keeps the bits of `q`; where that is not below `q`, it is replaced by the next
/// word, masked alike and itself below `q`, from the words after the first `len` of the
/// stream (the words `ChaCha8Rng` would give next), in order. Drawn a piece at a time; the
/// pieces together are the same words.
pub struct BelowModulus<'a> {
    seed: &'a [u8; 32],
    stream: u64,
    q: u64,
    /// The bits of `q`.
    bits: u64,
    /// Words of the whole draw: redraws start after them.
    len: usize,
    /// Words drawn so far.
    drawn: usize,
    /// Redraw words generated so far.
    redrawn: usize,
    /// Redraws below `q` not used yet: `spare[head..]`.
    spare: Vec<u64>,
    head: usize,
}

impl<'a> BelowModulus<'a> {
    /// A draw of `len` words (a multiple of [`BLOCK_WORDS`]) below `q`.
    pub fn new(seed: &'a [u8; 32], stream: u64, q: u64, len: usize) -> Self {
        assert_eq!(len % BLOCK_WORDS, 0, "a draw is whole ChaCha blocks");
        Self {
            seed,
            stream,
            q,
            bits: u64::MAX >> q.leading_zeros(),
            len,
            drawn: 0,
            redrawn: 0,
            spare: Vec::new(),
            head: 0,
        }
    }

    /// The next `out.len()` words (every piece but the last a multiple of [`BLOCK_WORDS`]).
    pub fn next_words(&mut self, out: &mut [u64]) {
        assert!(self.drawn + out.len() <= self.len, "drawn past its length");
        fill_from(self.seed, self.stream, self.drawn, out);
        self.drawn += out.len();
        #[cfg(target_arch = "x86_64")]
        if lanes::path() != KernelPath::Portable {
            // SAFETY: a path other than the portable one is only taken where the CPU has
            // AVX-512 F (`lanes::detected`).
            unsafe { avx512::keep_below(self, out) };
            return;
        }
        self.keep_below(out);
    }

    /// The rejection word by word: each word keeps the bits of `q`, and one not below `q`
    /// takes the next spare redraw.
    fn keep_below(&mut self, out: &mut [u64]) {
        for v in out {
            *v &= self.bits;
            if *v >= self.q {
                *v = self.next_spare();
            }
        }
    }

    /// Redraws below `q` available now.
    fn spare_len(&self) -> usize {
        self.spare.len() - self.head
    }

    /// Generates the next [`REDRAW_WORDS`] redraw words and keeps those below `q`
    /// (branch-free: each is written, and kept by advancing past it).
    fn refill(&mut self) {
        self.spare.drain(..self.head);
        self.head = 0;
        let mut words = [0u64; REDRAW_WORDS];
        fill_from(self.seed, self.stream, self.len + self.redrawn, &mut words);
        self.redrawn += REDRAW_WORDS;
        let mut kept = self.spare.len();
        self.spare.resize(kept + REDRAW_WORDS, 0);
        for w in words {
            let w = w & self.bits;
            self.spare[kept] = w;
            kept += usize::from(w < self.q);
        }
        self.spare.truncate(kept);
    }

    fn next_spare(&mut self) -> u64 {
        while self.spare_len() == 0 {
            self.refill();
        }
        self.head += 1;
        self.spare[self.head - 1]
    }
}

/// The generator set to `stream`, at word `word` of it.
pub fn generator(seed: &[u8; 32], stream: u64, word: u128) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(*seed);
    rng.set_stream(stream);
    rng.set_word_pos(word);
    rng
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// "expand 32-byte k".
    const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

    use super::BelowModulus;

    /// Words of sixteen blocks, as `u64`.
    const CHUNK: usize = 16 * 8;

    /// [`BelowModulus::next_words`]' rejection on eight lanes: the lanes at or above `q`
    /// take the next spare redraws in order (an expanding load).
    #[target_feature(enable = "avx512f")]
    pub(super) fn keep_below(draw: &mut BelowModulus, out: &mut [u64]) {
        let (bits, q) = (
            _mm512_set1_epi64(draw.bits as i64),
            _mm512_set1_epi64(draw.q as i64),
        );
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            // SAFETY: eight words, unaligned load.
            let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
            let v = _mm512_and_si512(v, bits);
            let rejected = _mm512_cmpge_epu64_mask(v, q);
            let v = if rejected == 0 {
                v
            } else {
                let need = rejected.count_ones() as usize;
                while draw.spare_len() < need {
                    draw.refill();
                }
                let spare = &draw.spare[draw.head..draw.head + need];
                draw.head += need;
                // SAFETY: the expanding load reads as many words as lanes are set in
                // `rejected`, `need`, and `spare` holds that many.
                unsafe { _mm512_mask_expandloadu_epi64(v, rejected, spare.as_ptr().cast()) }
            };
            // SAFETY: eight words, unaligned store.
            unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), v) };
        }
        draw.keep_below(chunks.into_remainder());
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn fill(seed: &[u8; 32], stream: u64, first_block: u64, out: &mut [u64]) {
        let key: [u32; 8] = std::array::from_fn(|i| {
            u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().unwrap_or_default())
        });
        let mut block = first_block;
        let mut chunks = out.chunks_exact_mut(CHUNK);
        for chunk in &mut chunks {
            blocks16(&key, stream, block, chunk);
            block += 16;
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut tmp = [0u64; CHUNK];
            blocks16(&key, stream, block, &mut tmp);
            rest.copy_from_slice(&tmp[..rest.len()]);
        }
    }

    /// Blocks `first .. first + 16` of the stream into `out` (128 words, block by block).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn blocks16(key: &[u32; 8], stream: u64, first: u64, out: &mut [u64]) {
        let counter: [u64; 16] = std::array::from_fn(|l| first.wrapping_add(l as u64));
        let lo: [u32; 16] = std::array::from_fn(|l| counter[l] as u32);
        let hi: [u32; 16] = std::array::from_fn(|l| (counter[l] >> 32) as u32);
        let word = |w: u32| _mm512_set1_epi32(w as i32);
        // SAFETY: sixteen u32 each, unaligned loads.
        let (lo, hi) = unsafe {
            (
                _mm512_loadu_si512(lo.as_ptr().cast()),
                _mm512_loadu_si512(hi.as_ptr().cast()),
            )
        };
        let init = [
            word(SIGMA[0]),
            word(SIGMA[1]),
            word(SIGMA[2]),
            word(SIGMA[3]),
            word(key[0]),
            word(key[1]),
            word(key[2]),
            word(key[3]),
            word(key[4]),
            word(key[5]),
            word(key[6]),
            word(key[7]),
            lo,
            hi,
            word(stream as u32),
            word((stream >> 32) as u32),
        ];
        let mut x = init;
        for _ in 0..4 {
            quarter(&mut x, 0, 4, 8, 12);
            quarter(&mut x, 1, 5, 9, 13);
            quarter(&mut x, 2, 6, 10, 14);
            quarter(&mut x, 3, 7, 11, 15);
            quarter(&mut x, 0, 5, 10, 15);
            quarter(&mut x, 1, 6, 11, 12);
            quarter(&mut x, 2, 7, 8, 13);
            quarter(&mut x, 3, 4, 9, 14);
        }
        // Word w of block l is lane l of x[w]; block l's words go to out[8 l ..].
        let mut t = [[0u32; 16]; 16];
        for (w, row) in t.iter_mut().enumerate() {
            // SAFETY: sixteen u32, unaligned store.
            unsafe {
                _mm512_storeu_si512(row.as_mut_ptr().cast(), _mm512_add_epi32(x[w], init[w]))
            };
        }
        assert!(out.len() >= 128);
        for l in 0..16 {
            for i in 0..8 {
                out[8 * l + i] = t[2 * i][l] as u64 | (t[2 * i + 1][l] as u64) << 32;
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn quarter(x: &mut [__m512i; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = _mm512_add_epi32(x[a], x[b]);
        x[d] = _mm512_rol_epi32::<16>(_mm512_xor_si512(x[d], x[a]));
        x[c] = _mm512_add_epi32(x[c], x[d]);
        x[b] = _mm512_rol_epi32::<12>(_mm512_xor_si512(x[b], x[c]));
        x[a] = _mm512_add_epi32(x[a], x[b]);
        x[d] = _mm512_rol_epi32::<8>(_mm512_xor_si512(x[d], x[a]));
        x[c] = _mm512_add_epi32(x[c], x[d]);
        x[b] = _mm512_rol_epi32::<7>(_mm512_xor_si512(x[b], x[c]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt};

    #[test]
    fn every_path_gives_the_generators_words() {
        let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(5));
        for stream in [0u64, 1, (3 << 32) | 17, u64::MAX] {
            for len in [1usize, 8, 127, 128, 136, 4096, 65536] {
                let mut want = vec![0u64; len];
                let mut rng = generator(&seed, stream, 0);
                rng.fill(&mut want[..]);
                let next = rng.next_u64();
                for portable in [true, false] {
                    lanes::set_portable(portable);
                    let mut got = vec![0u64; len];
                    fill(&seed, stream, &mut got);
                    lanes::set_portable(false);
                    assert!(
                        got == want,
                        "stream {stream}, {len} words, portable {portable}"
                    );
                }
                // The generator resumed after the words taken gives the next one.
                if len % 8 == 0 {
                    let mut resumed = generator(&seed, stream, 2 * len as u128);
                    assert_eq!(resumed.next_u64(), next, "stream {stream}, {len} words");
                }
            }
        }
    }
}
