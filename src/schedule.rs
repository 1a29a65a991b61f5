//! Schedules: which approximation each activation slot uses at each time step, and the
//! search space of a problem ([`Space`]).
//!
//! Text forms (steps are 0-based; `A` is a degree or `exact`; slots are named by the cell,
//! e.g. `z`, `r`, `n` for a GRU):
//! - uniform: `all-17`, `all-exact` (every slot of every step);
//! - one entry per step, for one-slot cells (SimpleRNN): `17,17,7,3,exact,...`;
//! - a base with exceptions: `17 except 7@0,4,24 3@9`; an exception may name a slot
//!   (`z:7@0-27`, `n:3@5,6`) and give steps as indices, ranges `a-b` or `*` (every step);
//!   without a slot it sets every slot of those steps. A (slot, step) set twice is an error;
//! - explicit, one list per slot: `z:17,7,...; r:...; n:...`.
//!
//! [`Schedule`]'s `Display` prints the shortest of these forms that parses back exactly; for
//! one-slot cells it prints exactly what earlier versions printed (indices, no ranges).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::recurrence::{Cell, CellKind};

/// What replaces the activation at one (slot, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Approx {
    /// The exact activation (plaintext reference only; not evaluable under CKKS).
    Exact,
    /// The slot's fitted polynomial of this degree.
    Degree(usize),
}

/// The grid a schedule covers: the cell's slots times the time steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub cell: CellKind,
    pub steps: usize,
}

impl Shape {
    /// Slots per step.
    pub fn slots(&self) -> usize {
        self.cell.cell().slots.len()
    }
}

/// A bare step count is the shape of a SimpleRNN (one slot per step).
impl From<usize> for Shape {
    fn from(steps: usize) -> Self {
        Shape {
            cell: CellKind::SimpleRnn,
            steps,
        }
    }
}

/// One approximation per (slot, step), stored step-major: a time prefix of a schedule is a
/// prefix of its entries.
///
/// JSON form: `{"slots": S, "entries": [...]}` (step-major); the one-slot form of earlier
/// versions, `{"cells": [...]}`, still reads (checkpoints of SimpleRNN runs resume).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "ScheduleJson")]
pub struct Schedule {
    slots: usize,
    entries: Vec<Approx>,
}

/// The JSON forms a [`Schedule`] reads from.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScheduleJson {
    Grid { slots: usize, entries: Vec<Approx> },
    Cells { cells: Vec<Approx> },
}

impl TryFrom<ScheduleJson> for Schedule {
    type Error = ScheduleError;

    fn try_from(json: ScheduleJson) -> Result<Self, ScheduleError> {
        match json {
            ScheduleJson::Grid { slots, entries } => Self::from_entries(slots, entries),
            ScheduleJson::Cells { cells } => Ok(Self::new(cells)),
        }
    }
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
    #[error("schedule has {found} steps, the problem has {expected} steps")]
    WrongLength { found: usize, expected: usize },
    #[error(
        "schedule: unknown degree {degree} at slot {slot} step {step}; candidates: {candidates}"
    )]
    UnknownDegree {
        degree: usize,
        slot: String,
        step: usize,
        candidates: String,
    },
    #[error(
        "schedule: degree index {index} at {position} is out of range: slot {slot} has the candidates {candidates} (indices 0 to {last})"
    )]
    BadIndex {
        index: i64,
        /// `step T` (one-slot cells) or `slot S step T`.
        position: String,
        slot: String,
        candidates: String,
        last: usize,
    },
    #[error("schedule: {0}")]
    Shape(String),
    #[error("schedule is empty")]
    Empty,
}

impl Schedule {
    /// A one-slot schedule (SimpleRNN) from its steps, in time order.
    pub fn new(cells: Vec<Approx>) -> Self {
        Self {
            slots: 1,
            entries: cells,
        }
    }

