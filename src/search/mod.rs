//! Search strategies over schedules, all behind one trait and one context.
//!
//! A strategy is thin: it proposes schedules and asks the [`SearchContext`] to judge them.
//! The context owns everything shared — the validation oracle, the cost model, the
//! constraints, the evaluation budget and the record of every evaluation — so budgets and
//! bookkeeping live once, here, not in each strategy (the shape of argmin's executor).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cost::{CostError, CostModel};
use crate::oracle::{Oracle, OracleConfig, OracleError, Prefixes};
use crate::problem::Problem;
use crate::schedule::{Schedule, Space};

pub mod anneal;
mod checkpoint;
pub mod dfs;
pub mod dp;
pub mod dp_levels;
pub mod executor;
pub mod exhaustive;
pub mod genetic;
pub mod greedy;
pub mod random;

pub use executor::{Answer, Ask, Executor, InProcess, Question};

pub use checkpoint::{
    CHECKPOINT_FORMAT, Checkpoint, MAX_CHECKPOINT_BYTES, REJUDGE_SAMPLE, verify_records,
};

/// Errors raised by a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Oracle(#[from] OracleError),
    #[error(transparent)]
    Cost(#[from] CostError),
    #[error("strategy preset {name}: {message}")]
    Config { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// A failure of the executor that answers elsewhere (the study store or its workers).
    #[error("{0}")]
    Executor(String),
}

/// Limits that every strategy respects.
#[derive(Clone, Debug, Serialize)]
pub struct Constraints {
    /// Schedules below this validation accuracy are not acceptable answers.
    pub min_accuracy: f64,
    /// Schedules above this cost are not acceptable answers.
    pub max_cost: f64,
    /// Schedules that leave a validation image unsafe for batched CKKS evaluation (see
    /// [`crate::oracle::SAFE_ARGUMENT`]) are not acceptable answers.
    pub batch_safe: bool,
}

impl Constraints {
    /// True if a judged schedule of this cost is an acceptable answer.
    pub fn admit(&self, judged: &Judged, cost: f64) -> bool {
        judged.accuracy >= self.min_accuracy
            && cost <= self.max_cost
            && self.safe_enough(judged.unsafe_images)
    }

    /// True unless batch safety is required and some of the validation images are unsafe.
    pub fn safe_enough(&self, unsafe_images: usize) -> bool {
        !self.batch_safe || unsafe_images == 0
    }
}

/// What a full evaluation tells a strategy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judged {
    /// Validation accuracy.
    pub accuracy: f64,
    /// Correctly classified validation images.
    pub correct: usize,
    /// Validation images left unsafe for batched CKKS evaluation.
    pub unsafe_images: usize,
}

/// One judged schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Order of the judgement (0-based).
    pub index: usize,
    pub schedule: Schedule,
    /// Validation accuracy; `None` when an early-exit decision did not need it.
    pub accuracy: Option<f64>,
    pub correct: Option<usize>,
    /// Validation images left unsafe for batched CKKS (`None` with `accuracy`).
    #[serde(default)]
    pub unsafe_images: Option<usize>,
    /// The answer of a threshold decision (`None` for plain evaluations).
    pub accepted: Option<bool>,
    pub cost: f64,
}

/// The shared state of a search.
pub struct SearchContext<'a> {
    pub problem: &'a Problem,
    pub oracle: &'a Oracle,
    pub cost: &'a dyn CostModel,
    pub constraints: Constraints,
    /// Maximum judgements (evaluations plus decisions).
    pub budget: usize,
    pub seed: u64,
    space: Space,
    records: Vec<Record>,
    /// Wall seconds since `start` at which each record was made.
    elapsed: Vec<f64>,
    start: Instant,
    cpu_start: f64,
    /// Recorded answers still to be replayed (resumed runs).
    replay: VecDeque<Record>,
    /// Where and how often to write checkpoints, and the header they carry.
    checkpoint: Option<(PathBuf, usize, serde_json::Value)>,
    /// When the last checkpoint was written and how long writing it took.
    last_checkpoint: Option<(Instant, std::time::Duration)>,
    /// Progress observer: ticks once per judgement.
    progress: Option<indicatif::ProgressBar>,
    /// Who answers the questions (the oracle in process unless [`SearchContext::answer_with`]).
    executor: Box<dyn Executor + 'a>,
}

