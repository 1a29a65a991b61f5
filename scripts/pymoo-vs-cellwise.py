#!/usr/bin/env python3
"""Cross-check of cellwise's NSGA-II (`genetic`) against pymoo's NSGA-II on the same problem,
cost model, budget, minimum accuracy and seeds, pymoo scoring through `Oracle.evaluate_batch`.

Per seed it runs cellwise's `genetic` preset (`cellwise.search_run`, as `cellwise search`
runs it) and pymoo's NSGA-II twice (cellwise-py/demos/pymoo_nsga2.py: integer genomes,
SBX and polynomial mutation with rounding, population 20 as the preset's): from pymoo's
random integer sample, and from the `genetic` preset's seeded initial sample (uniform
schedules, mutants of all-highest, random rest; 200 schedules). Every front is scored with
the project's hypervolume on validation and on test (reference box: cost <= the all-highest
schedule's, accuracy >= --min-accuracy). Writes a markdown record with median (min-max)
over the seeds, every run, commit, date, machine and command.

    python scripts/pymoo-vs-cellwise.py --seeds 5 --budget 5000 --out results/pymoo-vs-cellwise.md
"""

import argparse
import importlib.util
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
import pymoo

import cellwise

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location(
    "pymoo_nsga2", HERE.parent / "cellwise-py" / "demos" / "pymoo_nsga2.py")
pymoo_nsga2 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pymoo_nsga2)
bench = importlib.util.spec_from_file_location("bench", HERE / "bench-python-binding.py")
bench_module = importlib.util.module_from_spec(bench)
bench.loader.exec_module(bench_module)

METHODS = [
    ("cellwise genetic", "cellwise's `genetic` preset (seeded initial sample of 200, "
                         "block crossover, one-degree mutations, distinct survivors; stops "
                         "after 50 generations without a new schedule)"),
    ("pymoo NSGA-II", "pymoo's NSGA-II, random integer initial population of 20"),
    ("pymoo NSGA-II, seeded", "pymoo's NSGA-II from the `genetic` preset's seeded initial "
                              "sample of 200"),
]


def spread(values, fmt):
    values = list(values)
    med = statistics.median(values)
    if min(values) == max(values):
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist-rnn32")
    ap.add_argument("--budget", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--min-accuracy", type=float, default=0.9)
    ap.add_argument("--out", help="write the markdown record here")
    args = ap.parse_args()

    problem = cellwise.Problem.load(args.problem)
    val = cellwise.Oracle(problem, "val")
    test = cellwise.Oracle(problem, "test")
    cost_model = cellwise.CostModel(None, problem, oracle=val)
    runs = {name: [] for name, _ in METHODS}
    started = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        g = cellwise.search_run("genetic", problem=problem, budget=args.budget, seed=seed,
                                min_accuracy=args.min_accuracy)
        assert g["cost_model"] == cost_model.name, (g["cost_model"], cost_model.name)
        runs["cellwise genetic"].append({
            "seed": seed, "val": g["hypervolume"]["validation"],
            "test": g["hypervolume"]["test"], "judged": g["judgements"],
            "seconds": g["seconds"], "front": len(g["front"]),
            "stopped": g["stopped"]})
        for name, initial in [("pymoo NSGA-II", "random"), ("pymoo NSGA-II, seeded", "seeded")]:
            val.clear_caches()
            p = pymoo_nsga2.run_nsga2(problem, args.budget, seed, args.min_accuracy,
                                      initial=initial, val=val, test=test,
                                      cost_model=cost_model)
            runs[name].append({
                "seed": seed, "val": p["hypervolume"]["val"], "test": p["hypervolume"]["test"],
                "judged": p["distinct"], "seconds": p["seconds"], "front": len(p["front"]),
                "stopped": None})
        for name, _ in METHODS:
            r = runs[name][-1]
            print(f"seed {seed} {name}: hypervolume val {r['val']:.4f} test {r['test']:.4f}, "
                  f"{r['judged']} schedules judged, {r['seconds']:.1f} s", file=sys.stderr)
    wall = time.perf_counter() - started

    reference_cost = cost_model.cost(problem.top())
    lines = [
        "# pymoo's NSGA-II beside cellwise's `genetic`",
        "",
        f"Problem `{args.problem}`, cost model `{cost_model.name}` (all-highest "
        f"`{problem.top()}` costs {reference_cost:.1f} {cost_model.unit}), minimum validation "
        f"accuracy {args.min_accuracy} (a constraint for all three, and the hypervolume's "
        f"reference accuracy), a budget of {args.budget} judgements, seeds 1-{args.seeds}. "
        "Hypervolume: the project's (`cellwise.hypervolume`, as `cellwise search` and "
        "`compare` compute it): the share of the box cost <= the all-highest cost, accuracy "
        ">= the minimum that the front dominates. The validation front is the non-dominated "
        "judged schedules within the constraint; the test front is the same schedules scored "
        "on test. Median (min-max) over the seeds.",
        "",
        "| method | runs | hypervolume val | hypervolume test | distinct schedules judged | "
        "front size | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, _ in METHODS:
        rs = runs[name]
        lines.append(
            f"| {name} | {len(rs)} | {spread((r['val'] for r in rs), '{:.4f}')} | "
            f"{spread((r['test'] for r in rs), '{:.4f}')} | "
            f"{spread((r['judged'] for r in rs), '{:.0f}')} | "
            f"{spread((r['front'] for r in rs), '{:.0f}')} | "
            f"{spread((r['seconds'] for r in rs), '{:.1f}')} |")
    lines += ["", "Methods:", ""]
    lines += [f"- **{name}**: {text}." for name, text in METHODS]
    lines += [
        "",
        "Budgets are counted alike but not identically: cellwise judges each distinct "
        "schedule once (a repeat costs no budget) and `genetic` may end before its budget "
        "(its `stopped` below); pymoo counts every evaluation it asks for, repeats across "
        "generations included (its duplicate elimination works within a generation), and "
        "evaluations past the budget in its last generation are left out of its front. "
        "The table gives the distinct schedules each judged.",
        "",
        "Every run:",
        "",
        "| method | seed | hypervolume val | hypervolume test | distinct schedules judged | "
        "seconds | stopped |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, _ in METHODS:
        for r in runs[name]:
            lines.append(f"| {name} | {r['seed']} | {r['val']:.4f} | {r['test']:.4f} | "
                         f"{r['judged']} | {r['seconds']:.1f} | {r['stopped'] or '-'} |")
    lines += [
        "",
        f"Commit {bench_module.git('rev-parse', '--short=12', 'HEAD')}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {bench_module.machine()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, pymoo "
        f"{pymoo.__version__}; whole run {wall:.0f} s.",
        "",
        "Command: `python scripts/pymoo-vs-cellwise.py " + " ".join(sys.argv[1:]) + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
