#!/usr/bin/env python3
"""Prints the "Measured runs" section of results/encrypted-gated.md from the JSON of
`cellwise infer --encrypted ... --out RUN.json` on gated problems.
Usage:
    scripts/encrypted-gated-report.py COMMIT RUN.json [RUN.json ...]
COMMIT: the commit the `cellwise` binary of the runs was built from (the JSON does not say).
Every figure comes from the JSON files; MHEGRU's per-step time (about 90 s, GRU-64, degree 7,
as reported second-hand in ../shared/notes/anchors.md) is quoted for comparison only."""

import importlib.util
import json
import os
import statistics
import sys

# The command formatting of results/encrypted.md's report, shared.
_spec = importlib.util.spec_from_file_location(
    "encrypted_report", os.path.join(os.path.dirname(__file__), "encrypted-report.py"))
_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_report)
shell_command = _report.shell_command

MHEGRU_SECONDS_PER_STEP = 90.0
TARGETS = {"mnist-gru32-safe": 600.0, "mnist-lstm32-safe": 900.0}


def main():
    commit, paths = sys.argv[1], sys.argv[2:]
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append((path, json.load(f)))
    lines = ["## Measured runs", ""]
    for path, run in runs:
        lines += [
            f"`{os.path.basename(path)}`: commit {commit}, measured "
            f"{run['date']} on {run['cpu']} with {run['threads']} threads; preset "
            f"`{run['preset']}`, problem `{run['problem']}`, {run['split']}; key generation "
            f"{run['keygen_seconds']:.1f} s, server setup {run['server_setup_seconds']:.1f} s, "
            f"once for its schedules; one run each:",
            "",
            "```sh",
            shell_command(run["command"]),
            "```",
            "",
        ]
    lines += [
        "| problem | images | schedule | agreement | accuracy encrypted | accuracy plaintext | "
        "unsafe (plaintext) | max logit error | measured s | s / step | predicted s | error | "
        "bootstraps | bootstrap s | median s / bootstrap | peak RSS GB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, run in runs:
        for x in run["reports"]:
            err = x.get("prediction_error")
            steps = len(x["steps"]) - 1
            per = [st["bootstrap_seconds"] / st["bootstraps"] for st in x["steps"]
                   if st["bootstraps"]]
            mle = x["max_logit_error"]
            lines.append(
                f"| `{run['problem']}` | {run['split']} | `{x['schedule']}` | "
                f"{x['agreeing']}/{x['images']} ({100 * x['agreement']:.2f} %) | "
                f"{100 * x['accuracy_encrypted']:.2f} % | {100 * x['accuracy_plaintext']:.2f} % | "
                f"{len(x.get('unsafe_images') or [])} | "
                f"{'non-finite' if mle is None else f'{mle:.1e}'} | "
                f"{x['server_seconds']:.1f} | {x['server_seconds'] / steps:.2f} | "
                f"{x['predicted']:.1f} | {'-' if err is None else f'{100 * err:+.1f} %'} | "
                f"{x['bootstraps']} | {x['bootstrap_seconds']:.1f} | "
                f"{statistics.median(per) if per else 0:.2f} | "
                f"{(x['peak_rss_mb'] or 0) / 1024:.1f} |")
    lines += [
        "",
        "- agreement: encrypted predictions equal to the plaintext oracle's (f64, the same "
        "polynomials) on the same images (target >= 99.9 % on batch-safe runs).",
        "- measured: server seconds from the first input ciphertext to the logits, bootstraps "
        "included, weights encoded beforehand; s / step divides by the 28 steps (the output "
        "layer included). predicted: the cost model named in the JSON, which also placed the "
        "bootstraps; error = (measured - predicted) / predicted (target within 10 %).",
        "- peak RSS: the process's high-water mark so far (target <= 16 GB).",
        "",
        "Against the targets:",
        "",
    ]
    for _, run in runs:
        for x in run["reports"]:
            p, s = run["problem"], x["schedule"]
            if s == "all-17" and p in TARGETS:
                t = TARGETS[p]
                lines.append(f"- `{p}` all-17: {x['server_seconds']:.1f} s per batch of "
                             f"{x['images']} images (target <= {t:.0f} s: "
                             f"{'met' if x['server_seconds'] <= t else 'NOT met'}).")
            if p == "mnist-gru64" and s == "all-7":
                per_step = x["server_seconds"] / (len(x["steps"]) - 1)
                lines.append(
                    f"- `{p}` degree 7 everywhere (MHEGRU's setting): {per_step:.2f} s per step "
                    f"for {x['images']} images, {per_step / MHEGRU_SECONDS_PER_STEP:.3f} of "
                    f"MHEGRU's reported ~{MHEGRU_SECONDS_PER_STEP:.0f} s per step (target <= 0.1: "
                    f"{'met' if per_step <= MHEGRU_SECONDS_PER_STEP / 10 else 'NOT met'}).")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
