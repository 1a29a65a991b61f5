//! AutoFHE-style NSGA-II: a genome is one candidate index per (slot, step) position,
//! step-major as schedules store them; the two objectives are
//! `1 - validation accuracy` and cost, both minimised, with Deb's constrained domination
//! (schedules within the constraints dominate those outside; among the latter the smaller
//! violation wins); the cost is the search's cost model (`depth`, `bootstraps` as AutoFHE,
//! `latency`). An initial sample seeds the first population (its best `population` by
//! non-dominated sorting and crowding). `initial = "seeded"` (the shipped preset) draws it as
//! AutoFHE's search does: every uniform schedule, the all-highest one first (AutoFHE's
//! `search.py` sets its first rows to the uniform degrees), then mutants of the all-highest
//! schedule (a share `mutant_share` of the sample, each lowering 1 to `mutant_positions`
//! random positions to a random lower candidate), then a Latin-hypercube sample for the
//! rest; `initial = "latin-hypercube"` (`strategies/genetic-lhs.toml`, and any preset that
//! does not say) draws a Latin-hypercube sample only. With `distinct_survivors` (the
//! shipped `genetic` preset) each schedule takes at most one place among the survivors;
//! without it (presets that do not say), children that repeat a parent keep their copies,
//! which crowds a seeded population near all-highest until it stalls. Parents are picked
//! by tournament on (rank, crowding distance); children come from block crossover (a run of
//! consecutive positions, so whole steps with every slot, plus the ends of the two boundary
//! steps) and one-degree mutations of one position within its own candidates; survivors are
//! chosen by non-dominated sorting and crowding.
//!
//! Generations run until the budget is spent (`stop = "budget"`, the shipped preset) or for
//! a fixed number (`stop = { generations = 10 }`, AutoFHE's); either way the search ends
//! early, and says so in its details, once `stall_generations` generations in a row bring no
//! schedule that was not judged before (the population has converged).
//!
//! Each distinct schedule is judged once (later occurrences reuse the answer and cost no
//! budget). Written against `SearchContext` rather than genevo, whose fitness is a single
//! totally ordered value (see ARCHITECTURE.md).

use std::collections::{HashMap, HashSet};

use rand::rngs::ChaCha20Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Judged, ScheduleSearch, SearchContext, SearchError};
use crate::oracle::Prefixes;
use crate::schedule::{Schedule, Space};

/// Settings of the genetic search (`strategies/genetic.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeneticConfig {
    /// Individuals kept per generation.
    pub population: usize,
    /// When to stop making generations (besides a spent budget).
    pub stop: Stop,
    /// Consecutive generations without a new schedule after which the search ends.
    pub stall_generations: usize,
    /// Size of the initial sample.
    pub initial_samples: usize,
    /// How the initial sample is drawn (presets that do not say: a Latin hypercube, as
    /// before the setting existed).
    #[serde(default)]
    pub initial: Initial,
    /// `initial = "seeded"`: the share of the initial sample that are mutants of the
    /// all-highest schedule, in [0, 1].
    #[serde(default)]
    pub mutant_share: f64,
    /// `initial = "seeded"`: a mutant lowers between 1 and this many positions.
    #[serde(default = "one")]
    pub mutant_positions: usize,
    /// Survivors are chosen among distinct schedules (a copy of a parent does not take a
    /// second place in the population); presets that do not say keep copies, as before.
    #[serde(default)]
    pub distinct_survivors: bool,
    /// Individuals per tournament.
    pub tournament: usize,
    /// Probability of block crossover per pair of parents.
    pub crossover: f64,
    /// Probability of lowering one random (slot, step) position by one candidate degree.
    pub mutate_down: f64,
    /// Probability of raising one random (slot, step) position by one candidate degree.
    pub mutate_up: f64,
}

fn one() -> usize {
    1
}

