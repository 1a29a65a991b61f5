"""Optuna's multi-objective samplers over a cellwise problem, a batch of trials at a time.

Each trial picks one degree per (slot, step) position; trials are asked for in batches,
scored together with `Oracle.evaluate_batch` and `CostModel.cost_batch`, and told back
(maximise validation accuracy, minimise cost), starting from the uniform schedules. Prints Optuna's Pareto front and the
project's hypervolume of the schedules at or above --min-accuracy.

    pip install optuna
    python optuna_search.py --trials 500 --sampler nsga2
"""

import argparse

import numpy as np
import optuna

import cellwise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist-rnn32")
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--batch", type=int, default=20, help="trials scored per evaluate_batch")
    ap.add_argument("--sampler", choices=["tpe", "nsga2"], default="nsga2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-accuracy", type=float, default=0.9)
    args = ap.parse_args()

    problem = cellwise.Problem.load(args.problem)
    val = cellwise.Oracle(problem, "val")
    cost_model = cellwise.CostModel(None, problem, oracle=val)
    slots, steps = problem.shape
    sampler = (optuna.samplers.TPESampler(seed=args.seed) if args.sampler == "tpe"
               else optuna.samplers.NSGAIISampler(seed=args.seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    # Start from the uniform schedules (all-17, all-7, all-3 for the paper's fits).
    for u in problem.degrees[0]:
        if all(u in d for d in problem.degrees):
            study.enqueue_trial({f"{name}@{step}": problem.degrees[s].index(u)
                                 for s, name in enumerate(problem.slots) for step in range(steps)})

    done = 0
    while done < args.trials:
        trials = [study.ask() for _ in range(min(args.batch, args.trials - done))]
        batch = np.array([[[t.suggest_int(f"{name}@{step}", 0, len(problem.degrees[s]) - 1)
                            for step in range(steps)]
                           for s, name in enumerate(problem.slots)] for t in trials])
        accuracy, _, _ = val.evaluate_batch(batch)
        cost = cost_model.cost_batch(batch)
        for t, a, c in zip(trials, accuracy, cost):
            study.tell(t, [float(a), float(c)])
        done += len(trials)

    front = sorted(study.best_trials, key=lambda t: t.values[1])
    print(f"{args.trials} trials ({args.sampler}), cost model {cost_model.name}; Pareto front:")
    for t in front:
        indices = np.array([[t.params[f"{name}@{step}"] for step in range(steps)]
                            for name in problem.slots])
        print(f"{str(problem.schedule_from_indices(indices)):<48} "
              f"{t.values[1]:10.3f} {100 * t.values[0]:7.2f}%")
    hv = cellwise.hypervolume([(t.values[1], t.values[0]) for t in front], args.min_accuracy,
                              cost_model.cost(problem.top()))
    print(f"hypervolume (validation, accuracy >= {args.min_accuracy}): {hv:.4f}")


if __name__ == "__main__":
    main()