    /// A schedule of `slots` slots from its entries, step-major (`entries[t * slots + s]`).
    pub fn from_entries(slots: usize, entries: Vec<Approx>) -> Result<Self, ScheduleError> {
        if slots == 0 || !entries.len().is_multiple_of(slots) {
            return Err(ScheduleError::Shape(format!(
                "{} entries do not fill steps of {slots} slots",
                entries.len()
            )));
        }
        Ok(Self { slots, entries })
    }

    /// The same approximation at every slot of every step.
    pub fn uniform(shape: impl Into<Shape>, approx: Approx) -> Self {
        let shape = shape.into();
        Self {
            slots: shape.slots(),
            entries: vec![approx; shape.slots() * shape.steps],
        }
    }

    /// Every entry, step-major.
    pub fn entries(&self) -> &[Approx] {
        &self.entries
    }

    /// Slots per step.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Number of steps.
    pub fn steps(&self) -> usize {
        self.entries.len() / self.slots.max(1)
    }

    /// True for a schedule with no steps.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The approximation at (slot, step).
    pub fn get(&self, slot: usize, step: usize) -> Approx {
        self.entries[step * self.slots + slot]
    }

    /// The approximations of one slot, in time order.
    pub fn slot(&self, slot: usize) -> Vec<Approx> {
        self.entries
            .iter()
            .skip(slot)
            .step_by(self.slots)
            .copied()
            .collect()
    }

    /// This schedule with (slot, step) replaced.
    pub fn with(&self, slot: usize, step: usize, approx: Approx) -> Self {
        let mut s = self.clone();
        s.entries[step * self.slots + slot] = approx;
        s
    }

    /// This schedule with entry `i` (step-major) replaced.
    pub fn with_entry(&self, i: usize, approx: Approx) -> Self {
        let mut s = self.clone();
        s.entries[i] = approx;
        s
    }

    /// Checks that the schedule covers `shape`.
    pub fn check_shape(&self, shape: impl Into<Shape>) -> Result<(), ScheduleError> {
        let shape = shape.into();
        if self.slots != shape.slots() {
            return Err(ScheduleError::Shape(format!(
                "it has {} slots per step, a {} step has {} ({})",
                self.slots,
                shape.cell,
                shape.slots(),
                shape.cell.cell().slot_names()
            )));
        }
        if self.steps() != shape.steps {
            return Err(ScheduleError::WrongLength {
                found: self.steps(),
                expected: shape.steps,
            });
        }
        Ok(())
    }

    /// Parses a text form for a problem of this shape (a bare step count is a SimpleRNN).
    pub fn parse(text: &str, shape: impl Into<Shape>) -> Result<Self, ScheduleError> {
        let shape = shape.into();
        let cell = shape.cell.cell();
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let schedule = if let Some(rest) = text.strip_prefix("all-") {
            Self::uniform(shape, parse_approx(rest, 4)?)
        } else if let Some((base, exceptions)) = text.split_once(" except ") {
            let mut s = Self::uniform(shape, parse_approx(base.trim(), 0)?);
            let mut set = vec![false; s.entries.len()];
            let start = base.len() + " except ".len();
            let mut offset = 0;
            for group in exceptions.split_whitespace() {
                let at = start + exceptions[offset..].find(group).map_or(0, |p| offset + p);
                offset = at - start + group.len();
                parse_group(group, at, cell, shape.steps, &mut s, &mut set)?;
            }
            s
        } else if text.contains(':') {
            parse_explicit(text, cell, shape.steps)?
        } else {
            if cell.slots.len() != 1 {
                return Err(ScheduleError::Shape(format!(
                    "a plain list gives one slot per step; a {} step has {} slots ({}): use `SLOT:A,A,...; ...` or `BASE except SLOT:A@STEPS`",
                    cell.kind,
                    cell.slots.len(),
                    cell.slot_names()
                )));
            }
            Self::new(parse_list(text, 0)?)
        };
        if schedule.steps() != shape.steps {
            return Err(ScheduleError::WrongLength {
                found: schedule.steps(),
                expected: shape.steps,
            });
        }
        Ok(schedule)
    }

