"""pymoo's NSGA-II over a cellwise problem, scored through `Oracle.evaluate_batch`.

A genome is one degree index per (slot, step) position (0 = the slot's highest degree);
the objectives are 1 - validation accuracy and the cost model's cost, both minimised, with
the constraint accuracy >= --min-accuracy. Every schedule pymoo evaluates is kept; the
validation front is the non-dominated ones within the constraint (as `cellwise search`
defines a run's front), scored on test, and both fronts get the project's hypervolume
(reference box: cost <= the all-highest schedule's, accuracy >= --min-accuracy).

    python pymoo_nsga2.py --budget 2000 --seed 1
    python pymoo_nsga2.py --initial seeded      # cellwise genetic's seeded initial sample

`run_nsga2` is what scripts/pymoo-vs-cellwise.py runs beside cellwise's `genetic`.
"""

import argparse
import time

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem as PymooProblem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize

import cellwise


class ScheduleProblem(PymooProblem):
    """Schedules of a cellwise problem as integer genomes; every evaluation is archived."""

    def __init__(self, oracle, cost_model, min_accuracy):
        problem = oracle.problem
        self.shape = problem.shape  # (slots, steps)
        # Each position's largest index: its slot's candidate count - 1.
        upper = np.repeat([len(d) - 1 for d in problem.degrees], self.shape[1])
        super().__init__(n_var=upper.size, n_obj=2, n_ieq_constr=1, xl=0, xu=upper, vtype=int)
        self.oracle, self.cost_model, self.min_accuracy = oracle, cost_model, min_accuracy
        self.archive = []  # (indices, validation accuracy, cost) per evaluation

    def _evaluate(self, x, out, *args, **kwargs):
        batch = np.rint(x).astype(np.int64).reshape(-1, *self.shape)
        accuracy, _correct, _unsafe = self.oracle.evaluate_batch(batch)
        cost = self.cost_model.cost_batch(batch)
        self.archive.extend(zip(batch, accuracy, cost))
        out["F"] = np.column_stack([1.0 - accuracy, cost])
        out["G"] = (self.min_accuracy - accuracy)[:, None]


def seeded_sample(problem, size, mutant_share, max_positions, rng):
    """cellwise genetic's `initial = "seeded"` sample as integer genomes: every uniform
    schedule (all-highest first), mutants of all-highest (`mutant_share` of the sample, each
    lowering 1 to `max_positions` positions to a random lower candidate), random rest."""
    slots, steps = problem.shape
    counts = np.repeat([len(d) for d in problem.degrees], steps)
    uniform = [np.array([d.index(u) for d in problem.degrees for _ in range(steps)])
               for u in problem.degrees[0] if all(u in d for d in problem.degrees)]
    rows = uniform[:size]
    for _ in range(min(int(round(mutant_share * size)), size - len(rows))):
        genome = np.zeros(slots * steps, dtype=np.int64)
        lowerable = np.flatnonzero(counts > 1)
        k = rng.integers(1, max_positions + 1)
        for i in rng.choice(lowerable, size=min(k, lowerable.size), replace=False):
            genome[i] = rng.integers(1, counts[i])
        rows.append(genome)
    while len(rows) < size:
        rows.append(rng.integers(0, counts))
    return np.array(rows, dtype=np.int64)


def front(archive, min_accuracy):
    """Indices into `archive` of the non-dominated entries with accuracy >= min_accuracy:
    cheapest first, each strictly more accurate than every cheaper one (one per point)."""
    order = sorted((i for i, (_, a, _) in enumerate(archive) if a >= min_accuracy),
                   key=lambda i: (archive[i][2], -archive[i][1], i))
    kept, best = [], -np.inf
    for i in order:
        if archive[i][1] > best:
            kept.append(i)
            best = archive[i][1]
    return kept


def run_nsga2(problem, budget, seed, min_accuracy=0.9, population=20, initial="random",
              val=None, test=None, cost_model=None):
    """One NSGA-II run of `budget` evaluations; returns a dict with the front (schedules,
    cost, validation and test accuracy), both hypervolumes, distinct schedules judged and
    seconds. Oracles and cost model are built unless given (share them across runs)."""
    val = val or cellwise.Oracle(problem, "val")
    test = test or cellwise.Oracle(problem, "test")
    cost_model = cost_model or cellwise.CostModel(None, problem, oracle=val)
    pymoo_problem = ScheduleProblem(val, cost_model, min_accuracy)
    if initial == "seeded":
        sampling = seeded_sample(problem, 200, 0.5, 4, np.random.default_rng(seed))
    else:
        sampling = IntegerRandomSampling()
    algorithm = NSGA2(
        pop_size=population,
        sampling=sampling,
        crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    start = time.perf_counter()
    minimize(pymoo_problem, algorithm, ("n_eval", budget), seed=seed, verbose=False)
    seconds = time.perf_counter() - start
    # pymoo checks its budget after each generation; judgements past it are left out.
    archive = pymoo_problem.archive[:budget]
    kept = front(archive, min_accuracy)
    indices = np.array([archive[i][0] for i in kept]).reshape(-1, *problem.shape)
    test_accuracy = test.evaluate_batch(indices)[0] if kept else np.array([])
    rows = [{"schedule": str(problem.schedule_from_indices(archive[i][0])),
             "cost": float(archive[i][2]), "val_accuracy": float(archive[i][1]),
             "test_accuracy": float(t)} for i, t in zip(kept, test_accuracy)]
    reference_cost = cost_model.cost(problem.top())
    hv = {split: cellwise.hypervolume([(r["cost"], r[f"{split}_accuracy"]) for r in rows],
                                      min_accuracy, reference_cost)
          for split in ("val", "test")}
    distinct = len({a.tobytes() for a, _, _ in archive})
    return {"front": rows, "hypervolume": hv, "evaluations": len(archive),
            "distinct": distinct, "seconds": seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist-rnn32")
    ap.add_argument("--budget", type=int, default=2000, help="evaluations")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--min-accuracy", type=float, default=0.9)
    ap.add_argument("--initial", choices=["random", "seeded"], default="random")
    args = ap.parse_args()
    problem = cellwise.Problem.load(args.problem)
    run = run_nsga2(problem, args.budget, args.seed, args.min_accuracy, args.population,
                    args.initial)
    print(f"{run['evaluations']} evaluations ({run['distinct']} distinct schedules) in "
          f"{run['seconds']:.1f} s; hypervolume validation {run['hypervolume']['val']:.4f}, "
          f"test {run['hypervolume']['test']:.4f}")
    for r in run["front"]:
        print(f"{r['schedule']:<48} {r['cost']:10.3f} {100 * r['val_accuracy']:7.2f}% "
              f"{100 * r['test_accuracy']:7.2f}%")


if __name__ == "__main__":
    main()
