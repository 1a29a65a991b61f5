//! Keys, ciphertext files and CKKS parameters: bounds before allocation, authenticated
//! headers, secret material on disk, the 128-bit check.
//!
//! The command-line cases share one key set made the way README's two-process example makes
//! it (client and server in separate directories, at `--preset test-boot --insecure`), see
//! [`fixture`]. The property tests at the end feed arbitrary and mutated bytes to every parser
//! of untrusted bytes (wire files, the two-process files, the parameters' TOML) and check
//! that each returns an error rather than panicking, within a stated allocation bound (this
//! module counts the bytes each thread holds: [`alloc_count`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use cellwise::ckks::scheme::params::ParametersLiteral;
use cellwise::ckks::scheme::wire::{Header, Kind, WireReader, WireWriter};
use sha2::{Digest as _, Sha256};

/// Runs the binary: (success, stdout, stderr).
fn cellwise(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cellwise"))
        .args(args)
        .env_remove("CELLWISE_DATA_DIR")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary and asserts success; returns stdout.
fn succeeds(args: &[&str]) -> String {
    let (ok, stdout, stderr) = cellwise(args);
    assert!(ok, "cellwise {args:?}: {stderr}");
    stdout
}

/// Asserts a non-zero exit with one line on stderr, `error: ...` naming `needle`, no panic,
/// within `seconds`; returns the line.
fn fails_within(seconds: f64, args: &[&str], needle: &str) -> String {
    let t = Instant::now();
    let (ok, _, stderr) = cellwise(args);
    let took = t.elapsed().as_secs_f64();
    assert!(!ok, "cellwise {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{args:?}: {needle:?} not in {stderr}"
    );
    assert!(took < seconds, "{args:?} took {took:.1} s: {stderr}");
    stderr.trim_end().to_string()
}

/// [`fails_within`] for refusals that must come before any real work (2 s: the binary's
/// start and the problem's loading).
fn fails(args: &[&str], needle: &str) -> String {
    fails_within(2.0, args, needle)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

/// One key set, made once per test run as README's two-process example makes it.
struct Fixture {
    /// The client's directory: secret.key, server.keys, inputs.ct, batch.json, logits.ct.
    client: PathBuf,
    /// The server's directory: server.keys, inputs.ct, logits.ct.
    server: PathBuf,
    /// stderr of `infer keygen --seed`.
    keygen_stderr: String,
    /// stdout of `infer decrypt`.
    decrypted: String,
}

/// The shared key set (test-boot, 16 fixture images, schedule all-3), made in the target
/// directory's scratch space (replaced on every run).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("robustness-keys");
        let _ = std::fs::remove_dir_all(&root);
        let (client, server) = (root.join("client"), root.join("server"));
        std::fs::create_dir_all(&server).unwrap();
        let keygen = [
            "infer",
            "keygen",
            "--dir",
            s(&client),
            "--preset",
            "test-boot",
            "--insecure",
            "--seed",
            "1",
        ];
        let (ok, _, keygen_stderr) = cellwise(&keygen);
        assert!(ok, "{keygen_stderr}");
        std::fs::copy(client.join("server.keys"), server.join("server.keys")).unwrap();
        succeeds(&[
            "infer",
            "encrypt",
            "--dir",
            s(&client),
            "--images",
            "16",
            "--fixture",
        ]);
        std::fs::copy(client.join("inputs.ct"), server.join("inputs.ct")).unwrap();
        succeeds(&[
            "infer",
            "serve",
            "--dir",
            s(&server),
            "--schedule",
            "all-3",
            "--insecure",
        ]);
        std::fs::copy(server.join("logits.ct"), client.join("logits.ct")).unwrap();
        let decrypted = succeeds(&["infer", "decrypt", "--dir", s(&client)]);
        Fixture {
            client,
            server,
            keygen_stderr,
            decrypted,
        }
    })
}

