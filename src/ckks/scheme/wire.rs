//! A versioned binary format for what crosses between a client and a server: ciphertexts, the
//! server's keys, and the client's own secret key file.
//!
//! A file (version 3) is
//!
//! ```text
//! magic | version | header length (u32) | header | SHA-256(everything before) | body | SHA-256(everything before)
//! ```
//!
//! written and read as a stream (keys at `fgb-like` are gigabytes). The header holds the kind
//! of content, the CKKS parameters (as JSON, so a server can build its context from the key
//! file alone), the context id, the id of the key set the content belongs to, and a free-form
//! JSON string for the application. It is at most [`MAX_HEADER`] bytes and has its own
//! digest, checked before any field of it is read: a damaged header is refused before its
//! parameters can make a reader build anything. Readers then check every field, every
//! residue (below its prime) and the whole-file digest, and refuse with a one-line
//! [`WireError`]: a corrupt, truncated, foreign or mismatched file never decodes into a
//! wrong value. Counts in the body are checked against the context before anything is
//! allocated for them, and memory grows only with bytes actually read.

use std::io::{Read, Write};

use sha2::{Digest as _, Sha256};

use crate::ckks::ring::RnsPoly;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::keys::{EvaluationKeys, SecretKey, SwitchingKey};
use crate::ckks::scheme::params::ParametersLiteral;

/// First bytes of every file.
pub const MAGIC: [u8; 8] = *b"CELLWISE";
/// Format version written; readers accept exactly this one. Version 3 added the header's
/// length and digest (version 2 files had neither; version 1 held expanded switching keys).
pub const VERSION: u32 = 3;
/// Largest header, in bytes. A header holds the parameters (at most
/// [`crate::ckks::scheme::params::MAX_PRIMES`] primes: about 2 KB of JSON) and a short
/// application note; it is read into memory before its digest is checked, so its size is
/// bounded first.
pub const MAX_HEADER: usize = 64 << 10;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ciphertexts.
    Ciphertexts,
    /// Evaluation and bootstrapping keys (nothing secret).
    ServerKeys,
    /// The client's secret key.
    SecretKey,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Ciphertexts => 1,
            Kind::ServerKeys => 2,
            Kind::SecretKey => 3,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        [Kind::Ciphertexts, Kind::ServerKeys, Kind::SecretKey]
            .into_iter()
            .find(|k| k.code() == code)
    }

    /// Name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ciphertexts => "ciphertexts",
            Kind::ServerKeys => "server keys",
            Kind::SecretKey => "secret key",
        }
    }
}

/// Why a file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Reading or writing failed (including a file that ends early).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a cellwise file.
    #[error("not a cellwise CKKS file (bad magic bytes)")]
    Magic,
    /// A file of another format version.
    #[error(
        "format version {found} is not supported (this build reads version {VERSION}): make the file again with this build"
    )]
    Version {
        /// Version in the file.
        found: u32,
    },
    /// A file of another kind than expected.
    #[error("holds {found}, expected {expected}")]
    Kind {
        /// What was expected.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// The header's digest does not match: nothing in the header was used.
    #[error("header checksum mismatch: the header is corrupt")]
    HeaderChecksum,
    /// The digest does not match: the file was altered or damaged.
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    /// Content of other parameters than expected.
    #[error("belongs to another CKKS context (id {found:016x}, expected {expected:016x})")]
    Context {
        /// Id expected.
        expected: u64,
        /// Id in the file.
        found: u64,
    },
    /// Content of another key set than expected.
    #[error(
        "was made with other keys (key set {found:016x}, expected {expected:016x}): use the files of one key generation"
    )]
    KeySet {
        /// Key set expected.
        expected: u64,
        /// Key set in the file.
        found: u64,
    },
    /// A field holds an impossible value.
    #[error("malformed: {0}")]
    Malformed(String),
}