    /// Checks every degree against the candidates of its slot (exact is always allowed).
    pub fn check_degrees(&self, space: &Space) -> Result<(), ScheduleError> {
        for (i, a) in self.entries.iter().enumerate() {
            let (step, slot) = (i / self.slots, i % self.slots);
            let candidates = &space.degrees[slot];
            if let Approx::Degree(d) = a
                && !candidates.contains(d)
            {
                let list: Vec<String> = candidates.iter().map(|d| d.to_string()).collect();
                return Err(ScheduleError::UnknownDegree {
                    degree: *d,
                    slot: space.cell.cell().slots[slot].name.to_string(),
                    step,
                    candidates: list.join(", "),
                });
            }
        }
        Ok(())
    }

    /// Writes the slot-qualified form (one group per slot and approximation).
    fn fmt_slots(&self, f: &mut fmt::Formatter<'_>, base: Approx) -> fmt::Result {
        let cell = CellKind::ALL
            .into_iter()
            .map(|k| k.cell())
            .find(|c| c.slots.len() == self.slots);
        write!(f, "{base} except")?;
        for slot in 0..self.slots {
            let name = cell.map_or_else(|| slot.to_string(), |c| c.slots[slot].name.to_string());
            let mut by: BTreeMap<Approx, Vec<usize>> = BTreeMap::new();
            for (t, a) in self.slot(slot).into_iter().enumerate() {
                if a != base {
                    by.entry(a).or_default().push(t);
                }
            }
            for (a, steps) in by {
                write!(f, " {name}:{a}@{}", compress(&steps, self.steps()))?;
            }
        }
        Ok(())
    }
}

