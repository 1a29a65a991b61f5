//! The wire forms of a batch: schedules packed one character per (slot, step) entry, the
//! prefix a batch's schedules share stored once, questions and answers as compact JSON, and
//! the digest that seals a batch's row.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::oracle::Prefixes;
use crate::schedule::{Approx, Schedule};
use crate::search::{Answer, Ask, Judged, Question};

/// Degrees 0 to 61 as one character each; `~` is the exact activation.
const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const EXACT: u8 = b'~';

/// A schedule's entries, one character each (step-major, so a time prefix of the schedule
/// is a prefix of the text).
pub fn pack(schedule: &Schedule) -> Result<String, StoreError> {
    schedule
        .entries()
        .iter()
        .map(|a| match *a {
            Approx::Exact => Ok(EXACT as char),
            Approx::Degree(d) => ALPHABET.get(d).map(|&c| c as char).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "degree {d} is beyond the {} the store packs",
                    ALPHABET.len() - 1
                ))
            }),
        })
        .collect()
}

/// The schedule of `slots` slots per step packed as `text`.
pub fn unpack(text: &str, slots: usize) -> Result<Schedule, StoreError> {
    let entries = text
        .bytes()
        .map(|c| match c {
            EXACT => Ok(Approx::Exact),
            c => ALPHABET
                .iter()
                .position(|&a| a == c)
                .map(Approx::Degree)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("packed schedule has character {:?}", c as char))
                }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Schedule::from_entries(slots, entries).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One question of a batch: the packed schedule after the batch's prefix, the decision's
/// threshold (`t`: min correct and batch safety; absent for an evaluation) and whether the
/// run keeps its prefix states (`k`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Item {
    pub s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<(usize, bool)>,
    pub k: bool,
}

/// One answer: the decision (`d`), and the full evaluation's correct images (`c`), images
/// (`n`) and unsafe images (`u`) when it was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<usize>,
}

/// A batch ready to be stored: the shared prefix, the items as JSON, and the digest of both.
#[derive(Clone, Debug)]
pub struct Packed {
    pub prefix: String,
    pub items: String,
    pub digest: String,
    pub size: usize,
}

/// The digest that seals a batch row.
pub fn digest(prefix: &str, items: &str) -> String {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update([0u8]);
    h.update(items.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The question of an ask as the key the driver files answers under.
pub fn threshold(q: Question) -> Option<(usize, bool)> {
    match q {
        Question::Evaluate => None,
        Question::Accepts {
            min_correct,
            batch_safe,
        } => Some((min_correct, batch_safe)),
    }
}

/// Packs asks (schedules already packed) into a batch.
pub fn pack_batch(asks: &[(String, Question, Prefixes)]) -> Result<Packed, StoreError> {
    let mut prefix_len = asks.first().map_or(0, |a| a.0.len());
    for (s, _, _) in asks {
        let first = &asks[0].0;
        prefix_len = first
            .bytes()
            .zip(s.bytes())
            .take(prefix_len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let prefix = asks.first().map_or("", |a| &a.0[..prefix_len]).to_string();
    let items: Vec<Item> = asks
        .iter()
        .map(|(s, q, p)| Item {
            s: s[prefix_len..].to_string(),
            t: threshold(*q),
            k: *p == Prefixes::Keep,
        })
        .collect();
    let items = serde_json::to_string(&items).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(Packed {
        digest: digest(&prefix, &items),
        prefix,
        items,
        size: asks.len(),
    })
}

/// The asks of a stored batch, after checking its digest.
pub fn unpack_batch(
    prefix: &str,
    items: &str,
    sealed: &str,
    slots: usize,
) -> Result<Vec<Ask>, StoreError> {
    if digest(prefix, items) != sealed {
        return Err(StoreError::Corrupt(
            "its digest does not match its contents".into(),
        ));
    }
    let items: Vec<Item> =
        serde_json::from_str(items).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    items
        .into_iter()
        .map(|item| {
            Ok(Ask {
                schedule: unpack(&format!("{prefix}{}", item.s), slots)?,
                question: match item.t {
                    None => Question::Evaluate,
                    Some((min_correct, batch_safe)) => Question::Accepts {
                        min_correct,
                        batch_safe,
                    },
                },
                prefixes: if item.k {
                    Prefixes::Keep
                } else {
                    Prefixes::Skip
                },
            })
        })
        .collect()
}

/// The reply carrying an answer (`images`: the split's size).
pub fn reply(answer: &Answer, images: usize) -> Reply {
    let full = |j: &Judged| (Some(j.correct), Some(images), Some(j.unsafe_images));
    let (d, (c, n, u)) = match answer {
        Answer::Evaluated(j) => (None, full(j)),
        Answer::Decided { accepted, judged } => (
            Some(*accepted),
            judged.as_ref().map_or((None, None, None), full),
        ),
    };
    Reply { d, c, n, u }
}

/// The judged schedule of `correct` right of `images` (the accuracy computed as the oracle
/// computes it, so it is the same bits).
pub fn judged(correct: usize, images: usize, unsafe_images: usize) -> Judged {
    Judged {
        accuracy: correct as f64 / images as f64,
        correct,
        unsafe_images,
    }
}

/// The answer a reply carries.
pub fn answer(r: &Reply) -> Result<Answer, StoreError> {
    let full = match (r.c, r.n, r.u) {
        (Some(c), Some(n), Some(u)) if c <= n && u <= n && n > 0 => Some(judged(c, n, u)),
        (None, None, None) => None,
        _ => return Err(StoreError::Corrupt(format!("answer {r:?} is incomplete"))),
    };
    match (r.d, full) {
        (Some(accepted), judged) => Ok(Answer::Decided { accepted, judged }),
        (None, Some(j)) => Ok(Answer::Evaluated(j)),
        (None, None) => Err(StoreError::Corrupt("an answer is empty".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_batches_round_trip() {
        let a = Schedule::from_entries(
            2,
            vec![
                Approx::Degree(17),
                Approx::Degree(7),
                Approx::Exact,
                Approx::Degree(3),
            ],
        )
        .unwrap();
        let b = a.with_entry(3, Approx::Degree(5));
        let packed = [pack(&a).unwrap(), pack(&b).unwrap()];
        assert_eq!(packed[0], "h7~3");
        let asks = [
            (packed[0].clone(), Question::Evaluate, Prefixes::Keep),
            (
                packed[1].clone(),
                Question::Accepts {
                    min_correct: 9,
                    batch_safe: true,
                },
                Prefixes::Skip,
            ),
        ];
        let batch = pack_batch(&asks).unwrap();
        assert_eq!(batch.prefix, "h7~");
        let back = unpack_batch(&batch.prefix, &batch.items, &batch.digest, 2).unwrap();
        assert_eq!(back[0].schedule, a);
        assert_eq!(back[1].schedule, b);
        assert_eq!(back[1].question, asks[1].1);
        assert_eq!(back[1].prefixes, Prefixes::Skip);
        let tampered = batch.items.replace("\"3\"", "\"1\"");
        assert!(unpack_batch(&batch.prefix, &tampered, &batch.digest, 2).is_err());
    }

    #[test]
    fn replies_carry_answers_exactly() {
        let j = judged(7, 9, 1);
        for a in [
            Answer::Evaluated(j),
            Answer::Decided {
                accepted: false,
                judged: None,
            },
            Answer::Decided {
                accepted: true,
                judged: Some(j),
            },
        ] {
            assert_eq!(answer(&reply(&a, 9)).unwrap(), a);
        }
        assert!(
            answer(&Reply {
                d: None,
                c: Some(3),
                n: None,
                u: None
            })
            .is_err()
        );
    }
}