/// The header of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// What the body holds.
    pub kind: Kind,
    /// Parameters of the context the content belongs to.
    pub params: ParametersLiteral,
    /// Id of that context ([`crate::ckks::scheme::params::Parameters::id`]).
    pub context_id: u64,
    /// Id of the key set the content belongs to.
    pub key_set: u64,
    /// Application data (JSON).
    pub meta: String,
}

/// Streams a file out, hashing as it goes.
pub struct WireWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> WireWriter<W> {
    /// Starts a file with its header and the header's digest.
    pub fn new(inner: W, header: &Header) -> Result<Self, WireError> {
        let params = serde_json::to_string(&header.params)
            .map_err(|e| WireError::Malformed(format!("parameters: {e}")))?;
        let size = 4 + 4 + params.len() + 16 + 4 + header.meta.len();
        if size > MAX_HEADER {
            return Err(WireError::Malformed(format!(
                "a header of {size} bytes, at most {MAX_HEADER}"
            )));
        }
        // Each length fits in a u32: both texts are below MAX_HEADER.
        let mut h = Vec::with_capacity(size);
        h.extend(header.kind.code().to_le_bytes());
        h.extend((params.len() as u32).to_le_bytes());
        h.extend(params.as_bytes());
        h.extend(header.context_id.to_le_bytes());
        h.extend(header.key_set.to_le_bytes());
        h.extend((header.meta.len() as u32).to_le_bytes());
        h.extend(header.meta.as_bytes());
        let mut w = Self {
            inner,
            hash: Sha256::new(),
        };
        w.bytes(&MAGIC)?;
        w.u32(VERSION)?;
        w.u32(h.len() as u32)?;
        w.bytes(&h)?;
        let digest = w.hash.clone().finalize();
        w.bytes(&digest)?;
        Ok(w)
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), WireError> {
        self.hash.update(b);
        self.inner.write_all(b)?;
        Ok(())
    }

    /// Writes a u32.
    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes a u64.
    pub fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes an f64.
    pub fn f64(&mut self, v: f64) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes an RNS polynomial (limb count, form, residues).
    pub fn poly(&mut self, p: &RnsPoly) -> Result<(), WireError> {
        self.u32(p.limbs.len() as u32)?;
        self.u32(u32::from(p.ntt))?;
        let mut buf = Vec::new();
        for limb in &p.limbs {
            buf.clear();
            buf.extend(limb.iter().flat_map(|v| v.to_le_bytes()));
            self.bytes(&buf)?;
        }
        Ok(())
    }

    /// Writes a ciphertext.
    pub fn ciphertext(&mut self, ct: &Ciphertext) -> Result<(), WireError> {
        self.u32(ct.level as u32)?;
        self.f64(ct.scale)?;
        self.poly(&ct.c0)?;
        self.poly(&ct.c1)
    }

    /// Writes a switching key (its `b` halves and the seed of its `a` halves).
    pub fn switching_key(&mut self, k: &SwitchingKey) -> Result<(), WireError> {
        self.u32(k.b.len() as u32)?;
        for b in &k.b {
            self.poly(b)?;
        }
        self.bytes(&k.seed)
    }

    /// Writes evaluation keys.
    pub fn evaluation_keys(&mut self, k: &EvaluationKeys) -> Result<(), WireError> {
        match &k.relin {
            Some(r) => {
                self.u32(1)?;
                self.switching_key(r)?;
            }
            None => self.u32(0)?,
        }
        self.u32(k.galois.len() as u32)?;
        for (&g, key) in &k.galois {
            self.u64(g as u64)?;
            self.switching_key(key)?;
        }
        Ok(())
    }

    /// Writes a secret key.
    pub fn secret_key(&mut self, sk: &SecretKey) -> Result<(), WireError> {
        self.poly(&sk.s)
    }

    /// Appends the digest and returns the sink and the digest (which names the file's
    /// content).
    pub fn finish(mut self) -> Result<(W, Digest), WireError> {
        let digest: Digest = std::mem::take(&mut self.hash).finalize().into();
        self.inner.write_all(&digest)?;
        self.inner.flush()?;
        Ok((self.inner, digest))
    }
}