/// Steps as the shortest list: `*` for every step, ranges `a-b` for three or more in a row.
fn compress(steps: &[usize], total: usize) -> String {
    if steps.len() == total {
        return "*".into();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut j = i;
        while j + 1 < steps.len() && steps[j + 1] == steps[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", steps[i], steps[j]));
        } else {
            parts.extend(steps[i..=j].iter().map(|s| s.to_string()));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// `[SLOT:]A@STEPS` applied to `s`.
fn parse_group(
    group: &str,
    at: usize,
    cell: &Cell,
    steps: usize,
    s: &mut Schedule,
    set: &mut [bool],
) -> Result<(), ScheduleError> {
    let bad = |token: &str, position: usize, why: String| ScheduleError::BadToken {
        token: token.to_string(),
        position,
        why,
    };
    let (head, positions) = group.split_once('@').ok_or_else(|| {
        bad(
            group,
            at,
            "an exception is [SLOT:]DEGREE@STEP,STEP,... (steps may be ranges a-b or *)".into(),
        )
    })?;
    let (slots, approx_text, approx_at) = match head.split_once(':') {
        Some((name, a)) => {
            let slot = cell.slot_index(name).ok_or_else(|| {
                bad(
                    name,
                    at,
                    format!(
                        "unknown slot; a {} step has slots {}",
                        cell.kind,
                        cell.slot_names()
                    ),
                )
            })?;
            (vec![slot], a, at + name.len() + 1)
        }
        None => ((0..cell.slots.len()).collect(), head, at),
    };
    let approx = parse_approx(approx_text, approx_at)?;
    let mut pos = at + head.len() + 1;
    for p in positions.split(',') {
        let range = if p == "*" {
            0..steps
        } else {
            let (a, b) = p.split_once('-').unwrap_or((p, p));
            let num = |v: &str| {
                v.parse::<usize>().map_err(|_| {
                    bad(
                        p,
                        pos,
                        "a step is a whole number, a range a-b or *".to_string(),
                    )
                })
            };
            let (a, b) = (num(a)?, num(b)?);
            if a > b || b >= steps {
                return Err(bad(p, pos, format!("step {p} is out of range 0..{steps}")));
            }
            a..b + 1
        };
        for t in range {
            for &slot in &slots {
                let i = t * cell.slots.len() + slot;
                if std::mem::replace(&mut set[i], true) {
                    return Err(bad(
                        p,
                        pos,
                        format!("slot {} at step {t} is set twice", cell.slots[slot].name),
                    ));
                }
                s.entries[i] = approx;
            }
        }
        pos += p.len() + 1;
    }
    Ok(())
}

/// `SLOT:A,A,...; SLOT:A,...` with every slot exactly once.
fn parse_explicit(text: &str, cell: &Cell, steps: usize) -> Result<Schedule, ScheduleError> {
    let mut lists: Vec<Option<Vec<Approx>>> = vec![None; cell.slots.len()];
    let mut pos = 0;
    for part in text.split(';') {
        let lead = part.len() - part.trim_start().len();
        let (name, list) = part
            .trim()
            .split_once(':')
            .ok_or_else(|| ScheduleError::BadToken {
                token: part.trim().to_string(),
                position: pos + lead,
                why: "an explicit schedule is SLOT:A,A,...; SLOT:A,...".into(),
            })?;
        let slot = cell
            .slot_index(name.trim())
            .ok_or_else(|| ScheduleError::BadToken {
                token: name.trim().to_string(),
                position: pos + lead,
                why: format!(
                    "unknown slot; a {} step has slots {}",
                    cell.kind,
                    cell.slot_names()
                ),
            })?;
        let parsed = parse_list(list, pos + lead + name.len() + 1)?;
        if parsed.len() != steps {
            return Err(ScheduleError::WrongLength {
                found: parsed.len(),
                expected: steps,
            });
        }
        if lists[slot].replace(parsed).is_some() {
            return Err(ScheduleError::BadToken {
                token: name.trim().to_string(),
                position: pos + lead,
                why: "slot listed twice".into(),
            });
        }
        pos += part.len() + 1;
    }
    let mut entries = Vec::with_capacity(steps * cell.slots.len());
    let lists: Vec<Vec<Approx>> = lists
        .into_iter()
        .enumerate()
        .map(|(s, l)| {
            l.ok_or_else(|| {
                ScheduleError::Shape(format!("slot {} is not listed", cell.slots[s].name))
            })
        })
        .collect::<Result<_, _>>()?;
    for t in 0..steps {
        entries.extend(lists.iter().map(|l| l[t]));
    }
    Schedule::from_entries(cell.slots.len(), entries)
}

/// A comma-separated list of approximations starting at byte `start` of the text.
fn parse_list(text: &str, start: usize) -> Result<Vec<Approx>, ScheduleError> {
    let mut out = Vec::new();
    let mut pos = start;
    for token in text.split(',') {
        let lead = token.len() - token.trim_start().len();
        out.push(parse_approx(token.trim(), pos + lead)?);
        pos += token.len() + 1;
    }
    Ok(out)
}

fn parse_approx(token: &str, position: usize) -> Result<Approx, ScheduleError> {
    if token == "exact" {
        return Ok(Approx::Exact);
    }
    match token.parse::<usize>() {
        Ok(d) if d > 0 => Ok(Approx::Degree(d)),
        _ => Err(ScheduleError::BadToken {
            token: token.to_string(),
            position,
            why: "expected a positive degree or 'exact'".into(),
        }),
    }
}

impl fmt::Display for Approx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact => f.write_str("exact"),
            Self::Degree(d) => write!(f, "{d}"),
        }
    }
}

/// The compact text form: `all-A` when uniform, else `BASE except ...` with the most frequent
/// approximation as the base (ties: the higher degree), which parses back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(&first) = self.entries.first() else {
            return Ok(());
        };
        let mut kinds: Vec<Approx> = self.entries.clone();
        kinds.sort();
        kinds.dedup();
        let count = |k: &Approx| self.entries.iter().filter(|c| *c == k).count();
        let base = kinds
            .iter()
            .copied()
            .max_by_key(|k| (count(k), *k))
            .unwrap_or(first);
        if kinds.len() == 1 {
            return write!(f, "all-{base}");
        }
        if self.slots != 1 {
            return self.fmt_slots(f, base);
        }
        write!(f, "{base} except")?;
        for k in kinds.iter().filter(|k| **k != base) {
            let cells: Vec<String> = (0..self.entries.len())
                .filter(|&i| self.entries[i] == *k)
                .map(|i| i.to_string())
                .collect();
            write!(f, " {k}@{}", cells.join(","))?;
        }
        Ok(())
    }
}

