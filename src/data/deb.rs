//! Reading files out of a Debian package without dpkg or root: a `.deb` is an `ar` archive
//! (`debian-binary`, `control.tar.*`, `data.tar.*`) and the installed files are in
//! `data.tar.xz` (or `.gz`, or an uncompressed `data.tar`).

use std::io::Read;
use std::path::Path;

use super::DataError;

/// Most bytes a package's data archive may hold once decompressed (Fashion-MNIST's is 31 MB):
/// a forged or damaged package cannot make the reader allocate more.
pub const MAX_DATA_TAR_BYTES: u64 = 1 << 30;

/// Most bytes one extracted file may hold.
pub const MAX_MEMBER_BYTES: u64 = 1 << 28;

/// The contents of the regular files `wanted` (paths inside the package, without a leading
/// `./`, e.g. `usr/share/datasets/x.gz`) of the package at `deb`, in the order asked.
/// A file that is not a Debian package, a damaged archive and a missing file are refused in
/// one line naming `deb`.
pub fn read_package_files(deb: &Path, wanted: &[&str]) -> Result<Vec<Vec<u8>>, DataError> {
    let bytes = std::fs::read(deb).map_err(|source| DataError::Io {
        path: deb.display().to_string(),
        source,
    })?;
    let damaged = |problem: String| DataError::Damaged {
        path: deb.display().to_string(),
        problem,
    };
    let (name, member) = data_member(&bytes).map_err(damaged)?;
    let tar = decompress(name, member).map_err(damaged)?;
    let mut found: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries = archive
        .entries()
        .map_err(|e| damaged(format!("{name}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(format!("{name}: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| damaged(format!("{name}: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if let Some(i) = wanted.iter().position(|w| *w == path) {
            let mut data = Vec::new();
            (&mut entry)
                .take(MAX_MEMBER_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(|e| damaged(format!("{name}: {path}: {e}")))?;
            if data.len() as u64 > MAX_MEMBER_BYTES {
                return Err(damaged(format!(
                    "{path} holds more than {MAX_MEMBER_BYTES} bytes"
                )));
            }
            found[i] = Some(data);
        }
    }
    found
        .into_iter()
        .zip(wanted)
        .map(|(f, w)| f.ok_or_else(|| damaged(format!("{name} has no file {w}"))))
        .collect()
}

/// Decompresses a gzip stream (as Debian re-compresses data files) of at most
/// [`MAX_MEMBER_BYTES`] once decompressed; `what` names it in errors.
pub fn gunzip(bytes: &[u8], what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_MEMBER_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{what}: not a valid gzip stream ({e})"))?;
    if out.len() as u64 > MAX_MEMBER_BYTES {
        return Err(format!(
            "{what} decompresses to more than {MAX_MEMBER_BYTES} bytes"
        ));
    }
    Ok(out)
}

/// The `data.tar*` member of an `ar` archive: its name and bytes.
fn data_member(bytes: &[u8]) -> Result<(&str, &[u8]), String> {
    const MAGIC: &[u8] = b"!<arch>\n";
    if !bytes.starts_with(MAGIC) {
        return Err("not a Debian package (no ar archive header)".into());
    }
    let mut at = MAGIC.len();
    let mut first = true;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 60)
            .ok_or_else(|| format!("truncated ar member header at byte {at}"))?;
        if &header[58..60] != b"`\n" {
            return Err(format!("bad ar member header at byte {at}"));
        }
        let name = std::str::from_utf8(&header[..16])
            .map_err(|_| format!("bad ar member name at byte {at}"))?
            .trim_end()
            .trim_end_matches('/');
        let size: usize = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("bad ar member size at byte {at}"))?;
        let start = at + 60;
        let data = start
            .checked_add(size)
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| {
                format!("member {name} is truncated ({size} bytes announced at byte {at})")
            })?;
        if first && (name != "debian-binary" || !data.starts_with(b"2.")) {
            return Err("not a Debian package (no debian-binary 2.x first)".into());
        }
        first = false;
        if name.starts_with("data.tar") {
            return Ok((name, data));
        }
        at = start + size + size % 2;
    }
    Err("no data.tar member".into())
}

/// The tar archive of a `data.tar`, `data.tar.xz` or `data.tar.gz` member.
fn decompress(name: &str, member: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match name {
        "data.tar" => out.extend_from_slice(member),
        "data.tar.gz" => {
            flate2::read::GzDecoder::new(member)
                .take(MAX_DATA_TAR_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        "data.tar.xz" => {
            let mut limited = Limited {
                out: &mut out,
                left: MAX_DATA_TAR_BYTES + 1,
            };
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(member), &mut limited)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        other => {
            return Err(format!(
                "{other}: unsupported compression (known: data.tar, data.tar.xz, data.tar.gz)"
            ));
        }
    }
    if out.len() as u64 > MAX_DATA_TAR_BYTES {
        return Err(format!(
            "{name} decompresses to more than {MAX_DATA_TAR_BYTES} bytes"
        ));
    }
    Ok(out)
}

/// A writer that refuses to grow past `left` bytes.
struct Limited<'a> {
    out: &'a mut Vec<u8>,
    left: u64,
}

impl std::io::Write for Limited<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::other("decompressed data too large"));
        }
        self.left -= buf.len() as u64;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Builds a `.deb` holding `files` (path, bytes) in a `data.tar.xz`: for tests.
pub fn build_package(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, format!("./{path}"), *bytes)
            .expect("in-memory tar");
    }
    let tar = tar.into_inner().expect("in-memory tar");
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut tar.as_slice(), &mut xz).expect("in-memory xz");
    let mut ar = b"!<arch>\n".to_vec();
    for (name, data) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.xz", Vec::new()),
        ("data.tar.xz", xz),
    ] {
        ar.extend_from_slice(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                "100644",
                data.len()
            )
            .as_bytes(),
        );
        ar.extend_from_slice(&data);
        if data.len() % 2 == 1 {
            ar.push(b'\n');
        }
    }
    ar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_package_reads_back() {
        let deb = build_package(&[("usr/share/a.txt", b"hello"), ("usr/b", b"xyz")]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.deb");
        std::fs::write(&path, &deb).unwrap();
        let files = read_package_files(&path, &["usr/b", "usr/share/a.txt"]).unwrap();
        assert_eq!(files, [b"xyz".to_vec(), b"hello".to_vec()]);
        let err = read_package_files(&path, &["usr/c"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.deb") && err.contains("usr/c"), "{err}");
        // Truncated anywhere: refused in one line naming the file.
        for cut in [3, 70, 100, deb.len() - 10] {
            std::fs::write(&path, &deb[..cut]).unwrap();
            let err = read_package_files(&path, &["usr/b"])
                .unwrap_err()
                .to_string();
            assert!(err.contains("p.deb") && !err.contains('\n'), "{cut}: {err}");
        }
    }
}