/// A fresh directory holding copies of `files` of `from`.
fn copy_of(from: &Path, files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(from.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// The parts of a wire file (format version 3): `prefix` = magic, version, header length,
/// header and header digest; `body`; the file's digest follows them.
fn split_wire(bytes: &[u8]) -> (&[u8], &[u8]) {
    let header = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let prefix = 16 + header + 32;
    (&bytes[..prefix], &bytes[prefix..bytes.len() - 32])
}

/// A wire file of `header` (written by the library, so its digest is right) and the body of
/// `like`, with a correct whole-file digest: what a damaged or hostile file looks like once
/// its checksums have been recomputed.
fn with_header(header: &Header, like: &[u8]) -> Vec<u8> {
    let (prefix, _) = WireWriter::new(Vec::new(), header)
        .unwrap()
        .finish()
        .unwrap();
    let prefix = &prefix[..prefix.len() - 32];
    let (_, body) = split_wire(like);
    seal(prefix, body)
}

/// `prefix | body | SHA-256(prefix | body)`.
fn seal(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = [prefix, body].concat();
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The header of a wire file of `kind`.
fn header_of(bytes: &[u8], kind: Kind) -> Header {
    WireReader::new(bytes, kind).unwrap().header().clone()
}

/// Writes a TOML parameter file of `lit` with `extra` appended.
fn params_file(dir: &Path, lit: &ParametersLiteral, extra: &str) -> PathBuf {
    let path = dir.join("params.toml");
    let text = toml::to_string(lit).unwrap();
    std::fs::write(&path, format!("{extra}{text}")).unwrap();
    path
}

// ---- 1. sizes from flags and parameter files ----

#[test]
fn a_parameter_file_with_a_thousand_levels_is_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let mut lit = ParametersLiteral::preset("test-small").unwrap();
    lit.levels = 1000;
    let f = params_file(dir.path(), &lit, "");
    let line = fails(
        &["ckks", "profile", "--params", s(&f), "--insecure"],
        "levels = 1000: more than the 88 primes",
    );
    assert!(line.contains(s(&f)), "{line}");
}

#[test]
fn unknown_keys_in_a_parameter_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lit = ParametersLiteral::preset("test-small").unwrap();
    let f = params_file(dir.path(), &lit, "levelz = 3\n");
    fails(
        &["ckks", "profile", "--params", s(&f), "--insecure"],
        "unknown field `levelz`",
    );
}

#[test]
fn profile_flags_are_bounded_before_anything_is_measured() {
    let base = ["ckks", "profile", "--preset", "test-small", "--insecure"];
    for (flag, value) in [
        ("--samples", "10000000000000"),
        ("--threads", "100000000"),
        ("--bootstrap-samples", "100000000000"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain([flag, value]).collect();
        fails(&args, &format!("{flag} {value}: must be between"));
    }
}

#[test]
fn a_batch_size_from_a_file_header_is_bounded_before_it_sizes_anything() {
    let f = fixture();
    let dir = copy_of(&f.client, &["secret.key", "batch.json", "logits.ct"]);
    let path = dir.path().join("logits.ct");
    let bytes = std::fs::read(&path).unwrap();
    let mut h = header_of(&bytes, Kind::Ciphertexts);
    h.meta = h.meta.replace("\"images\":16", "\"images\":1000000000");
    assert!(h.meta.contains("1000000000"), "{}", h.meta);
    std::fs::write(&path, with_header(&h, &bytes)).unwrap();
    fails(
        &["infer", "decrypt", "--dir", s(dir.path())],
        "a batch of 1000000000 images, 1 to 64 possible",
    );
}

// ---- 2. headers are authenticated and bounded before use ----

#[test]
fn a_key_file_claiming_3000_levels_is_refused_before_its_parameters_are_built() {
    let f = fixture();
    let dir = copy_of(&f.server, &["inputs.ct"]);
    let keys = std::fs::read(f.server.join("server.keys")).unwrap();
    let mut h = header_of(&keys, Kind::ServerKeys);
    h.params.levels = 3000;
    // A header with a right checksum: only the bound stops it.
    std::fs::write(dir.path().join("server.keys"), with_header(&h, &keys)).unwrap();
    fails(
        &[
            "infer",
            "serve",
            "--dir",
            s(dir.path()),
            "--schedule",
            "all-3",
            "--insecure",
        ],
        "server.keys: parameters: levels = 3000: more than the 88 primes",
    );
}

#[test]
fn a_damaged_header_is_refused_by_its_own_checksum() {
    let f = fixture();
    let dir = copy_of(&f.server, &["server.keys", "inputs.ct"]);
    let path = dir.path().join("server.keys");
    let mut bytes = std::fs::read(&path).unwrap();
    let key = b"\"levels\":";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    bytes[at + key.len()] = b'7'; // 9 levels -> 7: other valid parameters
    std::fs::write(&path, bytes).unwrap();
    fails(
        &[
            "infer",
            "serve",
            "--dir",
            s(dir.path()),
            "--schedule",
            "all-3",
            "--insecure",
        ],
        "server.keys: header checksum mismatch",
    );
}

#[test]
fn files_of_the_previous_format_version_are_refused() {
    let f = fixture();
    let dir = copy_of(&f.client, &["secret.key", "batch.json", "logits.ct"]);
    let path = dir.path().join("logits.ct");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    fails(
        &["infer", "decrypt", "--dir", s(dir.path())],
        "format version 2 is not supported (this build reads version 3): make the file again with this build",
    );
}

// ---- 3. logits name their batch ----

#[test]
fn the_two_process_example_works_with_separate_directories() {
    let f = fixture();
    assert!(
        f.decrypted.starts_with("16 images of test[0..16]: "),
        "{}",
        f.decrypted
    );
    assert!(!f.server.join("secret.key").exists());
}

#[test]
fn logits_of_another_batch_are_refused() {
    let f = fixture();
    let files = ["secret.key", "batch.json", "inputs.ct", "logits.ct"];
    let dir = copy_of(&f.client, &files);
    let d = s(dir.path());
    // Another batch encrypted after the logits were made: they do not answer it.
    succeeds(&[
        "infer",
        "encrypt",
        "--dir",
        d,
        "--images",
        "16",
        "--offset",
        "16",
        "--fixture",
    ]);
    fails(
        &["infer", "decrypt", "--dir", d],
        "logits.ct answers another batch",
    );
}

#[test]
fn a_batch_note_with_fewer_labels_than_images_is_refused() {
    let f = fixture();
    let dir = copy_of(&f.client, &["secret.key", "batch.json", "logits.ct"]);
    let path = dir.path().join("batch.json");
    let mut note: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    note["labels"] = serde_json::json!([7, 2]);
    std::fs::write(&path, note.to_string()).unwrap();
    fails(
        &["infer", "decrypt", "--dir", s(dir.path())],
        "batch.json holds 2 labels for a batch of 16 images",
    );
}

// ---- 4. secret material ----

#[cfg(unix)]
#[test]
fn secret_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    for file in ["secret.key", "batch.json"] {
        let mode = std::fs::metadata(f.client.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
    assert!(!f.client.join("secret.key.tmp").exists());
}

#[test]
fn keygen_refuses_to_replace_a_secret_key_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.key");
    std::fs::write(&secret, b"the only key of an earlier key set").unwrap();
    let keygen = [
        "infer",
        "keygen",
        "--dir",
        s(dir.path()),
        "--preset",
        "test-boot",
        "--insecure",
    ];
    fails(&keygen, "secret.key exists");
    fails(&keygen, "pass --force to replace it");
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        b"the only key of an earlier key set"
    );
    let forced: Vec<&str> = keygen.iter().copied().chain(["--force"]).collect();
    assert!(succeeds(&forced).contains("key set"));
    assert_ne!(
        std::fs::read(&secret).unwrap(),
        b"the only key of an earlier key set"
    );
}

#[test]
fn serve_refuses_a_directory_holding_the_secret_key() {
    let f = fixture();
    fails(
        &[
            "infer",
            "serve",
            "--dir",
            s(&f.client),
            "--schedule",
            "all-3",
            "--insecure",
        ],
        "the server must never see the secret key",
    );
}

#[test]
fn keygen_seed_is_marked_test_only_and_warns() {
    let f = fixture();
    assert_eq!(
        f.keygen_stderr.trim_end(),
        "warning: --seed derives the secret key from a 64-bit seed: these keys are for tests only, not secret"
    );
    let help = succeeds(&["infer", "keygen", "--help"]);
    let seed = help
        .split("--seed")
        .nth(1)
        .expect("--seed in the help text");
    assert!(seed.contains("TESTS ONLY"), "{help}");
}

// ---- 5. the 128-bit check ----

/// A set within the 128-bit bound at N = 2^13 (log2 QP 195 <= 218), quick to profile.
fn secure_small() -> ParametersLiteral {
    let mut lit = ParametersLiteral::preset("test-medium").unwrap();
    lit.levels = 2;
    lit.bootstrap_levels = 0;
    lit.insecure = false;
    lit
}

#[test]
fn a_sparse_main_secret_is_not_called_secure() {
    let dir = tempfile::tempdir().unwrap();
    let mut lit = secure_small();
    lit.secret = cellwise::ckks::scheme::params::SecretDist::SparseTernary { h: 64 };
    assert!(lit.build().is_err());
    let mut dense = lit.clone();
    dense.secret = cellwise::ckks::scheme::params::SecretDist::Ternary;
    assert!(
        dense.build().unwrap().is_secure(),
        "{}",
        dense.build().unwrap().log_qp()
    );
    let f = params_file(dir.path(), &lit, "");
    fails(
        &[
            "ckks",
            "profile",
            "--params",
            s(&f),
            "--samples",
            "1",
            "--levels",
            "0",
        ],
        "a sparse main secret (h = 64) is not covered by the 128-bit table",
    );
}

#[test]
fn an_ephemeral_secret_outside_its_published_bound_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut lit = ParametersLiteral::preset("fgb-like").unwrap();
    lit.first_mod_bits = 62;
    lit.special_bits = 62;
    lit.levels = 8;
    assert!(lit.build().unwrap().is_secure());
    let f = params_file(dir.path(), &lit, "");
    fails_within(
        10.0,
        &["ckks", "profile", "--params", s(&f), "--samples", "1"],
        "outside the published 128-bit bound (log2 q_0 p_0 <= 121 at N = 2^16)",
    );
}