/// Streams a file in, hashing as it goes. Nothing read is trusted until [`WireReader::finish`]
/// has checked the digest.
pub struct WireReader<R: Read> {
    inner: R,
    hash: Sha256,
    header: Header,
}

impl<R: Read> WireReader<R> {
    /// Reads the header and checks, in this order: magic, version, the header's size
    /// (at most [`MAX_HEADER`]), its digest, then its fields (`kind` first). Nothing in the
    /// header is read before its digest matches. The parameters are only parsed here:
    /// [`ParametersLiteral::build`] bounds them before a context is made.
    pub fn new(mut inner: R, kind: Kind) -> Result<Self, WireError> {
        let mut hash = Sha256::new();
        let mut read = |buf: &mut [u8]| read_hashed(&mut inner, &mut hash, buf);
        let mut magic = [0u8; 8];
        read(&mut magic).map_err(|_| WireError::Magic)?;
        if magic != MAGIC {
            return Err(WireError::Magic);
        }
        let mut word = [0u8; 4];
        read(&mut word)?;
        let version = u32::from_le_bytes(word);
        if version != VERSION {
            return Err(WireError::Version { found: version });
        }
        read(&mut word)?;
        let size = u32::from_le_bytes(word) as usize;
        if size > MAX_HEADER {
            return Err(WireError::Malformed(format!(
                "a header of {size} bytes, at most {MAX_HEADER}"
            )));
        }
        let mut bytes = vec![0u8; size];
        read(&mut bytes)?;
        let want: Digest = hash.clone().finalize().into();
        let mut got: Digest = [0u8; 32];
        read_hashed(&mut inner, &mut hash, &mut got)?;
        if got != want {
            return Err(WireError::HeaderChecksum);
        }
        Ok(Self {
            header: parse_header(&bytes, kind)?,
            inner,
            hash,
        })
    }

    /// The header (its parameters not yet checked against a context: see
    /// [`WireReader::expect`]).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Refuses a file of another context or key set.
    pub fn expect(&self, ctx: &Context, key_set: Option<u64>) -> Result<(), WireError> {
        if self.header.context_id != ctx.id() {
            return Err(WireError::Context {
                expected: ctx.id(),
                found: self.header.context_id,
            });
        }
        match key_set {
            Some(k) if k != self.header.key_set => Err(WireError::KeySet {
                expected: k,
                found: self.header.key_set,
            }),
            _ => Ok(()),
        }
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        read_hashed(&mut self.inner, &mut self.hash, buf)
    }