/// The largest share of a run's wall time that writing checkpoints may take.
pub const CHECKPOINT_SHARE: f64 = 0.1;
/// Checkpoints written faster than this (seconds) are never skipped.
pub const CHECKPOINT_UNTHROTTLED: f64 = 0.05;

/// What a strategy found, with the statistics of the search.
#[derive(Clone, Debug, Serialize)]
pub struct SearchOutcome {
    pub strategy: String,
    pub records: Vec<Record>,
    /// Indices (into `records`) of the non-dominated evaluated schedules: no other evaluated
    /// schedule is at least as accurate and at most as costly, and better in one.
    pub pareto: Vec<usize>,
    /// Strategy-specific statistics (e.g. the DFS's kept schedules).
    pub details: serde_json::Value,
    pub judgements: usize,
    pub budget_exhausted: bool,
    /// Why the strategy ended before its budget was spent (its details' `stopped`, e.g.
    /// "converged after 330 judgements: ..."); `None` when the budget was spent.
    pub stopped: Option<String>,
    pub seconds: f64,
    /// CPU seconds of the process (all threads) during the search.
    pub cpu_seconds: f64,
    /// Wall seconds from the start of the search to each judgement (one per record; in a
    /// resumed run the replayed judgements take the replay's times). They depend on the
    /// machine, so they go to `timing.json`, never to `run.json`.
    #[serde(skip)]
    pub elapsed: Vec<f64>,
}

/// A search strategy.
pub trait ScheduleSearch {
    /// Short name.
    fn name(&self) -> &str;
    /// Runs the search; every judgement goes through `ctx`. The returned details say, under
    /// `stopped`, why the search ended if it ends before the budget is spent.
    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError>;
}