// ---- 6. output paths are checked before measuring ----

#[test]
fn a_profile_output_that_cannot_be_written_is_refused_before_measuring() {
    fails(
        &[
            "ckks",
            "profile",
            "--preset",
            "test-small",
            "--insecure",
            "--out",
            "/nonexistent/x",
        ],
        "--out /nonexistent/x: cannot write there",
    );
    let dir = tempfile::tempdir().unwrap();
    fails(
        &[
            "ckks",
            "profile",
            "--preset",
            "test-small",
            "--insecure",
            "--out",
            s(dir.path()),
        ],
        "cannot write there: is a directory",
    );
    // A FIFO (or a device such as /dev/null) would be replaced by the atomic write's rename.
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(s(&fifo)).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        fails(
            &[
                "ckks",
                "profile",
                "--preset",
                "test-small",
                "--insecure",
                "--out",
                s(&fifo),
            ],
            "cannot write there: is not a regular file (an atomic write would replace it)",
        );
    }
    // The same for an encrypted run's report.
    fails(
        &[
            "infer",
            "--encrypted",
            "--schedule",
            "all-3",
            "--preset",
            "test-boot",
            "--insecure",
            "--fixture",
            "--out",
            "/nonexistent/x",
        ],
        "--out /nonexistent/x: cannot write there",
    );
}