    /// Reads a u32.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a u64.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads an f64.
    pub fn f64(&mut self) -> Result<f64, WireError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    /// Reads a count and refuses one above `max`.
    pub fn count(&mut self, what: &str, max: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(WireError::Malformed(format!(
                "{n} {what}, at most {max} possible"
            )));
        }
        Ok(n)
    }

    /// Reads an RNS polynomial in NTT form over the ring primes `primes` (indices into the
    /// context's ring), checking every residue.
    pub fn poly(&mut self, ctx: &Context, primes: &[usize]) -> Result<RnsPoly, WireError> {
        let limbs = self.u32()? as usize;
        if limbs != primes.len() {
            return Err(WireError::Malformed(format!(
                "a polynomial of {limbs} limbs where {} were expected",
                primes.len()
            )));
        }
        if self.u32()? != 1 {
            return Err(WireError::Malformed("a polynomial not in NTT form".into()));
        }
        let n = ctx.n();
        let mut buf = vec![0u8; 8 * n];
        let mut out = Vec::with_capacity(limbs);
        for &i in primes {
            self.fill(&mut buf)?;
            let q = ctx.modulus(i).value;
            let limb: Vec<u64> = buf
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    u64::from_le_bytes(b)
                })
                .collect();
            if limb.iter().any(|&v| v >= q) {
                return Err(WireError::Malformed(format!(
                    "a residue not below its prime (limb {i})"
                )));
            }
            out.push(limb);
        }
        Ok(RnsPoly {
            limbs: out,
            ntt: true,
        })
    }

    /// Reads a ciphertext of `ctx`.
    pub fn ciphertext(&mut self, ctx: &Context) -> Result<Ciphertext, WireError> {
        let level = self.u32()? as usize;
        let max = ctx.params().max_level();
        if level > max {
            return Err(WireError::Malformed(format!(
                "ciphertext level {level} above the chain's maximum {max}"
            )));
        }
        let scale = self.f64()?;
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(WireError::Malformed(format!("ciphertext scale {scale}")));
        }
        let primes: Vec<usize> = (0..=level).collect();
        let c0 = self.poly(ctx, &primes)?;
        let c1 = self.poly(ctx, &primes)?;
        Ok(Ciphertext {
            c0,
            c1,
            level,
            scale,
            context_id: ctx.id(),
        })
    }

    /// Reads a switching key of `ctx` (every Q and P prime).
    pub fn switching_key(&mut self, ctx: &Context) -> Result<SwitchingKey, WireError> {
        let dnum = ctx.params().literal().dnum;
        let digits = self.u32()? as usize;
        if digits != dnum {
            return Err(WireError::Malformed(format!(
                "a switching key of {digits} digits where the parameters have {dnum}"
            )));
        }
        let all: Vec<usize> = (0..ctx.q_count() + ctx.p_count()).collect();
        let b = (0..digits)
            .map(|_| self.poly(ctx, &all))
            .collect::<Result<_, WireError>>()?;
        let mut seed = [0u8; 32];
        self.fill(&mut seed)?;
        Ok(SwitchingKey {
            b,
            seed,
            a: None,
            context_id: ctx.id(),
        })
    }

    /// Reads evaluation keys of `ctx`.
    pub fn evaluation_keys(&mut self, ctx: &Context) -> Result<EvaluationKeys, WireError> {
        let relin = match self.u32()? {
            0 => None,
            1 => Some(std::sync::Arc::new(self.switching_key(ctx)?)),
            f => {
                return Err(WireError::Malformed(format!(
                    "relinearisation key flag {f}"
                )));
            }
        };
        let n = self.count("Galois keys", ctx.n())?;
        let mut galois = std::collections::BTreeMap::new();
        for _ in 0..n {
            let g = self.u64()? as usize;
            if g.is_multiple_of(2) || g >= 2 * ctx.n() || galois.contains_key(&g) {
                return Err(WireError::Malformed(format!(
                    "Galois element {g} (not odd below 2N, or repeated)"
                )));
            }
            galois.insert(g, std::sync::Arc::new(self.switching_key(ctx)?));
        }
        Ok(EvaluationKeys { relin, galois })
    }

    /// Reads a secret key of `ctx`.
    pub fn secret_key(&mut self, ctx: &Context) -> Result<SecretKey, WireError> {
        let all: Vec<usize> = (0..ctx.q_count() + ctx.p_count()).collect();
        Ok(SecretKey {
            s: self.poly(ctx, &all)?,
            context_id: ctx.id(),
        })
    }

    /// Checks the digest and that nothing follows it; returns the digest (which names the
    /// file's content).
    pub fn finish(mut self) -> Result<Digest, WireError> {
        let want: Digest = std::mem::take(&mut self.hash).finalize().into();
        let mut got = [0u8; 32];
        self.inner
            .read_exact(&mut got)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => WireError::Checksum,
                _ => WireError::Io(e),
            })?;
        if got != want {
            return Err(WireError::Checksum);
        }
        let mut extra = [0u8; 1];
        if self.inner.read(&mut extra)? != 0 {
            return Err(WireError::Malformed("bytes after the checksum".into()));
        }
        Ok(want)
    }
}

/// Reads exactly `buf.len()` bytes into `buf` and hashes them; a file that ends early is
/// reported as truncated.
fn read_hashed(inner: &mut impl Read, hash: &mut Sha256, buf: &mut [u8]) -> Result<(), WireError> {
    inner.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            WireError::Malformed("the file ends early (truncated)".into())
        }
        _ => WireError::Io(e),
    })?;
    hash.update(&*buf);
    Ok(())
}

