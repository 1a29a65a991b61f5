//! Search checkpoints: the run's settings and every judgement so far, sealed with a SHA-256
//! digest.
//!
//! Strategies are deterministic given their seed and the answers they receive, so a run
//! resumes by replaying a checkpoint's answers to the strategy (no oracle calls) and then
//! going on; the answers therefore decide the resumed run's outputs and are not taken on
//! trust:
//!
//! - the digest covers the format tag, the settings (`header`) and the records, so an
//!   edited or damaged file is refused ([`Checkpoint::from_json`]);
//! - [`verify_records`] checks every record for consistency (accuracy = correct / images,
//!   counts within the split, the cost model's price) and re-judges a deterministic sample
//!   of up to [`REJUDGE_SAMPLE`] evaluations, spread over the run, with the oracle. The
//!   digest has no key, so this is what catches a file forged with a recomputed digest (at
//!   the sampled records). Threshold decisions cannot be re-judged (the threshold is not
//!   recorded); they are checked through the digest only.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Record, SearchError};
use crate::cost::CostModel;
use crate::oracle::Oracle;

/// Format tag of search checkpoints (version 2 added the digest; version 1 files are
/// refused by their tag).
pub const CHECKPOINT_FORMAT: &str = "cellwise-search-checkpoint/2";

/// The largest checkpoint file read: 1 GiB. A record takes about 200 bytes, so this holds
/// millions of judgements, far beyond the budgets searches use; a larger file is refused
/// before it is read.
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;

/// Evaluations re-judged by the oracle on resume: enough to catch an edited record at
/// the sampled points, few enough to cost a fraction of a second on the validation split.
pub const REJUDGE_SAMPLE: usize = 8;

/// A search checkpoint: the run's settings (`header`, opaque here), every judgement so far
/// and the digest that seals them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Must be [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The settings of the run (what the caller needs to rebuild it).
    pub header: serde_json::Value,
    /// The judgements so far.
    pub records: Vec<Record>,
    /// Lower-case hex SHA-256 of the format tag, the header and the records (see
    /// [`Checkpoint::new`]).
    pub digest: String,
}

/// Just the tag, read first so that another format is named as such.
#[derive(Deserialize)]
struct Tag {
    format: String,
}

fn json_error(e: serde_json::Error) -> SearchError {
    SearchError::Invalid(format!("checkpoint serialization: {e}"))
}

/// SHA-256 of the format tag, the header and the records as compact JSON, lower-case hex.
fn digest_of(
    format: &str,
    header: &serde_json::Value,
    records: &[Record],
) -> Result<String, SearchError> {
    let mut h = Sha256::new();
    h.update(format.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(header).map_err(json_error)?);
    h.update(b"\n");
    h.update(serde_json::to_vec(records).map_err(json_error)?);
    Ok(crate::data::hex(&h.finalize()))
}

impl Checkpoint {
    /// A sealed checkpoint of `header` and `records`. The digest covers the values as a
    /// reader will parse them back from the JSON text: serde_json reads some floats back
    /// within an ulp rather than bit for bit, and a seal over the written values would then
    /// refuse an honest file.
    pub fn new(header: serde_json::Value, records: Vec<Record>) -> Result<Self, SearchError> {
        let text = serde_json::to_vec(&(&header, &records)).map_err(json_error)?;
        let (read_header, read_records): (serde_json::Value, Vec<Record>) =
            serde_json::from_slice(&text).map_err(json_error)?;
        let digest = digest_of(CHECKPOINT_FORMAT, &read_header, &read_records)?;
        Ok(Self {
            format: CHECKPOINT_FORMAT.to_string(),
            header,
            records,
            digest,
        })
    }