// ---- 7. property tests of every parser of untrusted bytes ----

mod alloc_count {
    //! A global allocator that counts, per thread, the bytes held and their peak.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The system allocator, counting.
    pub struct Counting;

    thread_local! {
        static LIVE: Cell<usize> = const { Cell::new(0) };
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    fn add(n: usize) {
        let _ = LIVE.try_with(|live| {
            let v = live.get().saturating_add(n);
            live.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    fn sub(n: usize) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
    }

    // SAFETY: every call is passed on to `System` unchanged; only counters are updated.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is `System`'s.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size());
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as above.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) };
            sub(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as above.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                sub(layout.size());
                add(new_size);
            }
            p
        }
    }

    /// Runs `f`; returns its result and the most bytes it held at once on this thread.
    pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let out = f();
        (out, PEAK.with(Cell::get).saturating_sub(base))
    }
}

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

mod props {
    //! Arbitrary and mutated bytes into every parser of untrusted bytes in the keys area.
    //! Each property returns an error or a value, never panics, and allocates at most a
    //! stated bound. Case counts are chosen so that the whole module runs in a few seconds
    //! in release mode: they are stated per property.

    use std::sync::{Arc, OnceLock};

    use cellwise::ckks::bootstrap::{EncapsulationKeys, encapsulation_keys};
    use cellwise::ckks::scheme::context::Context;
    use cellwise::ckks::scheme::keys::KeyGenerator;
    use cellwise::ckks::scheme::params::{ParametersLiteral, SecretDist};
    use cellwise::ckks::scheme::wire::{Header, Kind, MAX_HEADER, WireReader, WireWriter};
    use cellwise::infer::files::{self, CiphertextInfo, Role};
    use cellwise::infer::{Client, NetShape, ServerKeys};
    use cellwise::recurrence::CellKind;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use sha2::Digest as _;