/// A cursor over the bytes of a header.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Malformed("the header ends early".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        self.take().map(u64::from_le_bytes)
    }

    fn text(&mut self) -> Result<&'a str, WireError> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.bytes(len)?)
            .map_err(|_| WireError::Malformed("header text is not UTF-8".into()))
    }
}

/// The fields of a header whose digest has been checked, expecting content of `kind`.
fn parse_header(bytes: &[u8], kind: Kind) -> Result<Header, WireError> {
    let mut f = Fields(bytes);
    let code = f.u32()?;
    let found = Kind::from_code(code);
    if found != Some(kind) {
        return Err(WireError::Kind {
            expected: kind.name(),
            found: found.map_or(format!("unknown content {code}"), |k| k.name().into()),
        });
    }
    let params = serde_json::from_str(f.text()?)
        .map_err(|e| WireError::Malformed(format!("parameters: {e}")))?;
    let header = Header {
        kind,
        params,
        context_id: f.u64()?,
        key_set: f.u64()?,
        meta: f.text()?.to_string(),
    };
    if !f.0.is_empty() {
        return Err(WireError::Malformed(
            "bytes after the header's fields".into(),
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ckks::scheme::encryption::{Decryptor, Encryptor};
    use crate::ckks::scheme::keys::KeyGenerator;

    fn setup() -> (Arc<Context>, ParametersLiteral) {
        let lit = ParametersLiteral::preset("test-small").unwrap();
        let ctx = Context::new(&lit.build().unwrap()).unwrap();
        (ctx, lit)
    }

    fn header(ctx: &Context, lit: &ParametersLiteral, kind: Kind) -> Header {
        Header {
            kind,
            params: lit.clone(),
            context_id: ctx.id(),
            key_set: 42,
            meta: "{\"images\": 3}".into(),
        }
    }

    fn ciphertext_file(ctx: &Arc<Context>, lit: &ParametersLiteral) -> (Vec<u8>, Vec<f64>) {
        let mut kg = KeyGenerator::new(ctx, Some(1));
        let sk = kg.secret_key();
        let enc = Encryptor::secret(ctx, &sk, Some(2)).unwrap();
        let values: Vec<f64> = (0..16).map(|i| i as f64 / 16.0).collect();
        let ct = enc
            .encrypt_values(&values, 3, ctx.params().default_scale())
            .unwrap();
        let mut w = WireWriter::new(Vec::new(), &header(ctx, lit, Kind::Ciphertexts)).unwrap();
        w.ciphertext(&ct).unwrap();
        w.secret_key(&sk).unwrap();
        (w.finish().unwrap().0, values)
    }

    #[test]
    fn ciphertexts_and_keys_round_trip() {
        let (ctx, lit) = setup();
        let (bytes, values) = ciphertext_file(&ctx, &lit);
        let mut r = WireReader::new(&bytes[..], Kind::Ciphertexts).unwrap();
        r.expect(&ctx, Some(42)).unwrap();
        assert_eq!(r.header().meta, "{\"images\": 3}");
        assert_eq!(r.header().params, lit);
        let ct = r.ciphertext(&ctx).unwrap();
        let sk = r.secret_key(&ctx).unwrap();
        r.finish().unwrap();
        let got = Decryptor::new(&ctx, &sk)
            .unwrap()
            .decrypt_values(&ct)
            .unwrap();
        let err = got
            .iter()
            .zip(&values)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-6, "{err}");

        let mut kg = KeyGenerator::new(&ctx, Some(3));
        let sk = kg.secret_key();
        let keys = kg.evaluation_keys(&sk, &[1, 5], true);
        let mut w = WireWriter::new(Vec::new(), &header(&ctx, &lit, Kind::ServerKeys)).unwrap();
        w.evaluation_keys(&keys).unwrap();
        let (bytes, digest) = w.finish().unwrap();
        let mut r = WireReader::new(&bytes[..], Kind::ServerKeys).unwrap();
        let back = r.evaluation_keys(&ctx).unwrap();
        assert_eq!(r.finish().unwrap(), digest);
        assert_eq!(digest[..], bytes[bytes.len() - 32..]);
        assert_eq!(
            back.galois_elements().collect::<Vec<_>>(),
            keys.galois_elements().collect::<Vec<_>>()
        );
        let (k0, k1) = (
            back.galois.values().next().unwrap(),
            keys.galois.values().next().unwrap(),
        );
        assert_eq!((&k0.b, k0.seed), (&k1.b, k1.seed));
    }

    #[test]
    fn damaged_and_foreign_files_are_refused() {
        let (ctx, lit) = setup();
        let (bytes, _) = ciphertext_file(&ctx, &lit);
        let read_all = |b: &[u8]| -> Result<(), WireError> {
            let mut r = WireReader::new(b, Kind::Ciphertexts)?;
            r.expect(&ctx, Some(42))?;
            r.ciphertext(&ctx)?;
            r.secret_key(&ctx)?;
            r.finish().map(|_| ())
        };
        read_all(&bytes).unwrap();
        // One flipped bit in the body: a residue out of range or a checksum mismatch.
        let mut bad = bytes.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x04;
        let err = read_all(&bad).unwrap_err();
        assert!(
            matches!(err, WireError::Checksum | WireError::Malformed(_)),
            "{err}"
        );
        // Truncated.
        let err = read_all(&bytes[..bytes.len() - 100]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        // Trailing garbage.
        let mut long = bytes.clone();
        long.push(0);
        assert!(read_all(&long).unwrap_err().to_string().contains("after"));
        // Not ours, another version, another kind.
        assert!(matches!(read_all(b"hello").unwrap_err(), WireError::Magic));
        // Version 1 held expanded switching keys, version 2 had no header digest.
        for old in [1, 2] {
            let mut v = bytes.clone();
            v[8] = old;
            let err = read_all(&v).unwrap_err();
            assert!(matches!(err, WireError::Version { found } if found == old as u32));
            assert!(err.to_string().contains("make the file again"), "{err}");
        }
        // A damaged header is refused before any of its fields is read, a header too large
        // to be one before it is read at all.
        let mut bad = bytes.clone();
        let key = b"\"levels\":";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
        bad[at + key.len()] ^= 0x01; // levels 5 -> 4, a valid header of other parameters
        assert!(matches!(
            read_all(&bad).unwrap_err(),
            WireError::HeaderChecksum
        ));
        let mut huge = bytes.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&huge).unwrap_err().to_string().contains("at most"));
        let err = WireReader::new(&bytes[..], Kind::ServerKeys).err().unwrap();
        assert!(err.to_string().contains("expected server keys"), "{err}");
        // Another key set, another context.
        let r = WireReader::new(&bytes[..], Kind::Ciphertexts).unwrap();
        assert!(matches!(
            r.expect(&ctx, Some(7)).unwrap_err(),
            WireError::KeySet { .. }
        ));
        let other = Context::new(
            &ParametersLiteral::preset("test-medium")
                .unwrap()
                .build()
                .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            r.expect(&other, None).unwrap_err(),
            WireError::Context { .. }
        ));
    }

    #[test]
    fn a_header_is_bounded_before_its_parameters_are_used() {
        let (ctx, mut lit) = setup();
        lit.levels = 3000;
        let h = header(&ctx, &lit, Kind::ServerKeys);
        let (bytes, _) = WireWriter::new(Vec::new(), &h).unwrap().finish().unwrap();
        let r = WireReader::new(&bytes[..], Kind::ServerKeys).unwrap();
        let err = r.header().params.build().unwrap_err();
        assert!(err.to_string().starts_with("levels = 3000"), "{err}");
        let long = Header {
            meta: "x".repeat(MAX_HEADER),
            ..h
        };
        assert!(WireWriter::new(Vec::new(), &long).is_err());
    }
}