/// The search space of a problem: the cell, the steps and each slot's candidate degrees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Space {
    pub cell: CellKind,
    pub steps: usize,
    /// Candidate degrees of each slot, highest first.
    pub degrees: Vec<Vec<usize>>,
}

impl Space {
    /// A space; each slot's degrees are sorted highest first and deduplicated.
    pub fn new(cell: CellKind, steps: usize, mut degrees: Vec<Vec<usize>>) -> Self {
        for d in &mut degrees {
            d.sort_unstable_by(|a, b| b.cmp(a));
            d.dedup();
        }
        Self {
            cell,
            steps,
            degrees,
        }
    }

    /// The shape of its schedules.
    pub fn shape(&self) -> Shape {
        Shape {
            cell: self.cell,
            steps: self.steps,
        }
    }

    /// Slots per step.
    pub fn slots(&self) -> usize {
        self.degrees.len()
    }

    /// Number of (slot, step) positions, the length of a schedule's entries.
    pub fn positions(&self) -> usize {
        self.slots() * self.steps
    }

    /// The slot of entry `i`.
    pub fn slot_of(&self, i: usize) -> usize {
        i % self.slots()
    }

    /// The candidate degrees of entry `i`, highest first.
    pub fn degrees_at(&self, i: usize) -> &[usize] {
        &self.degrees[self.slot_of(i)]
    }

    /// The degrees every slot has, highest first (the `all-D` schedules of the space).
    pub fn uniform_degrees(&self) -> Vec<usize> {
        let mut d = self.degrees.first().cloned().unwrap_or_default();
        d.retain(|x| self.degrees.iter().all(|s| s.contains(x)));
        d
    }

    /// Every degree some slot has, highest first.
    pub fn all_degrees(&self) -> Vec<usize> {
        let mut d: Vec<usize> = self.degrees.concat();
        d.sort_unstable_by(|a, b| b.cmp(a));
        d.dedup();
        d
    }

    /// Every slot at its highest candidate degree.
    pub fn top(&self) -> Schedule {
        let entries = (0..self.positions())
            .map(|i| Approx::Degree(self.degrees_at(i)[0]))
            .collect();
        Schedule {
            slots: self.slots(),
            entries,
        }
    }

    /// Every slot at its lowest candidate degree.
    pub fn bottom(&self) -> Schedule {
        let entries = (0..self.positions())
            .map(|i| Approx::Degree(*self.degrees_at(i).last().unwrap_or(&1)))
            .collect();
        Schedule {
            slots: self.slots(),
            entries,
        }
    }

    /// The schedule whose entry `i` is the `choice[i]`-th candidate (0 = highest).
    pub fn from_choices(&self, choice: &[usize]) -> Schedule {
        let entries = choice
            .iter()
            .enumerate()
            .map(|(i, &c)| Approx::Degree(self.degrees_at(i)[c]))
            .collect();
        Schedule {
            slots: self.slots(),
            entries,
        }
    }