    use super::alloc_count::peak;
    use super::{seal, split_wire};

    /// Bytes a parse of a parameter description may hold at once: the text's own structures
    /// and at most 88 primes.
    const PARAMS_ALLOC: usize = 1 << 20;
    /// Bytes a header's parse may hold at once: the header ([`MAX_HEADER`]), its parameters
    /// and application data, decoded.
    const HEADER_ALLOC: usize = 4 * MAX_HEADER + (64 << 10);
    /// Bytes a body's parse may hold beyond twice the file's own size (what it decodes into):
    /// one limb buffer and the reader's buffer (1 MiB), a test-small context (its NTT tables).
    const BODY_SLACK: usize = 16 << 20;

    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// One change to a file.
    #[derive(Clone, Debug)]
    enum Edit {
        /// Flip one bit.
        Flip(Index, u8),
        /// Overwrite 4 bytes with a word (a count, a length, a flag).
        Word(Index, u32),
        /// Cut the file.
        Truncate(Index),
        /// Insert bytes.
        Insert(Index, Vec<u8>),
    }

    /// Up to three edits, half of them within the first KiB (header and first counts), and
    /// whether the checksums are recomputed afterwards (so the parser gets past them).
    fn edits() -> impl Strategy<Value = (Vec<(bool, Edit)>, bool)> {
        let edit = prop_oneof![
            (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
            (
                any::<Index>(),
                prop_oneof![any::<u32>(), 0u32..64, Just(u32::MAX)]
            )
                .prop_map(|(i, w)| Edit::Word(i, w)),
            any::<Index>().prop_map(Edit::Truncate),
            (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
                .prop_map(|(i, b)| Edit::Insert(i, b)),
        ];
        (
            prop::collection::vec((any::<bool>(), edit), 1..4),
            any::<bool>(),
        )
    }

    /// `bytes` with `edits` applied, resealed if asked and the layout still allows it.
    fn mutate(bytes: &[u8], edits: &[(bool, Edit)], reseal: bool) -> Vec<u8> {
        let mut b = bytes.to_vec();
        for (head, e) in edits {
            let span = if *head { b.len().min(1024) } else { b.len() };
            if span == 0 {
                continue;
            }
            match e {
                Edit::Flip(i, bit) => b[i.index(span)] ^= 1 << bit,
                Edit::Word(i, w) => {
                    let at = i.index(span);
                    let end = (at + 4).min(b.len());
                    b[at..end].copy_from_slice(&w.to_le_bytes()[..end - at]);
                }
                Edit::Truncate(i) => b.truncate(i.index(span)),
                Edit::Insert(i, x) => {
                    let at = i.index(span);
                    b.splice(at..at, x.iter().copied());
                }
            }
        }
        if reseal && b.len() >= 16 {
            let header = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
            let prefix = 16 + header;
            if b.len() >= prefix + 32 + 32 {
                let digest = sha2::Sha256::digest(&b[..prefix]);
                b[prefix..prefix + 32].copy_from_slice(&digest);
                let (p, body) = split_wire(&b);
                return seal(p, body);
            }
        }
        b
    }

    /// The network shape of the property tests' files: 2 steps keep them small.
    const SHAPE: NetShape = NetShape {
        cell: CellKind::SimpleRnn,
        steps: 2,
        input_width: 4,
        hidden: 4,
        classes: 2,
    };

    /// Valid files of every kind at `test-small`, made once: wire files of two ciphertexts and
    /// of server keys, and the four two-process files (whose `secret.key` is also the wire
    /// test's secret key file).
    struct Files {
        ctx: Arc<Context>,
        lit: ParametersLiteral,
        ciphertexts: Vec<u8>,
        secret: Vec<u8>,
        keys: Vec<u8>,
        inputs: Vec<u8>,
        logits: Vec<u8>,
        server_keys: Vec<u8>,
    }

    fn files() -> &'static Files {
        static FILES: OnceLock<Files> = OnceLock::new();
        FILES.get_or_init(|| {
            let lit = ParametersLiteral::preset("test-small").unwrap();
            let ctx = Context::new(&lit.build().unwrap()).unwrap();
            let mut kg = KeyGenerator::new(&ctx, Some(1));
            let sk = kg.secret_key();
            let eval = kg.evaluation_keys(&sk, &[1], true);
            let encapsulation = encapsulation_keys(&mut kg, &ctx, &sk);
            let header = |kind| Header {
                kind,
                params: lit.clone(),
                context_id: ctx.id(),
                key_set: 7,
                meta: "{}".into(),
            };
            let client = Client::from_secret(&lit, SHAPE, sk.clone(), 7, Some(2)).unwrap();
            let images = ndarray::Array3::from_elem((3, SHAPE.steps, SHAPE.input_width), 0.25f32);
            let batch = client.encrypt(images.view()).unwrap();
            let mut w = WireWriter::new(Vec::new(), &header(Kind::Ciphertexts)).unwrap();
            batch.inputs.iter().for_each(|ct| w.ciphertext(ct).unwrap());
            let ciphertexts = w.finish().unwrap().0;
            let mut w = WireWriter::new(Vec::new(), &header(Kind::ServerKeys)).unwrap();
            w.evaluation_keys(&eval).unwrap();
            encapsulation.write(&mut w).unwrap();
            let keys = w.finish().unwrap().0;

            let dir = tempfile::tempdir().unwrap();
            let path = |f: &str| dir.path().join(f);
            files::write_secret(&path("secret.key"), &client).unwrap();
            let server = ServerKeys {
                params: lit.clone(),
                key_set: 7,
                shape: SHAPE,
                eval,
                encapsulation,
            };
            files::write_server_keys(&path("server.keys"), &server).unwrap();
            let mut info = CiphertextInfo {
                key_set: 7,
                shape: SHAPE,
                role: Role::Inputs,
                images: 3,
                batch: None,
            };
            let digest =
                files::write_ciphertexts(&path("inputs.ct"), &lit, &ctx, &info, &batch.inputs)
                    .unwrap();
            info.role = Role::Logits;
            info.batch = Some(digest);
            files::write_ciphertexts(&path("logits.ct"), &lit, &ctx, &info, &batch.inputs[..1])
                .unwrap();
            let read = |f: &str| std::fs::read(path(f)).unwrap();
            Files {
                ctx,
                lit,
                ciphertexts,
                secret: read("secret.key"),
                keys,
                inputs: read("inputs.ct"),
                logits: read("logits.ct"),
                server_keys: read("server.keys"),
            }
        })
    }

    /// Reads a wire file of ciphertexts, secret key or server keys through the library.
    fn read_wire(bytes: &[u8], kind: Kind) -> Result<(), String> {
        let f = files();
        let mut r = WireReader::new(bytes, kind).map_err(|e| e.to_string())?;
        r.expect(&f.ctx, Some(7)).map_err(|e| e.to_string())?;
        let e = |e: cellwise::ckks::scheme::wire::WireError| e.to_string();
        match kind {
            Kind::Ciphertexts => {
                for _ in 0..SHAPE.steps {
                    r.ciphertext(&f.ctx).map_err(e)?;
                }
            }
            Kind::SecretKey => {
                r.secret_key(&f.ctx).map_err(e)?;
            }
            Kind::ServerKeys => {
                r.evaluation_keys(&f.ctx).map_err(e)?;
                EncapsulationKeys::read(&mut r, &f.ctx).map_err(e)?;
            }
        }
        r.finish().map(|_| ()).map_err(e)
    }

    /// Writes `bytes` as `name` in a fresh directory and reads it with the two-process
    /// readers.
    fn read_file(name: &str, bytes: &[u8]) -> Result<(), String> {
        let f = files();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let e = |e: cellwise::infer::InferError| e.to_string();
        match name {
            "secret.key" => files::read_secret(&path, Some(1)).map(|_| ()).map_err(e),
            "server.keys" => files::read_server_keys(&path).map(|_| ()).map_err(e),
            "inputs.ct" => files::read_ciphertexts(&path, &f.ctx, 7, SHAPE, Role::Inputs)
                .map(|_| ())
                .map_err(e),
            _ => files::read_ciphertexts(&path, &f.ctx, 7, SHAPE, Role::Logits)
                .map(|_| ())
                .map_err(e),
        }
    }

    /// An error is one line.
    fn one_line(r: Result<(), String>) -> Result<(), TestCaseError> {
        if let Err(e) = r {
            prop_assert_eq!(e.lines().count(), 1, "{}", e);
        }
        Ok(())
    }

    proptest! {
        // 256 cases: a parse and a build take microseconds.
        #![proptest_config(config(256))]

        #[test]
        fn parameter_text_never_panics(
            text in prop_oneof![
                ".{0,200}",
                edits().prop_map(|(e, _)| {
                    let valid = toml::to_string(&files().lit).unwrap();
                    String::from_utf8_lossy(&mutate(valid.as_bytes(), &e, false)).into_owned()
                }),
            ]
        ) {
            let (r, held) = peak(|| {
                ParametersLiteral::from_toml(&text).and_then(|lit| lit.build().map(|_| ()))
            });
            prop_assert!(held <= PARAMS_ALLOC, "{} bytes", held);
            one_line(r.map_err(|e| e.to_string()))?;
        }

        #[test]
        fn arbitrary_header_bytes_never_panic(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                (prop::collection::vec(any::<u8>(), 0..256), any::<u32>()).prop_map(|(tail, len)| {
                    let mut b = b"CELLWISE".to_vec();
                    b.extend(3u32.to_le_bytes());
                    b.extend(len.to_le_bytes());
                    b.extend(tail);
                    b
                }),
            ],
            kind in prop_oneof![Just(Kind::Ciphertexts), Just(Kind::SecretKey), Just(Kind::ServerKeys)],
        ) {
            let (r, held) = peak(|| WireReader::new(&bytes[..], kind).map(|_| ()));
            prop_assert!(held <= HEADER_ALLOC, "{} bytes", held);
            one_line(r.map_err(|e| e.to_string()))?;
        }
    }

