//! Schedules: which approximation each cell (time step) uses.
//!
//! Text forms (cells are 0-based):
//! - one entry per cell: `17,17,7,3,exact,...`
//! - uniform: `all-17`, `all-exact`
//! - a base with exceptions: `17 except 7@0,4,24` or `17 except 7@0,4 3@9`
//!
//! JSON is the serde form of [`Schedule`] (a list of cells).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What replaces the activation in one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CellApprox {
    /// The exact activation (plaintext reference only; not evaluable under CKKS).
    Exact,
    /// The problem's fitted polynomial of this degree.
    Degree(usize),
}

/// One approximation per cell, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Schedule {
    cells: Vec<CellApprox>,
}

/// A schedule that cannot be parsed or does not fit a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule: bad token '{token}' at position {position}: {why}")]
    BadToken {
        token: String,
        position: usize,
        why: String,
    },
    #[error("schedule has {found} cells, the problem has {expected} steps")]
    WrongLength { found: usize, expected: usize },
    #[error("schedule: unknown degree {degree} at cell {cell}; candidates: {candidates}")]
    UnknownDegree {
        degree: usize,
        cell: usize,
        candidates: String,
    },
    #[error("schedule is empty")]
    Empty,
}

impl Schedule {
    /// A schedule from its cells, in time order.
    pub fn new(cells: Vec<CellApprox>) -> Self {
        Self { cells }
    }

    /// The same approximation in each of `steps` cells.
    pub fn uniform(steps: usize, cell: CellApprox) -> Self {
        Self::new(vec![cell; steps])
    }

    /// The cells, in time order.
    pub fn cells(&self) -> &[CellApprox] {
        &self.cells
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True for a schedule with no cells.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// This schedule with cell `i` replaced.
    pub fn with_cell(&self, i: usize, cell: CellApprox) -> Self {
        let mut cells = self.cells.clone();
        cells[i] = cell;
        Self { cells }
    }

    /// Parses a text form for a problem of `steps` cells (`all-D` needs the length).
    pub fn parse(text: &str, steps: usize) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let schedule = if let Some(rest) = text.strip_prefix("all-") {
            Self::uniform(steps, parse_cell(rest, 4)?)
        } else if let Some((base, exceptions)) = text.split_once(" except ") {
            let mut s = Self::uniform(steps, parse_cell(base.trim(), 0)?);
            let mut offset = base.len() + " except ".len();
            for group in exceptions.split_whitespace() {
                let at = exceptions[offset - base.len() - " except ".len()..]
                    .find(group)
                    .map_or(offset, |p| offset + p);
                let (cell, positions) =
                    group
                        .split_once('@')
                        .ok_or_else(|| ScheduleError::BadToken {
                            token: group.to_string(),
                            position: at,
                            why: "an exception is DEGREE@CELL,CELL,...".into(),
                        })?;
                let approx = parse_cell(cell, at)?;
                let mut pos = at + cell.len() + 1;
                for p in positions.split(',') {
                    let i: usize = p.parse().map_err(|_| ScheduleError::BadToken {
                        token: p.to_string(),
                        position: pos,
                        why: "a cell index must be a whole number".into(),
                    })?;
                    if i >= steps {
                        return Err(ScheduleError::BadToken {
                            token: p.to_string(),
                            position: pos,
                            why: format!("cell {i} is out of range 0..{steps}"),
                        });
                    }
                    s.cells[i] = approx;
                    pos += p.len() + 1;
                }
                offset = at + group.len();
            }
            s
        } else {
            let mut cells = Vec::new();
            let mut pos = 0;
            for token in text.split(',') {
                let lead = token.len() - token.trim_start().len();
                cells.push(parse_cell(token.trim(), pos + lead)?);
                pos += token.len() + 1;
            }
            Self::new(cells)
        };
        if schedule.len() != steps {
            return Err(ScheduleError::WrongLength {
                found: schedule.len(),
                expected: steps,
            });
        }
        Ok(schedule)
    }

    /// Checks every degree against the candidates (exact is always allowed).
    pub fn check_degrees(&self, candidates: &[usize]) -> Result<(), ScheduleError> {
        for (cell, c) in self.cells.iter().enumerate() {
            if let CellApprox::Degree(d) = c
                && !candidates.contains(d)
            {
                let list: Vec<String> = candidates.iter().map(|d| d.to_string()).collect();
                return Err(ScheduleError::UnknownDegree {
                    degree: *d,
                    cell,
                    candidates: list.join(", "),
                });
            }
        }
        Ok(())
    }
}

