//! The files of the two-process mode, in the versioned [`crate::ckks::scheme::wire`]
//! format. A client writes `secret.key` (for itself) and `server.keys`, then `inputs.ct`; the
//! server reads the keys and inputs and writes `logits.ct`; the client decrypts that. Every
//! file names its parameters and key set, so a file of another key generation, another
//! parameter set or another role is refused before anything is computed.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ckks::bootstrap::EncapsulationKeys;
use crate::ckks::scheme::ciphertext::Ciphertext;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::params::ParametersLiteral;
use crate::ckks::scheme::wire::{Header, Kind, WireError, WireReader, WireWriter};

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

/// Most ciphertexts one file may hold.
const MAX_CIPHERTEXTS: usize = 1 << 16;

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

#[derive(Serialize, Deserialize)]
struct Meta {
    shape: NetShape,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    images: usize,
}

/// Writes `header` and `body` to `path` atomically ([`crate::fsutil::write_atomic_with`]).
fn write_file(
    path: &Path,
    header: &Header,
    body: impl FnOnce(&mut WireWriter<&mut BufWriter<File>>) -> Result<(), WireError>,
) -> Result<(), InferError> {
    crate::fsutil::write_atomic_with(path, |out| {
        let mut w = WireWriter::new(out, header)?;
        body(&mut w)?;
        w.finish()?;
        Ok(())
    })
    .map_err(|e| at(path, e))
}

fn at(path: &Path, e: WireError) -> InferError {
    InferError::Invalid(format!("{}: {e}", path.display()))
}

fn open(path: &Path, kind: Kind) -> Result<WireReader<BufReader<File>>, InferError> {
    let file =
        File::open(path).map_err(|e| InferError::Invalid(format!("{}: {e}", path.display())))?;
    WireReader::new(BufReader::with_capacity(1 << 20, file), kind).map_err(|e| at(path, e))
}

fn meta(path: &Path, r: &WireReader<BufReader<File>>) -> Result<Meta, InferError> {
    serde_json::from_str(&r.header().meta)
        .map_err(|e| at(path, WireError::Malformed(format!("header data: {e}"))))
}

/// The context of a file's parameters, checked against the id it claims.
fn context_of(path: &Path, r: &WireReader<BufReader<File>>) -> Result<Arc<Context>, InferError> {
    let params = r
        .header()
        .params
        .build()
        .map_err(|e| InferError::Invalid(format!("{}: parameters: {e}", path.display())))?;
    let ctx = Context::new(&params)?;
    r.expect(&ctx, None).map_err(|e| at(path, e))?;
    Ok(ctx)
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

/// Writes the client's secret key file.
pub fn write_secret(path: &Path, client: &Client) -> Result<(), InferError> {
    let m = Meta {
        shape: client.shape(),
        role: None,
        images: 0,
    };
    let h = header(
        Kind::SecretKey,
        client.params(),
        client.context(),
        client.key_set(),
        &m,
    );
    write_file(path, &h, |w| w.secret_key(client.secret_key()))
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
    };
    let h = header(Kind::ServerKeys, &keys.params, &ctx, keys.key_set, &m);
    write_file(path, &h, |w| {
        w.evaluation_keys(&keys.eval)?;
        keys.encapsulation.write(w)
    })
}

/// Reads the server's keys.
pub fn read_server_keys(path: &Path) -> Result<ServerKeys, InferError> {
    let mut r = open(path, Kind::ServerKeys)?;
    let ctx = context_of(path, &r)?;
    let m = meta(path, &r)?;
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

/// Writes ciphertexts of `role` for `images` images under the key set `key_set`.
#[allow(clippy::too_many_arguments)]
pub fn write_ciphertexts(
    path: &Path,
    params: &ParametersLiteral,
    ctx: &Context,
    shape: NetShape,
    key_set: u64,
    role: Role,
    images: usize,
    cts: &[Ciphertext],
) -> Result<(), InferError> {
    let m = Meta {
        shape,
        role: Some(role),
        images,
    };
    let h = header(Kind::Ciphertexts, params, ctx, key_set, &m);
    write_file(path, &h, |w| {
        w.u32(cts.len() as u32)?;
        cts.iter().try_for_each(|ct| w.ciphertext(ct))
    })
}

/// Reads ciphertexts of `role` of context `ctx` and key set `key_set`: (images, ciphertexts).
pub fn read_ciphertexts(
    path: &Path,
    ctx: &Context,
    key_set: u64,
    role: Role,
) -> Result<(usize, Vec<Ciphertext>), InferError> {
    let mut r = open(path, Kind::Ciphertexts)?;
    r.expect(ctx, Some(key_set)).map_err(|e| at(path, e))?;
    let m = meta(path, &r)?;
    if m.role != Some(role) {
        let found = m.role.map_or("unlabelled", Role::name);
        return Err(at(
            path,
            WireError::Malformed(format!(
                "holds {found} ciphertexts, expected {}",
                role.name()
            )),
        ));
    }
    let n = r
        .count("ciphertexts", MAX_CIPHERTEXTS)
        .map_err(|e| at(path, e))?;
    let cts = (0..n)
        .map(|_| r.ciphertext(ctx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| at(path, e))?;
    r.finish().map_err(|e| at(path, e))?;
    Ok((m.images, cts))
}