    /// Parses and checks a checkpoint: JSON of this format whose digest matches. The error
    /// is one line that `what` (e.g. the file's path) starts.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, SearchError> {
        let corrupt = |e: serde_json::Error| {
            SearchError::Invalid(format!("checkpoint {what} is corrupt: {e}"))
        };
        let tag: Tag = serde_json::from_slice(bytes).map_err(corrupt)?;
        if tag.format != CHECKPOINT_FORMAT {
            return Err(SearchError::Invalid(format!(
                "checkpoint {what} has format '{}', this version reads '{CHECKPOINT_FORMAT}'",
                tag.format
            )));
        }
        let cp: Checkpoint = serde_json::from_slice(bytes).map_err(corrupt)?;
        if digest_of(&cp.format, &cp.header, &cp.records)? != cp.digest {
            return Err(SearchError::Invalid(format!(
                "checkpoint {what} fails its SHA-256 check: its settings or judgements were changed after it was written"
            )));
        }
        Ok(cp)
    }

    /// Reads and checks the checkpoint at `path` ([`Checkpoint::from_json`]), refusing a
    /// file larger than [`MAX_CHECKPOINT_BYTES`] before reading it.
    pub fn read(path: &Path) -> Result<Self, SearchError> {
        let what = path.display().to_string();
        let io =
            |e: std::io::Error| SearchError::Invalid(format!("reading checkpoint {what}: {e}"));
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_CHECKPOINT_BYTES {
            return Err(SearchError::Invalid(format!(
                "checkpoint {what} has {len} bytes, more than the {MAX_CHECKPOINT_BYTES} a checkpoint may have"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_CHECKPOINT_BYTES),
            &mut bytes,
        )
        .map_err(io)?;
        Self::from_json(&bytes, &what)
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), SearchError> {
        let text = serde_json::to_vec(self).map_err(json_error)?;
        crate::fsutil::write_atomic(path, &text).map_err(|e| {
            SearchError::Invalid(format!("writing checkpoint {}: {e}", path.display()))
        })
    }
}

/// Checks the records of a checkpoint against the run that resumes it: every record's
/// counts against the split and its cost against `cost`, and [`REJUDGE_SAMPLE`]
/// evaluations spread evenly over the run (the first and the last included) against
/// `oracle`. The error names the first judgement that disagrees.
pub fn verify_records(
    records: &[Record],
    oracle: &Oracle,
    cost: &dyn CostModel,
) -> Result<(), SearchError> {
    let n = oracle.len();
    let refuse = |r: &Record, what: String| {
        Err(SearchError::Invalid(format!(
            "the checkpoint's judgement {} (`{}`) {what}: refusing to resume from it",
            r.index, r.schedule
        )))
    };
    let mut evaluations = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.index != i {
            return refuse(r, format!("is numbered {} but stored at {i}", r.index));
        }
        let fresh = match cost.cost(&r.schedule) {
            Ok(c) => c,
            Err(e) => return refuse(r, format!("cannot be priced ({e})")),
        };
        if !(r.cost - fresh).abs().le(&(1e-9 * fresh.abs().max(1.0))) {
            return refuse(
                r,
                format!("records cost {} but the cost model gives {fresh}", r.cost),
            );
        }
        match (r.accuracy, r.correct, r.accepted) {
            (Some(accuracy), Some(correct), None) => {
                let expected = correct as f64 / n as f64;
                if correct > n || !(accuracy - expected).abs().le(&1e-12) {
                    return refuse(
                        r,
                        format!("records accuracy {accuracy} with {correct} of {n} images right"),
                    );
                }
                if r.unsafe_images.is_some_and(|u| u > n) {
                    return refuse(
                        r,
                        format!("records more unsafe images than the {n} there are"),
                    );
                }
                evaluations.push(r);
            }
            (None, None, Some(_)) => {}
            _ => return refuse(r, "is neither an evaluation nor a decision".into()),
        }
    }
    let m = evaluations.len().min(REJUDGE_SAMPLE);
    for k in 0..m {
        let r = evaluations[if m == 1 {
            0
        } else {
            k * (evaluations.len() - 1) / (m - 1)
        }];
        let e = match oracle.evaluate(&r.schedule) {
            Ok(e) => e,
            Err(e) => return refuse(r, format!("cannot be re-judged ({e})")),
        };
        let unsafe_images = r.unsafe_images.unwrap_or(0);
        if r.correct != Some(e.correct) || unsafe_images != e.unsafe_images.len() {
            return refuse(
                r,
                format!(
                    "records {} right and {unsafe_images} unsafe, re-judged {} right and {} unsafe",
                    r.correct.unwrap_or(0),
                    e.correct,
                    e.unsafe_images.len()
                ),
            );
        }
    }
    Ok(())
}