/// How the initial sample is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Initial {
    /// A Latin-hypercube sample of the whole space.
    #[default]
    LatinHypercube,
    /// AutoFHE's: the uniform schedules (all-highest first), mutants of all-highest, then
    /// a Latin-hypercube sample.
    Seeded,
}

/// The stopping rule of the genetic search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", try_from = "StopSetting")]
pub enum Stop {
    /// Generations until the budget is spent (`stop = "budget"`).
    Budget,
    /// At most this many generations after the initial sample
    /// (`stop = { generations = 10 }`).
    Generations(usize),
}

/// `stop` as a preset writes it, so that a bad value is refused naming the setting.
#[derive(Deserialize)]
#[serde(untagged, expecting = "stop must be \"budget\" or { generations = N }")]
enum StopSetting {
    Word(String),
    Table(GenerationsTable),
}

/// `{ generations = N }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerationsTable {
    generations: usize,
}

impl TryFrom<StopSetting> for Stop {
    type Error = String;

    fn try_from(s: StopSetting) -> Result<Self, String> {
        match s {
            StopSetting::Word(w) if w == "budget" => Ok(Self::Budget),
            StopSetting::Word(w) => Err(format!(
                "stop = \"{w}\" must be \"budget\" or {{ generations = N }}"
            )),
            StopSetting::Table(t) => Ok(Self::Generations(t.generations)),
        }
    }
}

/// The largest population, and the most generations and initial samples: the initial
/// sample is held as one genome per sample (100,000 x 28 cells is a few tens of MB), and a
/// search judges at most its budget anyway.
const MAX_POPULATION: usize = 10_000;
const MAX_GENERATIONS: usize = 1_000_000;
const MAX_INITIAL_SAMPLES: usize = 100_000;

impl GeneticConfig {
    /// Checks every setting (finite and in range); the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let counts = [
            ("population", self.population, 2, MAX_POPULATION),
            (
                "stall_generations",
                self.stall_generations,
                1,
                MAX_GENERATIONS,
            ),
            (
                "initial_samples",
                self.initial_samples,
                self.population,
                MAX_INITIAL_SAMPLES,
            ),
            ("tournament", self.tournament, 1, self.population),
            (
                "mutant_positions",
                self.mutant_positions,
                1,
                MAX_INITIAL_SAMPLES,
            ),
        ];
        for (name, value, lo, hi) in counts {
            if !(lo..=hi).contains(&value) {
                return Err(format!("{name} = {value} must be in {lo}..={hi}"));
            }
        }
        if let Stop::Generations(g) = self.stop
            && g > MAX_GENERATIONS
        {
            return Err(format!(
                "stop = {{ generations = {g} }} must be in 0..={MAX_GENERATIONS}"
            ));
        }
        for (name, p) in [
            ("crossover", self.crossover),
            ("mutate_down", self.mutate_down),
            ("mutate_up", self.mutate_up),
            ("mutant_share", self.mutant_share),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} must be a probability in [0, 1]"));
            }
        }
        Ok(())
    }
}

/// NSGA-II over schedules.
pub struct Genetic {
    config: GeneticConfig,
}

impl Genetic {
    /// A genetic search.
    pub fn new(config: GeneticConfig) -> Self {
        Self { config }
    }
}

/// A judged individual: genome (per position, the index into its candidates, highest first)
/// and objectives.
#[derive(Clone, Debug)]
struct Individual {
    genes: Vec<usize>,
    error: f64,
    cost: f64,
    violation: f64,
}

/// `a` dominates `b` under constrained domination.
fn dominates(a: &Individual, b: &Individual) -> bool {
    if a.violation > 0.0 || b.violation > 0.0 {
        return a.violation < b.violation;
    }
    a.error <= b.error && a.cost <= b.cost && (a.error < b.error || a.cost < b.cost)
}

