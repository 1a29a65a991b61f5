//! The files of the two-process mode, in the versioned [`crate::ckks::scheme::wire`]
//! format. A client writes `secret.key` (for itself only: mode 0600) and `server.keys`, then
//! `inputs.ct`; the server reads the keys and inputs and writes `logits.ct`, which names the
//! inputs file it answers by its digest; the client decrypts that. Every file names its
//! parameters, key set and network shape, so a file of another key generation, another
//! parameter set, another role or another batch is refused before anything is computed.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ckks::bootstrap::EncapsulationKeys;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::params::ParametersLiteral;
use crate::ckks::scheme::wire::{Digest, Header, Kind, WireError, WireReader, WireWriter};

use super::InferError;
use super::client::{Client, NetShape, ServerKeys};

/// The client's secret key file.
pub const SECRET_KEY: &str = "secret.key";
/// The server's keys.
pub const SERVER_KEYS: &str = "server.keys";
/// The encrypted inputs.
pub const INPUTS: &str = "inputs.ct";
/// The encrypted logits.
pub const LOGITS: &str = "logits.ct";

/// The key file permissions: secret material is readable by its owner only.
const SECRET_MODE: u32 = 0o600;

/// What a ciphertext file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// One ciphertext per step.
    Inputs,
    /// The logits.
    Logits,
}

impl Role {
    /// Name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Inputs => "input",
            Role::Logits => "logit",
        }
    }
}

/// The application data of a file's header.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    shape: NetShape,
    role: Option<Role>,
    images: usize,
    /// Logits: the digest of the inputs file they answer (hex).
    batch: Option<String>,
}

/// What a ciphertext file says about its ciphertexts.
#[derive(Clone, Debug, PartialEq)]
pub struct CiphertextInfo {
    /// The key set they are encrypted under.
    pub key_set: u64,
    /// The network shape.
    pub shape: NetShape,
    /// Inputs or logits.
    pub role: Role,
    /// Images in the batch.
    pub images: usize,
    /// Logits: the digest of the inputs file (its [`CiphertextFile::digest`]) they answer.
    pub batch: Option<Digest>,
}

/// A ciphertext file, read and checked.
pub struct CiphertextFile {
    /// What the header says.
    pub info: CiphertextInfo,
    /// The ciphertexts: one per step for inputs, one for logits.
    pub ciphertexts: Vec<Ciphertext>,
    /// The file's digest: it names the batch.
    pub digest: Digest,
}

/// A digest as lowercase hex.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest from [`hex`] text.
fn from_hex(text: &str) -> Option<Digest> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(d)
}

/// Writes `header` and `body` to `path` atomically ([`crate::fsutil::write_atomic_with`]),
/// or with permissions `mode` when given ([`crate::fsutil::write_atomic_with_mode`]).
/// Returns the file's digest.
fn write_file(
    path: &Path,
    header: &Header,
    mode: Option<u32>,
    body: impl FnOnce(&mut WireWriter<&mut BufWriter<File>>) -> Result<(), WireError>,
) -> Result<Digest, InferError> {
    let mut digest = [0u8; 32];
    let write = |out: &mut BufWriter<File>| {
        let mut w = WireWriter::new(out, header)?;
        body(&mut w)?;
        digest = w.finish()?.1;
        Ok::<(), WireError>(())
    };
    match mode {
        Some(mode) => crate::fsutil::write_atomic_with_mode(path, mode, write),
        None => crate::fsutil::write_atomic_with(path, write),
    }
    .map_err(|e| at(path, e))?;
    Ok(digest)
}

fn at(path: &Path, e: WireError) -> InferError {
    InferError::Invalid(format!("{}: {e}", path.display()))
}

fn open(path: &Path, kind: Kind) -> Result<WireReader<BufReader<File>>, InferError> {
    let file =
        File::open(path).map_err(|e| InferError::Invalid(format!("{}: {e}", path.display())))?;
    WireReader::new(BufReader::with_capacity(1 << 20, file), kind).map_err(|e| at(path, e))
}