    /// Parameters with any sizes (most of them out of bounds), for headers.
    fn any_params() -> impl Strategy<Value = ParametersLiteral> {
        let size = || prop_oneof![0usize..16, any::<usize>(), 3000usize..3001];
        (
            prop_oneof![10u32..=12, any::<u32>()],
            prop_oneof![20u32..62, any::<u32>()],
            size(),
            size(),
            size(),
            prop_oneof![
                Just(SecretDist::Ternary),
                any::<usize>().prop_map(|h| SecretDist::SparseTernary { h })
            ],
            prop::collection::vec(any::<u64>(), 0..4),
        )
            .prop_map(
                |(log_n, bits, levels, bootstrap_levels, dnum, secret, primes)| ParametersLiteral {
                    log_n,
                    log_scale: 40,
                    levels,
                    bootstrap_levels,
                    bootstrap_bits: bits,
                    first_mod_bits: 55,
                    special_bits: 60,
                    dnum,
                    secret,
                    insecure: true,
                    q_primes: primes.clone(),
                    p_primes: primes,
                },
            )
    }

    /// Application data with any sizes, most of them out of bounds.
    fn any_meta() -> impl Strategy<Value = String> {
        let size = || prop_oneof![0usize..8, any::<usize>()];
        (size(), size(), size(), size(), size(), any::<bool>(), ".{0,70}").prop_map(
            |(steps, input_width, hidden, classes, images, logits, batch)| {
                serde_json::json!({
                    "shape": {"steps": steps, "input_width": input_width, "hidden": hidden, "classes": classes},
                    "role": if logits { "logits" } else { "inputs" },
                    "images": images,
                    "batch": batch,
                })
                .to_string()
            },
        )
    }