/// Non-dominated fronts (indices), best first.
fn fronts(pop: &[Individual]) -> Vec<Vec<usize>> {
    let n = pop.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list = vec![Vec::new(); n];
    for i in 0..n {
        for j in 0..n {
            if i != j && dominates(&pop[i], &pop[j]) {
                dominates_list[i].push(j);
            } else if i != j && dominates(&pop[j], &pop[i]) {
                dominated_by[i] += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        out.push(current);
        current = next;
    }
    out
}

/// Crowding distance of each member of one front (same order as `front`).
fn crowding(pop: &[Individual], front: &[usize]) -> Vec<f64> {
    let m = front.len();
    let mut dist = vec![0.0; m];
    if m <= 2 {
        return vec![f64::INFINITY; m];
    }
    for key in [|x: &Individual| x.error, |x: &Individual| x.cost] {
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| key(&pop[front[a]]).total_cmp(&key(&pop[front[b]])));
        let (lo, hi) = (key(&pop[front[order[0]]]), key(&pop[front[order[m - 1]]]));
        dist[order[0]] = f64::INFINITY;
        dist[order[m - 1]] = f64::INFINITY;
        if hi > lo {
            for w in 1..m - 1 {
                let gap = key(&pop[front[order[w + 1]]]) - key(&pop[front[order[w - 1]]]);
                dist[order[w]] += gap / (hi - lo);
            }
        }
    }
    dist
}

/// (rank, crowding) of every individual.
fn rank_and_crowding(pop: &[Individual]) -> Vec<(usize, f64)> {
    let mut out = vec![(0, 0.0); pop.len()];
    for (r, front) in fronts(pop).iter().enumerate() {
        for (&i, d) in front.iter().zip(crowding(pop, front)) {
            out[i] = (r, d);
        }
    }
    out
}

/// The `n` best by rank, then crowding (larger first), then index (deterministic).
fn select(pop: &[Individual], n: usize) -> Vec<Individual> {
    let rc = rank_and_crowding(pop);
    let mut order: Vec<usize> = (0..pop.len()).collect();
    order.sort_by(|&a, &b| {
        rc[a]
            .0
            .cmp(&rc[b].0)
            .then(rc[b].1.total_cmp(&rc[a].1))
            .then(a.cmp(&b))
    });
    order.into_iter().take(n).map(|i| pop[i].clone()).collect()
}

struct Run<'c, 'a> {
    ctx: &'c mut SearchContext<'a>,
    space: Space,
    seen: HashMap<Vec<usize>, Individual>,
}

impl Run<'_, '_> {
    fn schedule(&self, genes: &[usize]) -> Schedule {
        self.space.from_choices(genes)
    }

    /// The individual of a judged genome: objectives and constraint violation.
    fn individual(
        &self,
        genes: Vec<usize>,
        schedule: &Schedule,
        e: Judged,
    ) -> Result<Individual, SearchError> {
        let cost = self.ctx.cost.cost(schedule)?;
        let c = &self.ctx.constraints;
        let violation = (c.min_accuracy - e.accuracy).max(0.0)
            + ((cost - c.max_cost) / c.max_cost.max(f64::MIN_POSITIVE)).max(0.0)
            + if c.safe_enough(e.unsafe_images) {
                0.0
            } else {
                1.0
            };
        Ok(Individual {
            genes,
            error: 1.0 - e.accuracy,
            cost,
            violation,
        })
    }
}

impl Run<'_, '_> {
    /// Judges genomes in order, the new ones as one batch; the individuals up to the first
    /// genome the budget does not cover, and whether the budget ran out.
    fn judge_all(
        &mut self,
        genomes: Vec<Vec<usize>>,
    ) -> Result<(Vec<Individual>, bool), SearchError> {
        let mut fresh = Vec::new();
        let mut queued = HashSet::new();
        for g in &genomes {
            if !self.seen.contains_key(g) && queued.insert(g.clone()) {
                fresh.push(self.schedule(g));
            }
        }
        let judged = self.ctx.evaluate_batch(&fresh, Prefixes::Keep)?;
        let mut answers: HashMap<Schedule, Judged> = HashMap::new();
        for (s, j) in fresh.into_iter().zip(judged) {
            if let Some(j) = j {
                answers.insert(s, j);
            }
        }
        let mut out = Vec::with_capacity(genomes.len());
        for genes in genomes {
            if let Some(ind) = self.seen.get(&genes) {
                out.push(ind.clone());
                continue;
            }
            let schedule = self.schedule(&genes);
            let Some(&e) = answers.get(&schedule) else {
                return Ok((out, true));
            };
            let ind = self.individual(genes.clone(), &schedule, e)?;
            self.seen.insert(genes, ind.clone());
            out.push(ind);
        }
        Ok((out, false))
    }
}

/// A Latin-hypercube sample of `n` genomes: at every position each of its candidates
/// appears in an equal share of the samples (up to rounding), in a random order per position.
fn latin_hypercube(rng: &mut ChaCha20Rng, n: usize, space: &Space) -> Vec<Vec<usize>> {
    let cells = space.positions();
    let mut genomes = vec![vec![0usize; cells]; n];
    for c in 0..cells {
        let k = space.degrees_at(c).len();
        let mut strata: Vec<usize> = (0..n).collect();
        strata.shuffle(rng);
        for (g, &s) in genomes.iter_mut().zip(&strata) {
            g[c] = s * k / n;
        }
    }
    genomes
}

/// The initial sample `initial = "seeded"` draws (AutoFHE's): every uniform schedule by
/// candidate rank (all-highest first; a position with fewer candidates keeps its lowest),
/// then `mutants` mutants of all-highest, each lowering 1 to `max_lowered` distinct random
/// positions to a random lower candidate, then a Latin-hypercube sample of the rest; `n`
/// genomes in all, and the counts of each kind.
fn seeded_sample(
    rng: &mut ChaCha20Rng,
    n: usize,
    space: &Space,
    mutants: usize,
    max_lowered: usize,
) -> (Vec<Vec<usize>>, [usize; 3]) {
    let cells = space.positions();
    let ranks = (0..cells)
        .map(|c| space.degrees_at(c).len())
        .max()
        .unwrap_or(0);
    let mut genomes: Vec<Vec<usize>> = (0..ranks.min(n))
        .map(|r| {
            (0..cells)
                .map(|c| r.min(space.degrees_at(c).len() - 1))
                .collect()
        })
        .collect();
    let uniform = genomes.len();
    let mutants = mutants.min(n - uniform);
    for _ in 0..mutants {
        let mut g = vec![0usize; cells];
        let lowered = rng.random_range(1..=max_lowered.min(cells).max(1));
        for c in rand::seq::index::sample(rng, cells, lowered.min(cells)) {
            let k = space.degrees_at(c).len();
            if k > 1 {
                g[c] = rng.random_range(1..k);
            }
        }
        genomes.push(g);
    }
    let random = n - uniform - mutants;
    genomes.extend(latin_hypercube(rng, random, space));
    (genomes, [uniform, mutants, random])
}

fn tournament<'p>(
    rng: &mut ChaCha20Rng,
    pop: &'p [Individual],
    rc: &[(usize, f64)],
    size: usize,
) -> &'p Individual {
    let mut best = rng.random_range(0..pop.len());
    for _ in 1..size {
        let i = rng.random_range(0..pop.len());
        let better = rc[i].0 < rc[best].0 || (rc[i].0 == rc[best].0 && rc[i].1 > rc[best].1);
        if better {
            best = i;
        }
    }
    &pop[best]
}