impl<'a> SearchContext<'a> {
    /// A context over the validation oracle and a cost model.
    pub fn new(
        problem: &'a Problem,
        oracle: &'a Oracle,
        cost: &'a dyn CostModel,
        constraints: Constraints,
        budget: usize,
        seed: u64,
    ) -> Result<Self, SearchError> {
        if budget == 0 {
            return Err(SearchError::Invalid(
                "the evaluation budget must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&constraints.min_accuracy) {
            return Err(SearchError::Invalid(format!(
                "minimum accuracy {} must be within [0, 1]",
                constraints.min_accuracy
            )));
        }
        if constraints.max_cost.is_nan() || constraints.max_cost <= 0.0 {
            return Err(SearchError::Invalid(format!(
                "maximum cost {} must be positive",
                constraints.max_cost
            )));
        }
        Ok(Self {
            problem,
            oracle,
            cost,
            constraints,
            budget,
            seed,
            space: oracle.space().clone(),
            records: Vec::new(),
            elapsed: Vec::new(),
            start: Instant::now(),
            cpu_start: crate::sysinfo::process_cpu_seconds(),
            replay: VecDeque::new(),
            checkpoint: None,
            last_checkpoint: None,
            progress: None,
            executor: Box::new(InProcess { oracle }),
        })
    }

    /// Has `executor` answer the questions instead of the oracle in this process; the
    /// records are the same whoever answers.
    pub fn answer_with(&mut self, executor: Box<dyn Executor + 'a>) {
        self.executor = executor;
    }

    /// Shows a progress bar of judgements against the budget on stderr (hidden when `CI`
    /// is set or stderr is not a terminal).
    pub fn show_progress(&mut self, label: &str) {
        use std::io::IsTerminal;
        if std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new(self.budget as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} judgements {per_sec} {elapsed}",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        self.progress = Some(bar);
    }

    /// Writes a [`Checkpoint`] with `header` to `path` (atomically) after every `every`
    /// judgements, skipping a due one while less than [`CHECKPOINT_SHARE`]'s inverse times
    /// the last write's duration has passed since it, if that write took at least
    /// [`CHECKPOINT_UNTHROTTLED`] (a checkpoint holds every judgement so far, so fixed
    /// intervals would make long runs quadratic).
    pub fn checkpoint_every(&mut self, path: PathBuf, every: usize, header: serde_json::Value) {
        if every > 0 {
            self.checkpoint = Some((path, every, header));
        }
    }

    /// Replays the judgements of `records` (from a checkpoint of the same run) before asking
    /// the oracle: the strategy must ask for the same schedules in the same order, otherwise
    /// the judgement fails with an error naming the first difference.
    pub fn resume_from(&mut self, records: Vec<Record>) -> Result<(), SearchError> {
        if records.len() > self.budget {
            return Err(SearchError::Invalid(format!(
                "the checkpoint holds {} judgements, more than the budget {}",
                records.len(),
                self.budget
            )));
        }
        self.replay = records.into();
        Ok(())
    }

    /// The next recorded judgement if it is for `schedule` and of the same kind.
    fn replayed(
        &mut self,
        schedule: &Schedule,
        threshold: bool,
    ) -> Result<Option<Record>, SearchError> {
        let Some(r) = self.replay.pop_front() else {
            return Ok(None);
        };
        if r.schedule != *schedule || r.accepted.is_some() != threshold {
            return Err(SearchError::Invalid(format!(
                "the checkpoint does not match this run: judgement {} was `{}`, the strategy now asks for `{}` (different settings or version?)",
                r.index, r.schedule, schedule
            )));
        }
        Ok(Some(r))
    }

    fn push(&mut self, mut record: Record) -> Result<(), SearchError> {
        record.index = self.records.len();
        self.records.push(record);
        self.elapsed.push(self.start.elapsed().as_secs_f64());
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
        if let Some((path, every, header)) = &self.checkpoint
            && self.records.len().is_multiple_of(*every)
            && self.replay.is_empty()
            && self.last_checkpoint.is_none_or(|(at, took)| {
                took.as_secs_f64() < CHECKPOINT_UNTHROTTLED
                    || at.elapsed().as_secs_f64() * CHECKPOINT_SHARE >= took.as_secs_f64()
            })
        {
            let t = Instant::now();
            Checkpoint::new(header.clone(), self.records.clone())?.write(path)?;
            self.last_checkpoint = Some((Instant::now(), t.elapsed()));
        }
        Ok(())
    }

    /// Judgements made so far.
    pub fn judgements(&self) -> usize {
        self.records.len()
    }

    /// Judgements left in the budget.
    pub fn remaining(&self) -> usize {
        self.budget - self.records.len()
    }

    /// The search space: each (slot, step) position and its candidate degrees.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Evaluates a schedule fully; `None` once the budget is spent.
    pub fn evaluate(&mut self, schedule: &Schedule) -> Result<Option<Judged>, SearchError> {
        self.evaluate_with(schedule, Prefixes::Keep)
    }

    /// [`SearchContext::evaluate`]; `Prefixes::Skip` for a schedule whose prefix states no
    /// later schedule will read.
    pub fn evaluate_with(
        &mut self,
        schedule: &Schedule,
        prefixes: Prefixes,
    ) -> Result<Option<Judged>, SearchError> {
        Ok(self.evaluate_batch(std::slice::from_ref(schedule), prefixes)?[0])
    }

    /// Evaluates schedules fully, in order: the records and answers equal those of one
    /// [`SearchContext::evaluate_with`] call per schedule (`None` from the first schedule
    /// the budget does not cover on). An executor with workers judges them in parallel.
    pub fn evaluate_batch(
        &mut self,
        schedules: &[Schedule],
        prefixes: Prefixes,
    ) -> Result<Vec<Option<Judged>>, SearchError> {
        let asks: Vec<Ask> = schedules
            .iter()
            .map(|s| Ask {
                schedule: s.clone(),
                question: Question::Evaluate,
                prefixes,
            })
            .collect();
        let records = self.judge(asks)?;
        let mut out = Vec::with_capacity(schedules.len());
        for r in &records {
            out.push(Some(match (r.accuracy, r.correct) {
                (Some(accuracy), Some(correct)) => Judged {
                    accuracy,
                    correct,
                    unsafe_images: r.unsafe_images.unwrap_or(0),
                },
                _ => {
                    return Err(SearchError::Invalid(format!(
                        "checkpoint judgement {} lacks its accuracy",
                        r.index
                    )));
                }
            }));
        }
        out.resize(schedules.len(), None);
        Ok(out)
    }

    /// Decides "at least `min_correct` right (and batch-safe, if the constraints ask for
    /// it)?" with the oracle's early exit; `None` once the budget is spent.
    pub fn accepts(
        &mut self,
        schedule: &Schedule,
        min_correct: usize,
    ) -> Result<Option<bool>, SearchError> {
        self.accepts_with(schedule, min_correct, Prefixes::Keep)
    }

    /// [`SearchContext::accepts`], keeping or skipping the run's prefix states.
    pub fn accepts_with(
        &mut self,
        schedule: &Schedule,
        min_correct: usize,
        prefixes: Prefixes,
    ) -> Result<Option<bool>, SearchError> {
        let ask = self.decision(schedule, min_correct, prefixes);
        Ok(self
            .judge(vec![ask])?
            .first()
            .map(|r| r.accepted.unwrap_or(false)))
    }

    /// Tells the executor which decisions the strategy may ask for next (a DFS node's
    /// children): workers start on them while the strategy goes on. Changes no record and
    /// no answer; the in-process oracle ignores it, and so does a run still replaying.
    pub fn prefetch_decisions(
        &mut self,
        schedules: &[Schedule],
        min_correct: usize,
        prefixes: Prefixes,
    ) -> Result<(), SearchError> {
        if !self.replay.is_empty() || self.remaining() == 0 {
            return Ok(());
        }
        let asks: Vec<Ask> = schedules
            .iter()
            .take(self.remaining())
            .map(|s| self.decision(s, min_correct, prefixes))
            .collect();
        self.executor.prefetch(&asks)
    }

    fn decision(&self, schedule: &Schedule, min_correct: usize, prefixes: Prefixes) -> Ask {
        Ask {
            schedule: schedule.clone(),
            question: Question::Accepts {
                min_correct,
                batch_safe: self.constraints.batch_safe,
            },
            prefixes,
        }
    }

    /// Records the answers to the asks the budget covers, in order: replayed ones first
    /// (a resumed run), the rest from the executor in one call.
    fn judge(&mut self, mut asks: Vec<Ask>) -> Result<Vec<Record>, SearchError> {
        asks.truncate(self.remaining());
        let mut out = Vec::with_capacity(asks.len());
        let mut next = 0;
        while let Some(ask) = asks.get(next) {
            let decision = matches!(ask.question, Question::Accepts { .. });
            let Some(record) = self.replayed(&ask.schedule, decision)? else {
                break;
            };
            self.push(record)?;
            out.push(self.records[self.records.len() - 1].clone());
            next += 1;
        }
        let rest = &asks[next..];
        if rest.is_empty() {
            return Ok(out);
        }
        let answers = self.executor.answer(rest)?;
        for (ask, answer) in rest.iter().zip(answers) {
            let mut record = Record {
                index: 0,
                schedule: ask.schedule.clone(),
                accuracy: None,
                correct: None,
                unsafe_images: None,
                accepted: None,
                cost: self.cost.cost(&ask.schedule)?,
            };
            match answer.to(ask.question) {
                Some(Answer::Evaluated(j)) => {
                    record.accuracy = Some(j.accuracy);
                    record.correct = Some(j.correct);
                    record.unsafe_images = Some(j.unsafe_images);
                }
                Some(Answer::Decided { accepted, .. }) => record.accepted = Some(accepted),
                None => {
                    return Err(SearchError::Executor(format!(
                        "the executor answered a decision about `{}` where an evaluation was asked",
                        ask.schedule
                    )));
                }
            }
            self.push(record)?;
            out.push(self.records[self.records.len() - 1].clone());
        }
        Ok(out)
    }

    /// Runs a strategy to completion or until the budget is spent.
    pub fn run(mut self, strategy: &mut dyn ScheduleSearch) -> Result<SearchOutcome, SearchError> {
        let details = strategy.search(&mut self)?;
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        let pareto = pareto_front(&self.records, &self.constraints);
        let budget_exhausted = self.remaining() == 0;
        let stopped = (!budget_exhausted).then(|| {
            details["stopped"]
                .as_str()
                .unwrap_or("ended before the budget without giving a reason")
                .to_string()
        });
        Ok(SearchOutcome {
            strategy: strategy.name().to_string(),
            judgements: self.records.len(),
            budget_exhausted,
            stopped,
            seconds: self.start.elapsed().as_secs_f64(),
            cpu_seconds: crate::sysinfo::process_cpu_seconds() - self.cpu_start,
            pareto,
            details,
            records: self.records,
            elapsed: self.elapsed,
        })
    }
}

/// Indices of the records (with a known accuracy, within the constraints) that no other such
/// record dominates; sorted by cost, one per (accuracy, cost) pair.
pub fn pareto_front(records: &[Record], constraints: &Constraints) -> Vec<usize> {
    let mut points: Vec<(usize, f64, f64)> = records
        .iter()
        .filter(|r| constraints.safe_enough(r.unsafe_images.unwrap_or(0)))
        .filter_map(|r| r.accuracy.map(|a| (r.index, a, r.cost)))
        .filter(|&(_, a, c)| a >= constraints.min_accuracy && c <= constraints.max_cost)
        .collect();
    // Cheapest first; among equal costs the most accurate first; then keep a point only if it
    // is strictly more accurate than everything cheaper.
    points.sort_by(|x, y| {
        x.2.total_cmp(&y.2)
            .then(y.1.total_cmp(&x.1))
            .then(x.0.cmp(&y.0))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for (i, a, _) in points {
        if a > best {
            front.push(i);
            best = a;
        }
    }
    front
}

/// A strategy preset (`strategies/*.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "strategy", rename_all = "kebab-case")]
pub enum StrategyConfig {
    Dfs(dfs::DfsConfig),
    Greedy(greedy::GreedyConfig),
    Random(random::RandomConfig),
    Exhaustive(exhaustive::ExhaustiveConfig),
    Anneal(anneal::AnnealConfig),
    Genetic(genetic::GeneticConfig),
    Dp(dp::DpConfig),
    DpLevels(dp_levels::DpLevelsConfig),
}

/// The largest strategy preset file read (the shipped ones are a few hundred bytes).
pub const MAX_PRESET_BYTES: u64 = 64 * 1024;

/// Presets shipped in `strategies/`, embedded.
const EMBEDDED: &[(&str, &str)] = &[
    ("dfs", include_str!("../../strategies/dfs.toml")),
    ("dfs-bfs", include_str!("../../strategies/dfs-bfs.toml")),
    ("dfs-best", include_str!("../../strategies/dfs-best.toml")),
    ("dfs-cap4", include_str!("../../strategies/dfs-cap4.toml")),
    ("greedy", include_str!("../../strategies/greedy.toml")),
    ("random", include_str!("../../strategies/random.toml")),
    ("anneal", include_str!("../../strategies/anneal.toml")),
    ("genetic", include_str!("../../strategies/genetic.toml")),
    (
        "genetic-lhs",
        include_str!("../../strategies/genetic-lhs.toml"),
    ),
    ("dp", include_str!("../../strategies/dp.toml")),
    ("dp-levels", include_str!("../../strategies/dp-levels.toml")),
    (
        "exhaustive",
        include_str!("../../strategies/exhaustive.toml"),
    ),
];

impl StrategyConfig {
    /// The names of the shipped presets (`strategies/`), in the order they are listed.
    pub fn shipped() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|(name, _)| *name)
    }

    /// Loads a preset by name (embedded) or from a TOML file (at most
    /// [`MAX_PRESET_BYTES`]), checked as [`StrategyConfig::from_toml`] does.
    pub fn load(name_or_path: &str) -> Result<Self, SearchError> {
        let (name, text) = match EMBEDDED.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (n.to_string(), t.to_string()),
            None if name_or_path.ends_with(".toml") => {
                let config_error = |message: String| SearchError::Config {
                    name: name_or_path.to_string(),
                    message,
                };
                let file =
                    std::fs::File::open(name_or_path).map_err(|e| config_error(e.to_string()))?;
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, MAX_PRESET_BYTES + 1),
                    &mut text,
                )
                .map_err(|e| config_error(e.to_string()))?;
                if text.len() as u64 > MAX_PRESET_BYTES {
                    return Err(config_error(format!(
                        "larger than the {MAX_PRESET_BYTES} bytes a preset may have"
                    )));
                }
                (name_or_path.to_string(), text)
            }
            None => {
                let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
                return Err(SearchError::Invalid(format!(
                    "unknown strategy '{name_or_path}' (known: {}; or a path to a .toml preset)",
                    known.join(", ")
                )));
            }
        };
        Self::from_toml(&name, &text)
    }

    /// Parses a preset's TOML text and checks every numeric setting (finite, in range); the
    /// error is one line naming the preset (`name`) and the setting.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, SearchError> {
        let config_error = |message: String| SearchError::Config {
            name: name.to_string(),
            message,
        };
        let config: Self = toml::from_str(text)
            .map_err(|e| config_error(crate::problem::toml_message(text, &e)))?;
        config.validate().map_err(config_error)?;
        Ok(config)
    }

    /// Checks the settings of the preset's strategy (greedy, random, exhaustive and
    /// dp-levels have none to check).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Dfs(c) => c.validate(),
            Self::Anneal(c) => c.validate(),
            Self::Genetic(c) => c.validate(),
            Self::Dp(c) => c.validate(),
            Self::Greedy(_) | Self::Random(_) | Self::Exhaustive(_) | Self::DpLevels(_) => Ok(()),
        }
    }

    /// True if the strategy's choices depend on the seed (genetic, anneal, random); the
    /// others are deterministic given the problem and the budget.
    pub fn is_seeded(&self) -> bool {
        matches!(self, Self::Genetic(_) | Self::Anneal(_) | Self::Random(_))
    }

    /// The validation oracle's settings this strategy runs best with: the default, except
    /// for exhaustive enumeration, which changes the last steps fastest (lexicographic order),
    /// so that a prefix state after every step (stride 1) lets each schedule resume after the
    /// longest prefix it shares with the previous one, and which asks about each schedule
    /// once (no memo).
    pub fn oracle_config(&self) -> OracleConfig {
        let default = OracleConfig::default();
        match self {
            Self::Exhaustive(_) => OracleConfig {
                cache_stride: 1,
                memoise: false,
                ..default
            },
            _ => default,
        }
    }

    /// The strategy this preset configures.
    pub fn build(&self) -> Box<dyn ScheduleSearch> {
        match self {
            Self::Dfs(c) => Box::new(dfs::Dfs::new(c.clone())),
            Self::Greedy(c) => Box::new(greedy::Greedy::new(c.clone())),
            Self::Random(c) => Box::new(random::RandomSearch::new(c.clone())),
            Self::Exhaustive(c) => Box::new(exhaustive::Exhaustive::new(c.clone())),
            Self::Anneal(c) => Box::new(anneal::Anneal::new(c.clone())),
            Self::Genetic(c) => Box::new(genetic::Genetic::new(c.clone())),
            Self::Dp(c) => Box::new(dp::Dp::new(c.clone())),
            Self::DpLevels(c) => Box::new(dp_levels::DpLevels::new(c.clone())),
        }
    }
}