    proptest! {
        // 64 cases per property: each copies and hashes a file of 0.2 to 1.8 MB.
        #![proptest_config(config(64))]

        #[test]
        fn mutated_wire_files_never_panic(
            (edits, reseal) in edits(),
            which in 0usize..3,
        ) {
            let f = files();
            let (bytes, kind) = [
                (&f.ciphertexts, Kind::Ciphertexts),
                (&f.secret, Kind::SecretKey),
                (&f.keys, Kind::ServerKeys),
            ][which];
            let bad = mutate(bytes, &edits, reseal);
            let (r, held) = peak(|| read_wire(&bad, kind));
            prop_assert!(held <= 2 * bad.len() + BODY_SLACK, "{} bytes", held);
            one_line(r)?;
        }

        #[test]
        fn mutated_two_process_files_never_panic(
            (edits, reseal) in edits(),
            which in 0usize..4,
        ) {
            let f = files();
            let (name, bytes) = [
                ("secret.key", &f.secret),
                ("server.keys", &f.server_keys),
                ("inputs.ct", &f.inputs),
                ("logits.ct", &f.logits),
            ][which];
            let bad = mutate(bytes, &edits, reseal);
            let (r, held) = peak(|| read_file(name, &bad));
            prop_assert!(held <= 2 * bad.len() + BODY_SLACK, "{} bytes", held);
            one_line(r)?;
        }

        #[test]
        fn hostile_headers_with_right_checksums_are_bounded(
            params in any_params(),
            meta in any_meta(),
            same_context in any::<bool>(),
            which in 0usize..4,
        ) {
            let f = files();
            let (name, like) = [
                ("secret.key", &f.secret),
                ("server.keys", &f.server_keys),
                ("inputs.ct", &f.inputs),
                ("logits.ct", &f.logits),
            ][which];
            let original = WireReader::new(&like[..], kind_of(name)).unwrap().header().clone();
            // The id of the claimed parameters when they build (so the reader goes on to make
            // their context), else the original's.
            let context_id = match params.build() {
                Ok(p) if same_context => p.id(),
                _ => original.context_id,
            };
            let h = Header { params, meta, context_id, ..original };
            let bytes = super::with_header(&h, like);
            let (r, held) = peak(|| read_file(name, &bytes));
            prop_assert!(held <= 2 * bytes.len() + BODY_SLACK, "{} bytes", held);
            one_line(r)?;
        }
    }