    /// [`Space::from_choices`] for indices from outside (a file, a numpy array): the schedule
    /// whose entry `i` (step-major) is the `indices[i]`-th candidate of its slot (0 = highest),
    /// or an error naming the first index that is negative or beyond its slot's candidates, or
    /// the wrong number of indices.
    pub fn try_from_choices(&self, indices: &[i64]) -> Result<Schedule, ScheduleError> {
        if indices.len() != self.positions() {
            return Err(ScheduleError::Shape(format!(
                "{} degree indices given, the space has {} (slots) x {} (steps) = {} positions",
                indices.len(),
                self.slots(),
                self.steps,
                self.positions()
            )));
        }
        let entries = indices
            .iter()
            .enumerate()
            .map(|(i, &index)| {
                let degrees = self.degrees_at(i);
                match usize::try_from(index).ok().and_then(|c| degrees.get(c)) {
                    Some(&d) => Ok(Approx::Degree(d)),
                    None => {
                        let (t, s) = (i / self.slots(), self.slot_of(i));
                        let slot = self.cell.cell().slots[s].name.to_string();
                        let list: Vec<String> = degrees.iter().map(|d| d.to_string()).collect();
                        Err(ScheduleError::BadIndex {
                            index,
                            position: if self.slots() == 1 {
                                format!("step {t}")
                            } else {
                                format!("slot {slot} step {t}")
                            },
                            slot,
                            candidates: list.join(", "),
                            last: degrees.len().saturating_sub(1),
                        })
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule {
            slots: self.slots(),
            entries,
        })
    }

    /// The candidate index (0 = highest) of each entry; `None` if an entry is exact or not
    /// a candidate.
    pub fn choices(&self, s: &Schedule) -> Option<Vec<usize>> {
        s.entries
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                Approx::Degree(d) => self.degrees_at(i).iter().position(|x| x == d),
                Approx::Exact => None,
            })
            .collect()
    }

    /// A name for entry `i`: `t` for one-slot cells, `slot@t` otherwise.
    pub fn position_name(&self, i: usize) -> String {
        let (t, s) = (i / self.slots(), self.slot_of(i));
        if self.slots() == 1 {
            t.to_string()
        } else {
            format!("{}@{t}", self.cell.cell().slots[s].name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Approx::{Degree, Exact};

    fn gru(steps: usize) -> Shape {
        Shape {
            cell: CellKind::Gru,
            steps,
        }
    }

    #[test]
    fn text_forms_parse() {
        let s = Schedule::parse("17 except 7@0,4,24", 28).unwrap();
        assert_eq!(s.get(0, 0), Degree(7));
        assert_eq!(s.get(0, 1), Degree(17));
        assert_eq!(s.get(0, 24), Degree(7));
        assert_eq!(
            Schedule::parse("all-exact", 3).unwrap(),
            Schedule::uniform(3, Exact)
        );
        let list = Schedule::parse("3, 7,exact", 3).unwrap();
        assert_eq!(list.entries(), &[Degree(3), Degree(7), Exact]);
        let two = Schedule::parse("17 except 7@0,4 3@9", 28).unwrap();
        assert_eq!(two.get(0, 9), Degree(3));
        assert_eq!(two.get(0, 4), Degree(7));
        // Gated: a slot over a range, every slot of a step, every step of a slot.
        let g = Schedule::parse("17 except z:7@0-3 3@5 n:exact@0-4", gru(6)).unwrap();
        assert_eq!(g.slot(0), [7, 7, 7, 7, 17, 3].map(Degree).to_vec());
        assert_eq!(g.slot(1), [17, 17, 17, 17, 17, 3].map(Degree).to_vec());
        assert_eq!(
            g.slot(2),
            [Exact, Exact, Exact, Exact, Exact, Degree(3)].to_vec()
        );
        let e = Schedule::parse("z:3,3; r:7,7; n:17,exact", gru(2)).unwrap();
        assert_eq!(e.get(2, 1), Exact);
        assert_eq!(e.get(1, 0), Degree(7));
    }

    #[test]
    fn display_round_trips() {
        for (text, steps) in [
            ("all-17", 4),
            ("17 except 7@0,4,24", 28),
            ("7 except 3@1 17@0,2", 4),
            ("3,7,exact,17", 4),
        ] {
            let s = Schedule::parse(text, steps).unwrap();
            let again = Schedule::parse(&s.to_string(), steps).unwrap();
            assert_eq!(s, again, "{text} -> {s}");
        }
        // One-slot output is what earlier versions printed (indices, no ranges).
        let s = Schedule::parse("17 except 7@0,1,2,3", 28).unwrap();
        assert_eq!(s.to_string(), "17 except 7@0,1,2,3");
        for (text, steps) in [
            ("17 except z:7@0-3 3@5 n:exact@0-4", 6),
            ("all-7", 4),
            ("z:3,7,17,3; r:7,7,7,7; n:17,exact,3,3", 4),
        ] {
            let s = Schedule::parse(text, gru(steps)).unwrap();
            let printed = s.to_string();
            let again = Schedule::parse(&printed, gru(steps)).unwrap();
            assert_eq!(s, again, "{text} -> {printed}");
        }
        let g = Schedule::parse("17 except z:7@*", gru(28)).unwrap();
        assert_eq!(g.to_string(), "17 except z:7@*");
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), g);
        // The one-slot JSON of earlier versions reads; entries that do not fill whole steps
        // are refused.
        let old: Schedule = serde_json::from_str(r#"{"cells":[{"Degree":17},"Exact"]}"#).unwrap();
        assert_eq!(old, Schedule::new(vec![Degree(17), Exact]));
        for bad in [
            r#"{"slots":0,"entries":[]}"#,
            r#"{"slots":3,"entries":[{"Degree":3}]}"#,
        ] {
            assert!(serde_json::from_str::<Schedule>(bad).is_err(), "{bad}");
        }
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
        let space = Space::new(CellKind::SimpleRnn, 3, vec![vec![3, 7, 17]]);
        let s = Schedule::parse("all-5", 3).unwrap();
        let e = s.check_degrees(&space).unwrap_err().to_string();
        assert_eq!(
            e,
            "schedule: unknown degree 5 at slot h step 0; candidates: 17, 7, 3"
        );
        assert!(Schedule::parse("  ", 3).is_err());
        assert!(Schedule::parse("all-0", 3).is_err());
        // The same step twice.
        let e = Schedule::parse("17 except 7@1 3@1", 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("set twice"), "{e}");
        // Slots that the cell does not have, plain lists for gated cells.
        let e = Schedule::parse("17 except q:7@1", gru(4))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown slot") && e.contains("z, r, n"), "{e}");
        let e = Schedule::parse("17,17", gru(2)).unwrap_err().to_string();
        assert!(e.contains("3 slots"), "{e}");
        let e = Schedule::parse("z:3,3; r:7,7", gru(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("slot n is not listed"), "{e}");
        let e = Schedule::parse("17 except z:7@3-1", gru(4))
            .unwrap_err()
            .to_string();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn space_builds_schedules() {
        let space = Space::new(CellKind::Lstm, 2, vec![vec![3, 7, 17]; 5]);
        assert_eq!(space.positions(), 10);
        assert_eq!(space.top(), Schedule::uniform(space.shape(), Degree(17)));
        let mut choice = vec![0; 10];
        choice[7] = 2;
        let s = space.from_choices(&choice);
        assert_eq!(s.get(2, 1), Degree(3));
        assert_eq!(space.choices(&s), Some(choice));
        assert_eq!(space.position_name(7), "g@1");
    }

    #[test]
    fn indices_from_outside_are_checked() {
        let space = Space::new(CellKind::Gru, 2, vec![vec![3, 7, 17]; 3]);
        let s = space.try_from_choices(&[0, 1, 2, 2, 1, 0]).unwrap();
        assert_eq!(s, space.from_choices(&[0, 1, 2, 2, 1, 0]));
        assert_eq!(s.get(2, 0), Degree(3));
        let e = space
            .try_from_choices(&[0, 0, 0, 0, 3, 0])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "schedule: degree index 3 at slot r step 1 is out of range: slot r has the candidates 17, 7, 3 (indices 0 to 2)"
        );
        let rnn = Space::new(CellKind::SimpleRnn, 3, vec![vec![17, 7]]);
        let e = rnn.try_from_choices(&[0, -1, 0]).unwrap_err().to_string();
        assert!(e.contains("index -1 at step 1"), "{e}");
        let e = rnn.try_from_choices(&[0, 1]).unwrap_err().to_string();
        assert!(e.contains("2 degree indices given"), "{e}");
    }
}