impl ScheduleSearch for Genetic {
    fn name(&self) -> &str {
        "genetic"
    }

    fn search(&mut self, ctx: &mut SearchContext) -> Result<serde_json::Value, SearchError> {
        let cfg = self.config.clone();
        cfg.validate().map_err(|message| SearchError::Config {
            name: "genetic".into(),
            message,
        })?;
        let mut rng = ChaCha20Rng::seed_from_u64(ctx.seed);
        let space = ctx.space().clone();
        let cells = space.positions();
        let mut run = Run {
            space: space.clone(),
            ctx,
            seen: HashMap::new(),
        };
        let (genomes, kinds) = match cfg.initial {
            Initial::LatinHypercube => {
                let n = cfg.initial_samples;
                (latin_hypercube(&mut rng, n, &space), [0, 0, n])
            }
            Initial::Seeded => {
                let mutants = (cfg.mutant_share * cfg.initial_samples as f64).round() as usize;
                seeded_sample(
                    &mut rng,
                    cfg.initial_samples,
                    &space,
                    mutants,
                    cfg.mutant_positions,
                )
            }
        };
        let (sample, mut exhausted) = run.judge_all(genomes)?;
        let mut pop = select(&sample, cfg.population);
        let initial_population: Vec<String> = pop
            .iter()
            .map(|ind| run.schedule(&ind.genes).to_string())
            .collect();
        let mut generations = 0;
        let mut stalled = 0;
        let limit = match cfg.stop {
            Stop::Budget => usize::MAX,
            Stop::Generations(g) => g,
        };
        while !exhausted && generations < limit && stalled < cfg.stall_generations {
            let known = run.seen.len();
            let rc = rank_and_crowding(&pop);
            // The generation's genomes first (the draws do not depend on the judgements),
            // then one batch: the same judgements in the same order as one at a time.
            let mut genomes = Vec::with_capacity(cfg.population);
            while genomes.len() < cfg.population {
                let a = tournament(&mut rng, &pop, &rc, cfg.tournament)
                    .genes
                    .clone();
                let b = tournament(&mut rng, &pop, &rc, cfg.tournament)
                    .genes
                    .clone();
                let (mut c1, mut c2) = (a, b);
                if rng.random::<f64>() < cfg.crossover {
                    let i = rng.random_range(0..cells);
                    let j = rng.random_range(i..=cells);
                    for g in i..j {
                        std::mem::swap(&mut c1[g], &mut c2[g]);
                    }
                }
                for child in [c1, c2] {
                    let mut child = child;
                    if rng.random::<f64>() < cfg.mutate_down {
                        let g = rng.random_range(0..cells);
                        child[g] = (child[g] + 1).min(space.degrees_at(g).len() - 1);
                    }
                    if rng.random::<f64>() < cfg.mutate_up {
                        let g = rng.random_range(0..cells);
                        child[g] = child[g].saturating_sub(1);
                    }
                    genomes.push(child);
                    if genomes.len() == cfg.population {
                        break;
                    }
                }
            }
            let children;
            (children, exhausted) = run.judge_all(genomes)?;
            let mut merged = pop;
            merged.extend(children);
            if cfg.distinct_survivors {
                let mut kept = std::collections::HashSet::new();
                merged.retain(|ind| kept.insert(ind.genes.clone()));
            }
            pop = select(&merged, cfg.population);
            generations += 1;
            stalled = if run.seen.len() == known {
                stalled + 1
            } else {
                0
            };
        }
        let final_front: Vec<String> = fronts(&pop)
            .first()
            .map(|f| {
                f.iter()
                    .map(|&i| run.schedule(&pop[i].genes).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mut details = json!({
            "initial": {
                "kind": cfg.initial,
                "uniform": kinds[0],
                "mutants": kinds[1],
                "random": kinds[2],
            },
            "initial_samples": sample.len(),
            "initial_population": initial_population,
            "generations": generations,
            "distinct_schedules": run.seen.len(),
            "final_front": final_front,
        });
        if !exhausted {
            let judged = run.ctx.judgements();
            details["stopped"] = if stalled >= cfg.stall_generations {
                format!(
                    "converged after {judged} judgements: {stalled} generations in a row brought no new schedule"
                )
            } else {
                format!("stopped after {generations} generations ({judged} judgements), as `stop` says")
            }
            .into();
        }
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(error: f64, cost: f64) -> Individual {
        Individual {
            genes: vec![],
            error,
            cost,
            violation: 0.0,
        }
    }

    #[test]
    fn sorting_and_crowding() {
        let pop = vec![
            ind(0.1, 5.0),
            ind(0.2, 3.0),
            ind(0.3, 1.0),
            ind(0.3, 4.0),
            ind(0.15, 6.0),
        ];
        let f = fronts(&pop);
        assert_eq!(f[0], vec![0, 1, 2]);
        assert_eq!(f[1], vec![3, 4]);
        let c = crowding(&pop, &f[0]);
        assert!(c[0].is_infinite() && c[2].is_infinite() && c[1].is_finite());
        let mut infeasible = ind(0.0, 0.0);
        infeasible.violation = 0.5;
        assert!(dominates(&ind(0.9, 9.0), &infeasible));
    }

    #[test]
    fn the_stopping_rule_parses_and_bad_ones_name_the_setting() {
        let preset = |stop: &str| {
            let text = include_str!("../../strategies/genetic.toml")
                .replace("stop = \"budget\"", &format!("stop = {stop}"));
            crate::search::StrategyConfig::from_toml("g", &text).map(|c| match c {
                crate::search::StrategyConfig::Genetic(c) => c.stop,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(preset("\"budget\"").unwrap(), Stop::Budget);
        assert_eq!(
            preset("{ generations = 10 }").unwrap(),
            Stop::Generations(10)
        );
        for (bad, message) in [
            ("10", "stop must be \"budget\" or { generations = N }"),
            (
                "{ generation = 10 }",
                "stop must be \"budget\" or { generations = N }",
            ),
            (
                "\"never\"",
                "stop = \"never\" must be \"budget\" or { generations = N }",
            ),
        ] {
            let e = preset(bad).unwrap_err().to_string();
            assert_eq!(e, format!("strategy preset g: {message}"), "{bad}");
        }
    }

    #[test]
    fn the_seeded_sample_is_uniform_schedules_then_mutants_of_all_highest_then_random() {
        let space = Space::new(
            crate::recurrence::CellKind::SimpleRnn,
            28,
            vec![vec![3, 7, 17]],
        );
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (g, kinds) = seeded_sample(&mut rng, 200, &space, 100, 4);
        assert_eq!(kinds, [3, 100, 97]);
        assert_eq!(g.len(), 200);
        for (r, genome) in g[..3].iter().enumerate() {
            assert_eq!(genome, &vec![r; 28], "all-17, all-7, all-3 first");
        }
        let mut lowered_counts = std::collections::BTreeSet::new();
        for m in &g[3..103] {
            let lowered = m.iter().filter(|&&c| c > 0).count();
            assert!((1..=4).contains(&lowered), "{m:?}");
            lowered_counts.insert(lowered);
        }
        assert_eq!(lowered_counts.len(), 4, "1 to 4 positions lowered");
        // The rest is a Latin hypercube: every candidate about equally often per position.
        for c in 0..28 {
            let ones = g[103..].iter().filter(|x| x[c] == 1).count();
            assert!((32..=33).contains(&ones), "{ones}");
        }
        // A sample smaller than the uniform schedules keeps the highest ones.
        let (small, kinds) = seeded_sample(&mut rng, 2, &space, 1, 4);
        assert_eq!(kinds, [2, 0, 0]);
        assert_eq!(small, vec![vec![0; 28], vec![1; 28]]);
    }

    #[test]
    fn latin_hypercube_balances_every_cell() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let space = Space::new(
            crate::recurrence::CellKind::SimpleRnn,
            28,
            vec![vec![3, 7, 17]],
        );
        let g = latin_hypercube(&mut rng, 200, &space);
        for c in 0..28 {
            let counts = (0..3)
                .map(|d| g.iter().filter(|x| x[c] == d).count())
                .collect::<Vec<_>>();
            assert!(counts.iter().all(|&n| (66..=67).contains(&n)), "{counts:?}");
        }
    }
}