    fn kind_of(name: &str) -> Kind {
        match name {
            "secret.key" => Kind::SecretKey,
            "server.keys" => Kind::ServerKeys,
            _ => Kind::Ciphertexts,
        }
    }

    /// The counter sees an allocation the system only backs when it is touched (so the
    /// bounds above would catch a reader that sizes a buffer by a hostile count).
    #[test]
    fn the_allocation_counter_sees_untouched_memory() {
        let (v, held) = peak(|| vec![0u8; 1 << 30]);
        assert!(held >= 1 << 30, "{held}");
        drop(v);
        let ((), held) = peak(|| ());
        assert_eq!(held, 0);
    }

    /// The unmodified files read back (so the properties above exercise real parsers).
    #[test]
    fn the_property_tests_start_from_valid_files() {
        let f = files();
        read_wire(&f.ciphertexts, Kind::Ciphertexts).unwrap();
        read_wire(&f.secret, Kind::SecretKey).unwrap();
        read_wire(&f.keys, Kind::ServerKeys).unwrap();
        for (name, bytes) in [
            ("secret.key", &f.secret),
            ("server.keys", &f.server_keys),
            ("inputs.ct", &f.inputs),
            ("logits.ct", &f.logits),
        ] {
            read_file(name, bytes).unwrap();
        }
    }
}