fn parse_cell(token: &str, position: usize) -> Result<CellApprox, ScheduleError> {
    if token == "exact" {
        return Ok(CellApprox::Exact);
    }
    match token.parse::<usize>() {
        Ok(d) if d > 0 => Ok(CellApprox::Degree(d)),
        _ => Err(ScheduleError::BadToken {
            token: token.to_string(),
            position,
            why: "expected a positive degree or 'exact'".into(),
        }),
    }
}

impl fmt::Display for CellApprox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact => f.write_str("exact"),
            Self::Degree(d) => write!(f, "{d}"),
        }
    }
}

/// The compact text form: `all-D` when uniform, else `BASE except D@i,j ...` with the most
/// frequent approximation as the base (ties: the higher degree), which parses back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(&first) = self.cells.first() else {
            return Ok(());
        };
        let mut kinds: Vec<CellApprox> = self.cells.clone();
        kinds.sort();
        kinds.dedup();
        let count = |k: &CellApprox| self.cells.iter().filter(|c| *c == k).count();
        let base = kinds
            .iter()
            .copied()
            .max_by_key(|k| (count(k), *k))
            .unwrap_or(first);
        if kinds.len() == 1 {
            return write!(f, "all-{base}");
        }
        write!(f, "{base} except")?;
        for k in kinds.iter().filter(|k| **k != base) {
            let cells: Vec<String> = (0..self.cells.len())
                .filter(|&i| self.cells[i] == *k)
                .map(|i| i.to_string())
                .collect();
            write!(f, " {k}@{}", cells.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// Parses the explicit comma-separated form (the length is the number of entries);
    /// `all-D` and `except` forms need the problem's length: use [`Schedule::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.split(',').count();
        Self::parse(s, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CellApprox::{Degree, Exact};

    #[test]
    fn text_forms_parse() {
        let s = Schedule::parse("17 except 7@0,4,24", 28).unwrap();
        assert_eq!(s.cells()[0], Degree(7));
        assert_eq!(s.cells()[1], Degree(17));
        assert_eq!(s.cells()[24], Degree(7));
        assert_eq!(
            Schedule::parse("all-exact", 3).unwrap(),
            Schedule::uniform(3, Exact)
        );
        let list = Schedule::parse("3, 7,exact", 3).unwrap();
        assert_eq!(list.cells(), &[Degree(3), Degree(7), Exact]);
        let two = Schedule::parse("17 except 7@0,4 3@9", 28).unwrap();
        assert_eq!(two.cells()[9], Degree(3));
        assert_eq!(two.cells()[4], Degree(7));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "all-17",
            "17 except 7@0,4,24",
            "7 except 3@1 17@0,2",
            "3,7,exact,17",
        ] {
            let s = Schedule::parse(text, 4.max(if text.contains("24") { 28 } else { 4 })).unwrap();
            let again = Schedule::parse(&s.to_string(), s.len()).unwrap();
            assert_eq!(s, again, "{text} -> {s}");
        }
        let s = Schedule::parse("17 except 7@0,4,24", 28).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
    }

    #[test]
    fn errors_name_the_token_and_position() {
        let e = Schedule::parse("17,17,x7,17", 4).unwrap_err();
        assert_eq!(
            e,
            ScheduleError::BadToken {
                token: "x7".into(),
                position: 6,
                why: "expected a positive degree or 'exact'".into()
            }
        );
        assert!(matches!(
            Schedule::parse("17,17", 4),
            Err(ScheduleError::WrongLength {
                found: 2,
                expected: 4
            })
        ));
        let e = Schedule::parse("17 except 7@0,99", 28)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'99'") && e.contains("out of range"), "{e}");
        let e = Schedule::parse("17 except 7-0", 28)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'7-0'") && e.contains("position 10"), "{e}");
        let s = Schedule::parse("all-5", 3).unwrap();
        let e = s.check_degrees(&[3, 7, 17]).unwrap_err().to_string();
        assert_eq!(
            e,
            "schedule: unknown degree 5 at cell 0; candidates: 3, 7, 17"
        );
        assert!(Schedule::parse("  ", 3).is_err());
        assert!(Schedule::parse("all-0", 3).is_err());
    }
}