/// The header's application data, its shape checked against its bounds.
fn meta(path: &Path, r: &WireReader<BufReader<File>>) -> Result<Meta, InferError> {
    let m: Meta = serde_json::from_str(&r.header().meta)
        .map_err(|e| at(path, WireError::Malformed(format!("header data: {e}"))))?;
    m.shape
        .check()
        .map_err(|e| InferError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(m)
}

/// The context of a file's parameters. The parameters are bounded
/// ([`ParametersLiteral::build`]) and their id checked against the one the header claims
/// before the context is made.
fn context_of(path: &Path, r: &WireReader<BufReader<File>>) -> Result<Arc<Context>, InferError> {
    let params = r
        .header()
        .params
        .build()
        .map_err(|e| InferError::Invalid(format!("{}: parameters: {e}", path.display())))?;
    let claimed = r.header().context_id;
    if params.id() != claimed {
        return Err(at(
            path,
            WireError::Context {
                expected: params.id(),
                found: claimed,
            },
        ));
    }
    Ok(Context::new(&params)?)
}

fn header(
    kind: Kind,
    params: &ParametersLiteral,
    ctx: &Context,
    key_set: u64,
    meta: &Meta,
) -> Header {
    Header {
        kind,
        params: params.clone(),
        context_id: ctx.id(),
        key_set,
        // Invariant: Meta is plain data that always serialises.
        meta: serde_json::to_string(meta).expect("metadata serialises"),
    }
}

/// Writes the client's secret key file, readable by its owner only (mode 0600), atomically.
pub fn write_secret(path: &Path, client: &Client) -> Result<(), InferError> {
    let m = Meta {
        shape: client.shape(),
        role: None,
        images: 0,
        batch: None,
    };
    let h = header(
        Kind::SecretKey,
        client.params(),
        client.context(),
        client.key_set(),
        &m,
    );
    write_file(path, &h, Some(SECRET_MODE), |w| {
        w.secret_key(client.secret_key())
    })?;
    Ok(())
}

/// Reads a secret key file back into a client (`seed`: of its encryptions).
pub fn read_secret(path: &Path, seed: Option<u64>) -> Result<Client, InferError> {
    let mut r = open(path, Kind::SecretKey)?;
    let ctx = context_of(path, &r)?;
    let m = meta(path, &r)?;
    let sk = r.secret_key(&ctx).map_err(|e| at(path, e))?;
    let (params, key_set) = (r.header().params.clone(), r.header().key_set);
    r.finish().map_err(|e| at(path, e))?;
    Client::from_secret(&params, m.shape, sk, key_set, seed)
}

/// Writes the server's keys.
pub fn write_server_keys(path: &Path, keys: &ServerKeys) -> Result<(), InferError> {
    let ctx = Context::new(&keys.params.build()?)?;
    let m = Meta {
        shape: keys.shape,
        role: None,
        images: 0,
        batch: None,
    };
    let h = header(Kind::ServerKeys, &keys.params, &ctx, keys.key_set, &m);
    write_file(path, &h, None, |w| {
        w.evaluation_keys(&keys.eval)?;
        keys.encapsulation.write(w)
    })?;
    Ok(())
}

/// Reads the server's keys.
pub fn read_server_keys(path: &Path) -> Result<ServerKeys, InferError> {
    let mut r = open(path, Kind::ServerKeys)?;
    let m = meta(path, &r)?;
    let ctx = context_of(path, &r)?;
    let eval = r.evaluation_keys(&ctx).map_err(|e| at(path, e))?;
    let encapsulation = EncapsulationKeys::read(&mut r, &ctx).map_err(|e| at(path, e))?;
    let (params, key_set) = (r.header().params.clone(), r.header().key_set);
    r.finish().map_err(|e| at(path, e))?;
    Ok(ServerKeys {
        params,
        key_set,
        shape: m.shape,
        eval,
        encapsulation,
    })
}

/// Writes `cts`, described by `info`, under the parameters `params` of `ctx`; returns the
/// file's digest (what logits name as their batch).
pub fn write_ciphertexts(
    path: &Path,
    params: &ParametersLiteral,
    ctx: &Context,
    info: &CiphertextInfo,
    cts: &[Ciphertext],
) -> Result<Digest, InferError> {
    let m = Meta {
        shape: info.shape,
        role: Some(info.role),
        images: info.images,
        batch: info.batch.as_ref().map(hex),
    };
    let h = header(Kind::Ciphertexts, params, ctx, info.key_set, &m);
    write_file(path, &h, None, |w| {
        w.u32(cts.len() as u32)?;
        cts.iter().try_for_each(|ct| w.ciphertext(ct))
    })
}

/// Reads ciphertexts of `role` of context `ctx`, key set `key_set` and network `shape`. The
/// count is checked before any ciphertext is read (one per step for inputs, one for logits),
/// the images against the batch capacity, a logits file's batch digest for its form.
pub fn read_ciphertexts(
    path: &Path,
    ctx: &Context,
    key_set: u64,
    shape: NetShape,
    role: Role,
) -> Result<CiphertextFile, InferError> {
    let bad = |m: String| at(path, WireError::Malformed(m));
    let mut r = open(path, Kind::Ciphertexts)?;
    r.expect(ctx, Some(key_set)).map_err(|e| at(path, e))?;
    let m = meta(path, &r)?;
    if m.role != Some(role) {
        let found = m.role.map_or("unlabelled", Role::name);
        return Err(bad(format!(
            "holds {found} ciphertexts, expected {}",
            role.name()
        )));
    }
    if m.shape != shape {
        return Err(bad(
            "ciphertexts of another network shape than the keys'".into()
        ));
    }
    let capacity = shape.layout(ctx.params().slots())?.batch;
    if !(1..=capacity).contains(&m.images) {
        return Err(bad(format!(
            "a batch of {} images, 1 to {capacity} possible",
            m.images
        )));
    }
    let batch = match (role, &m.batch) {
        (Role::Inputs, None) => None,
        (Role::Logits, Some(text)) => {
            Some(from_hex(text).ok_or_else(|| bad(format!("batch digest '{text}'")))?)
        }
        _ => {
            return Err(bad(format!(
                "the batch digest of {} ciphertexts",
                role.name()
            )));
        }
    };
    let want = match role {
        Role::Inputs => shape.steps,
        Role::Logits => 1,
    };
    let n = r.count("ciphertexts", want).map_err(|e| at(path, e))?;
    if n != want {
        return Err(bad(format!("{n} ciphertexts where {want} were expected")));
    }
    let ciphertexts = (0..n)
        .map(|_| r.ciphertext(ctx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| at(path, e))?;
    let digest = r.finish().map_err(|e| at(path, e))?;
    Ok(CiphertextFile {
        info: CiphertextInfo {
            key_set,
            shape,
            role,
            images: m.images,
            batch,
        },
        ciphertexts,
        digest,
    })
}
