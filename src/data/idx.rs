//! Reader for the IDX format of the MNIST files (big-endian header, unsigned bytes).

use std::io::Read;
use std::path::Path;

/// Errors raised while reading an IDX file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {problem}")]
    Corrupt { file: String, problem: String },
}

/// The contents of an IDX file of unsigned bytes: its dimensions and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. [60000, 28, 28]).
    pub dims: Vec<usize>,
    /// Row-major data, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// The most data bytes an IDX file may announce: 2^27 (128 MiB). MNIST's largest file (the
/// training images) holds 47,040,000; a header announcing more is refused before anything
/// is allocated, so a forged header cannot make the reader allocate more than this.
pub const MAX_IDX_DATA_BYTES: usize = 1 << 27;

/// Reads an IDX file and checks that it holds unsigned bytes with exactly `rank` dimensions
/// and exactly as many bytes as its header announces. The header is read and checked (sizes
/// against [`MAX_IDX_DATA_BYTES`] and the file's length) before the data is allocated.
pub fn read_idx(path: &Path, rank: usize) -> Result<IdxArray, IdxError> {
    let file = path.display().to_string();
    let io = |source| IdxError::Io {
        file: file.clone(),
        source,
    };
    let corrupt = |problem| IdxError::Corrupt {
        file: file.clone(),
        problem,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    (&mut f)
        .take(header_len(rank) as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let (dims, expected) = parse_header(&head, rank).map_err(corrupt)?;
    let found = len.saturating_sub(head.len() as u64);
    if found != expected as u64 {
        return Err(corrupt(size_mismatch(&dims, expected, found)));
    }
    let mut data = Vec::with_capacity(expected);
    f.take(expected as u64).read_to_end(&mut data).map_err(io)?;
    if data.len() != expected {
        // The file shrank while it was read.
        return Err(corrupt(size_mismatch(&dims, expected, data.len() as u64)));
    }
    Ok(IdxArray { dims, data })
}

/// Parses IDX bytes; the error is a description of the problem. Allocates at most the
/// data it returns (no more than `bytes`, and never more than [`MAX_IDX_DATA_BYTES`]).
pub fn parse_idx(bytes: &[u8], rank: usize) -> Result<IdxArray, String> {
    let (dims, expected) = parse_header(bytes, rank)?;
    let header = header_len(rank);
    let found = bytes.len() - header;
    if found != expected {
        return Err(size_mismatch(&dims, expected, found as u64));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Bytes of the header of an IDX file of `rank` dimensions.
fn header_len(rank: usize) -> usize {
    4 + 4 * rank
}

/// Checks the header at the start of `bytes` (magic, element type, rank, sizes) and returns
/// the dimensions and the number of data bytes they announce.
fn parse_header(bytes: &[u8], rank: usize) -> Result<(Vec<usize>, usize), String> {
    if bytes.len() < 4 {
        return Err(format!("truncated header ({} bytes)", bytes.len()));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "bad magic {:02x}{:02x}{:02x}{:02x}: not an IDX file",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        ));
    }
    if usize::from(bytes[3]) != rank {
        return Err(format!("has {} dimensions, expected {rank}", bytes[3]));
    }
    let header = header_len(rank);
    if bytes.len() < header {
        return Err(format!("truncated header ({} bytes)", bytes.len()));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_DATA_BYTES)
        .ok_or_else(|| {
            format!("dimensions {dims:?} announce more than the {MAX_IDX_DATA_BYTES} data bytes an IDX file may hold")
        })?;
    Ok((dims, expected))
}

fn size_mismatch(dims: &[usize], expected: usize, found: u64) -> String {
    format!(
        "dimensions {dims:?} need {expected} data bytes but the file has {found} (truncated or padded)"
    )
}

/// Encodes an array as IDX bytes (used to write fixtures and in tests).
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdxArray {
        IdxArray {
            dims: vec![2, 3],
            data: vec![1, 2, 3, 4, 5, 6],
        }
    }

    #[test]
    fn round_trip() {
        assert_eq!(parse_idx(&encode_idx(&sample()), 2).unwrap(), sample());
    }

    #[test]
    fn corrupt_files_are_refused() {
        let good = encode_idx(&sample());
        let mut magic = good.clone();
        magic[0] = 7;
        assert!(parse_idx(&magic, 2).unwrap_err().contains("magic"));
        let mut kind = good.clone();
        kind[2] = 0x0d;
        assert!(parse_idx(&kind, 2).unwrap_err().contains("element type"));
        assert!(parse_idx(&good, 3).unwrap_err().contains("dimensions"));
        let truncated = &good[..good.len() - 1];
        assert!(parse_idx(truncated, 2).unwrap_err().contains("truncated"));
        assert!(parse_idx(&good[..6], 2).unwrap_err().contains("header"));
    }
}