/// A record of an empty schedule with only an accuracy and a cost, for unit tests of the
/// code that reads records.
#[cfg(test)]
pub(crate) fn test_record(index: usize, accuracy: Option<f64>, cost: f64) -> Record {
    Record {
        index,
        schedule: Schedule::new(vec![]),
        accuracy,
        correct: None,
        unsafe_images: None,
        accepted: None,
        cost,
    }
}

#[cfg(test)]
mod tests {
    use super::test_record as rec;
    use super::*;

    #[test]
    fn pareto_front_keeps_only_non_dominated_points() {
        let records = vec![
            rec(0, Some(0.9), 10.0),
            rec(1, Some(0.8), 8.0),
            rec(2, Some(0.85), 9.0),
            rec(3, Some(0.7), 9.0),  // dominated by 1
            rec(4, Some(0.9), 12.0), // dominated by 0
            rec(5, None, 1.0),       // no accuracy
            rec(6, Some(0.5), 20.0),
        ];
        let c = Constraints {
            min_accuracy: 0.0,
            max_cost: f64::INFINITY,
            batch_safe: true,
        };
        assert_eq!(pareto_front(&records, &c), vec![1, 2, 0]);
        let tight = Constraints {
            min_accuracy: 0.82,
            max_cost: 9.5,
            batch_safe: true,
        };
        assert_eq!(pareto_front(&records, &tight), vec![2]);
        // An unsafe schedule leaves the front only when batch safety is asked for.
        let mut unsafe_records = records.clone();
        unsafe_records[2].unsafe_images = Some(1);
        assert_eq!(pareto_front(&unsafe_records, &c), vec![1, 0]);
        let lax = Constraints {
            batch_safe: false,
            ..c.clone()
        };
        assert_eq!(pareto_front(&unsafe_records, &lax), vec![1, 2, 0]);
    }

    #[test]
    fn presets_load_and_unknown_ones_are_refused() {
        for (name, _) in EMBEDDED {
            StrategyConfig::load(name).unwrap();
        }
        assert!(
            StrategyConfig::load("simplex")
                .unwrap_err()
                .to_string()
                .contains("unknown strategy")
        );
    }
}
