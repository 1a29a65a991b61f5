#!/usr/bin/env python3
"""Regenerates results/robustness.md: runs the release binary on each class of bad input of
issue 22 and records what it does (exit status, the exact stderr, seconds), then lists the
property tests of the parsers of untrusted bytes with the cases one `cargo test` runs.

Usage: python3 scripts/robustness-report.py   (from anywhere; builds the binary first)

Stdlib only. Nothing needs MNIST or the network: the data directory does not exist and the
commands that score anything use the committed fixture (`--fixture`). Key files are made at
`--preset test-boot --insecure` (seconds).
"""

import datetime
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "cellwise")
OUT = os.path.join(ROOT, "results", "robustness.md")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout.strip()


class Report:
    def __init__(self, work):
        self.work = work
        self.lines = []
        self.env = dict(os.environ, CELLWISE_DATA_DIR=os.path.join(work, "no-data"))
        self.env.pop("RUST_BACKTRACE", None)

    def section(self, title, intro):
        self.lines += ["", f"## {title}", "", intro, "",
                       "| case | command | outcome | s |", "|---|---|---|---:|"]

    def run(self, args, stdout=subprocess.DEVNULL):
        """Runs `cellwise ARGS` in the scratch directory: (process, seconds)."""
        t = time.monotonic()
        p = subprocess.run([BIN, *args], cwd=self.work, env=self.env,
                           stdout=stdout, stderr=subprocess.PIPE, text=True)
        return p, time.monotonic() - t

    def case(self, what, args, shown=None, stdout=subprocess.DEVNULL):
        """Runs `cellwise ARGS`, which must refuse (exit 1, no panic), and adds a row: exit
        status and stderr, verbatim."""
        p, seconds = self.run(args, stdout=stdout)
        err = p.stderr.strip()
        if "panicked" in err or p.returncode != 1:
            sys.exit(f"{what}: {args}: exit {p.returncode}: {err}")
        outcome = "exit 1: " + " / ".join(code(line) for line in err.splitlines())
        self.row(what, shown or "cellwise " + " ".join(quote(a) for a in args), outcome, seconds)

    def row(self, what, command, outcome, seconds=None):
        s = "" if seconds is None else f"{seconds:.2f}"
        self.lines.append(f"| {what} | {code(command)} | {outcome} | {s} |")

    def text(self, *lines):
        self.lines += ["", *lines]

    def path(self, *parts):
        return os.path.join(self.work, *parts)


def quote(a):
    return a if re.fullmatch(r"[\w@%+=:,./-]+", a) else "'" + a.replace("'", "'\\''") + "'"


def code(s):
    """A markdown code span that may hold backticks and pipes."""
    s = s.replace("|", "\\|")
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ---- files a hostile user writes -------------------------------------------------------

def problem(r, name, old, new):
    text = open(os.path.join(ROOT, "problems", "mnist-rnn32.toml")).read()
    assert old in text, old
    write(r.path(name), text.replace(old, new, 1))
    return name


def params_toml(r, name, preset, **changes):
    base = dict(log_n=16, log_scale=42, levels=9, bootstrap_levels=14, bootstrap_bits=60,
                first_mod_bits=58, special_bits=61, dnum=3, insecure=False)
    presets = {
        "fgb-like": {},
        "test-small": dict(log_n=12, log_scale=40, levels=5, bootstrap_levels=0,
                           first_mod_bits=55, special_bits=60, dnum=2, insecure=True),
        "test-medium": dict(log_n=13, log_scale=40, levels=7, bootstrap_levels=4,
                            bootstrap_bits=50, first_mod_bits=55, special_bits=60, dnum=3,
                            insecure=True),
    }
    lit = {**base, **presets[preset], **changes}
    secret = lit.pop("secret", '"Ternary"')
    extra = lit.pop("extra", "")
    lines = [extra] if extra else []
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in lit.items()]
    lines += [f"secret = {secret}", "q_primes = []", "p_primes = []", ""]
    write(r.path(name), "\n".join(lines))
    return name


def wire_parts(data):
    """(header, body) of a wire file: MAGIC | version | len | header | digest | body | digest."""
    n = struct.unpack_from("<I", data, 12)[0]
    return data[16:16 + n], data[16 + n + 32:-32]


def wire_file(header, body):
    """A wire file with right checksums around `header` and `body`."""
    prefix = b"CELLWISE" + struct.pack("<II", 3, len(header)) + header
    prefix += hashlib.sha256(prefix).digest()
    whole = prefix + body
    return whole + hashlib.sha256(whole).digest()


def header_fields(h):
    kind, n = struct.unpack_from("<II", h, 0)
    params = json.loads(h[8:8 + n])
    rest = h[8 + n:]
    ids, m = rest[:16], struct.unpack_from("<I", rest, 16)[0]
    meta = rest[20:20 + m].decode()
    return kind, params, ids, meta


def header_bytes(kind, params, ids, meta):
    p = json.dumps(params, separators=(",", ":")).encode()
    m = meta.encode()
    return struct.pack("<II", kind, len(p)) + p + ids + struct.pack("<I", len(m)) + m


def forged(src, dst, edit_params=None, edit_meta=None):
    data = open(src, "rb").read()
    h, body = wire_parts(data)
    kind, params, ids, meta = header_fields(h)
    if edit_params:
        edit_params(params)
    if edit_meta:
        meta = edit_meta(meta)
    open(dst, "wb").write(wire_file(header_bytes(kind, params, ids, meta), body))


def copy_dir(r, src, name, files):
    d = r.path(name)
    os.makedirs(d)
    for f in files:
        shutil.copy(r.path(src, f), os.path.join(d, f))
    return name


# ---- the report ------------------------------------------------------------------------

def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    commit = sh("git", "rev-parse", "--short=12", "HEAD", cwd=ROOT)
    if sh("git", "status", "--porcelain", "--untracked-files=no", "--", ".",
          ":!results/robustness.md", cwd=ROOT):
        commit += " (with uncommitted changes)"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    work = tempfile.mkdtemp(prefix="cellwise-robustness-")
    try:
        r = Report(work)
        body(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = [
        "# Robustness: what hostile input gets (issue 22)",
        "",
        f"Generated by `python3 scripts/robustness-report.py` at commit `{commit}`, {date}, on "
        f"{cpu} ({os.cpu_count()} logical cores), {platform.system()} {platform.release()}.",
        "",
        "Each row ran the release binary in a scratch directory (relative paths below are in "
        "it) with a data directory that does not exist; the outcome is the exit status and "
        "stderr verbatim (lines joined by ` / `), the last column the wall time in seconds. "
        "Exit 1 with one `error:` line is the expected answer to bad input; a panic (exit "
        "101), an abort or a hang fails the script. The tests of tests/robustness.rs assert "
        "the same texts (its top comment maps every case of the issue to its test).",
    ]
    write(OUT, "\n".join(head + r.lines) + "\n")
    print(f"wrote {OUT}")


def body(r):
    # One key set made as README's two-process example makes it (separate directories).
    os.makedirs(r.path("server"))
    keygen = ["infer", "keygen", "--dir", "client", "--preset", "test-boot", "--insecure",
              "--seed", "1"]
    p, _ = r.run(keygen)
    assert p.returncode == 0, p.stderr
    keygen_warning = p.stderr.strip()
    shutil.copy(r.path("client", "server.keys"), r.path("server", "server.keys"))
    for args in (["infer", "encrypt", "--dir", "client", "--images", "16", "--fixture"],):
        p, _ = r.run(args)
        assert p.returncode == 0, p.stderr
    shutil.copy(r.path("client", "inputs.ct"), r.path("server", "inputs.ct"))
    p, _ = r.run(["infer", "serve", "--dir", "server", "--schedule", "all-3", "--insecure"])
    assert p.returncode == 0, p.stderr
    shutil.copy(r.path("server", "logits.ct"), r.path("client", "logits.ct"))

    # ---- 1 ----
    r.section("1. Panics, aborts and hangs",
              "Each used to panic, abort on allocation or run for minutes; each is now refused "
              "(or, for a closed stdout, ends quietly) before any work.")
    for args in (["approx", "--json"], ["eval", "--fixture", "--split", "val"]):
        # `| true` where `true` has already exited: the first write gets EPIPE.
        rd, wr = os.pipe()
        os.close(rd)
        p, seconds = r.run(args, stdout=wr)
        os.close(wr)
        assert p.returncode == 0 and not p.stderr, p.stderr
        r.row("stdout closed (`\\| true`)", "cellwise " + " ".join(args) + " | true",
              "exit 0, nothing on stderr", seconds)
    with open("/dev/full", "w") as full:
        r.case("stdout full", ["approx", "--json"], "cellwise approx --json > /dev/full",
               stdout=full)
    r.case("no timed repetitions", ["bench", "oracle", "--repeats", "0"])
    r.case("2^64 - 1 repetitions", ["bench", "oracle", "--repeats", "18446744073709551615"])
    for levels in ("256", "5000", "1000000000000"):
        r.case("levels between bootstraps", ["cost", "--schedule", "all-17", "--model", "depth",
                                             "--levels", levels])
    profile = json.load(open(os.path.join(ROOT, "profiles", "cellwise-fgb-like.json")))
    profile["params"]["levels"] = 1000
    write(r.path("levels-1000.json"), json.dumps(profile))
    r.case("a profile claiming 1000 levels", ["cost", "--schedule", "all-17", "--profile",
                                              "levels-1000.json"])
    params_toml(r, "levels-1000.toml", "test-small", levels=1000)
    r.case("a parameter file with 1000 levels", ["ckks", "profile", "--params",
                                                 "levels-1000.toml", "--insecure"])
    r.case("profile flags", ["ckks", "profile", "--preset", "test-small", "--insecure",
                             "--samples", "10000000000000"])
    copy_dir(r, "server", "server-3000", ["inputs.ct"])
    forged(r.path("server", "server.keys"), r.path("server-3000", "server.keys"),
           edit_params=lambda p: p.update(levels=3000))
    r.case("`server.keys` claiming 3000 levels (checksums right)",
           ["infer", "serve", "--dir", "server-3000", "--schedule", "all-3", "--insecure"])
    copy_dir(r, "client", "client-big", ["secret.key", "batch.json"])
    forged(r.path("client", "logits.ct"), r.path("client-big", "logits.ct"),
           edit_meta=lambda m: m.replace('"images":16', '"images":1000000000'))
    r.case("`logits.ct` claiming 10^9 images (checksums right)",
           ["infer", "decrypt", "--dir", "client-big"])
    problem(r, "hidden.toml", "hidden = 32", "hidden = 1000000000")
    r.case("a problem of 10^9 hidden units (aborted allocating)", ["train", "--problem",
                                                                   "hidden.toml"])
    problem(r, "classes.toml", "classes = 10", "classes = 5")
    r.case("a problem of 5 classes (panicked: label 9 has no logit)", ["train", "--problem",
                                                                       "classes.toml"])
    r.case("worker threads", ["search", "--fixture", "--threads", "100000"])

    # ---- 2 ----
    r.section("2. Silent wrong results",
              "Each used to give a wrong answer with exit 0; each is now refused.")
    # A checkpoint of a real run, killed once it has written one.
    run = ["search", "--fixture", "--strategy", "anneal", "--budget", "1500", "--cost", "depth",
           "--checkpoint-every", "1", "--out", "run"]
    child = subprocess.Popen([BIN, *run], cwd=r.work, env=r.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    checkpoint = r.path("run", "checkpoint.json")
    while not os.path.exists(checkpoint) and child.poll() is None:
        time.sleep(0.005)
    child.kill()
    child.wait()
    text = open(checkpoint).read()
    first = re.search(r'"accuracy":([0-9.]+)', text)
    write(checkpoint, text.replace(first.group(0), '"accuracy":0.99', 1))
    r.case(f"`checkpoint.json` with one accuracy edited ({first.group(1)} -> 0.99)",
           ["search", "--resume", "run"])
    copy_dir(r, "client", "client-labels", ["secret.key", "batch.json", "logits.ct"])
    note = json.load(open(r.path("client-labels", "batch.json")))
    note["labels"] = note["labels"][:2]
    write(r.path("client-labels", "batch.json"), json.dumps(note))
    r.case("`batch.json` with 2 labels for 16 images",
           ["infer", "decrypt", "--dir", "client-labels"])
    p, _ = r.run(["infer", "encrypt", "--dir", "client", "--images", "16", "--offset", "16",
                  "--fixture"])
    assert p.returncode == 0, p.stderr
    r.case("`logits.ct` of the previous batch (re-encrypted at offset 16)",
           ["infer", "decrypt", "--dir", "client"])
    for name, old, new, what in [
        ("three.toml", "interval = [-8.0, 8.0]", "interval = [-8.0, 0.0, 8.0]",
         "a three-element interval (read as [-8, 0])"),
        ("typed.toml", "interval = [-8.0, 8.0]", 'interval = [-8.0, 8.0, "x"]',
         "an extra element of another type"),
        ("wide.toml", "interval = [-8.0, 8.0]", "interval = [-1e300, 1e300]",
         "an interval the f32 oracle loses"),
        ("twice.toml", "degrees = [3, 7, 17]", "degrees = [3, 3, 3]", "a degree listed twice"),
    ]:
        problem(r, name, old, new)
        r.case(what, ["eval", "--problem", name])
    write(r.path("inf.toml"), 'strategy = "anneal"\ninitial_temperature = 4.0\n'
          'final_temperature = 0.05\npenalty_per_point = inf\n')
    r.case("`penalty_per_point = inf`", ["search", "--fixture", "--strategy", "inf.toml"])
    r.case("`--max-cost NaN`", ["search", "--fixture", "--max-cost", "NaN"])
    os.makedirs(r.path("busy"))
    with open(r.path("busy", ".cellwise.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        r.case("a second search on a locked run directory",
                   ["search", "--fixture", "--out", "busy"])
    r.case("a step set twice", ["eval", "--schedule", "17 except 7@1 3@1"])
    params_toml(r, "levelz.toml", "test-small", extra="levelz = 3")
    r.case("an unknown key in a parameter file", ["ckks", "profile", "--params", "levelz.toml",
                                                  "--insecure"])
    r.case("`keygen` into a key directory", ["infer", "keygen", "--dir", "client", "--preset",
                                             "test-boot", "--insecure"])

    # ---- 3 ----
    r.section("3. Keys and security",
              "Secret material stays private and parameters are only called secure where the "
              "published tables say so.")
    for f in ("secret.key", "batch.json"):
        mode = oct(os.stat(r.path("client", f)).st_mode & 0o777)[2:]
        r.row(f"mode of `{f}`", f"stat -c %a client/{f}", f"`{mode}`")
    r.row("`keygen --seed`", "cellwise " + " ".join(keygen),
          "exit 0: " + " / ".join(code(l) for l in keygen_warning.splitlines()))
    r.case("`serve` beside the secret key", ["infer", "serve", "--dir", "client", "--schedule",
                                              "all-3", "--insecure"])
    params_toml(r, "sparse.toml", "test-medium", levels=2, bootstrap_levels=0, insecure=False,
                secret="{ SparseTernary = { h = 64 } }")
    r.case("a sparse main secret", ["ckks", "profile", "--params", "sparse.toml", "--samples",
                                    "1", "--levels", "0"])
    params_toml(r, "ephemeral.toml", "fgb-like", first_mod_bits=62, special_bits=62, levels=8)
    r.case("q_0 p_0 beyond the ephemeral secret's bound", ["ckks", "profile", "--params",
                                                           "ephemeral.toml", "--samples", "1"])
    copy_dir(r, "server", "server-damaged", ["server.keys", "inputs.ct"])
    path = r.path("server-damaged", "server.keys")
    data = bytearray(open(path, "rb").read())
    at = data.index(b'"levels":') + len(b'"levels":')
    data[at] = ord("7")
    open(path, "wb").write(data)
    r.case("a header edited without its checksum (9 -> 7 levels)",
           ["infer", "serve", "--dir", "server-damaged", "--schedule", "all-3", "--insecure"])
    copy_dir(r, "client", "client-v2", ["secret.key", "batch.json", "logits.ct"])
    path = r.path("client-v2", "logits.ct")
    data = bytearray(open(path, "rb").read())
    data[8:12] = struct.pack("<I", 2)
    open(path, "wb").write(data)
    r.case("a file of format version 2", ["infer", "decrypt", "--dir", "client-v2"])

    # ---- 4 ----
    r.section("4. Correctness",
              "The cost model plans and prices the fits the oracle scores and the server "
              "evaluates. `mnist-rnn32-safe` fits its polynomials to the training split's "
              "pre-activations (`weighted`), so `cost` measures them (here on the committed "
              "fixture); a copy of the problem with least-squares fits is what the cost model "
              "priced before (the stand-in).")
    safe = open(os.path.join(ROOT, "problems", "mnist-rnn32-safe.toml")).read()
    write(r.path("stand-in.toml"), safe.replace('method = "weighted"',
                                                'method = "least-squares"'))
    for prob, extra in (("mnist-rnn32-safe", ["--fixture"]), ("stand-in.toml", [])):
        for schedule in ("all-17", "17 except 7@0,1,2,3"):
            args = ["cost", "--problem", prob, *extra, "--schedule", schedule, "--json"]
            p, seconds = r.run(args, stdout=subprocess.PIPE)
            assert p.returncode == 0, p.stderr
            b = json.loads(p.stdout)
            count = lambda op: sum(o["count"] for s in b["steps"] for o in s["primitives"]
                                   if o["op"] == op)
            r.row(f"`{prob}`, `{schedule}`", "cellwise " + " ".join(quote(a) for a in args),
                  f"{b['total']:.3f} s, {b['bootstraps']} bootstraps, depth {b['depth']}; "
                  f"primitives: {count('mul_relin')} mul_relin, {count('mul_const')} "
                  f"mul_const, {count('add_const')} add_const", seconds)
    r.text("Without the fits, a circuit model of a weighted problem is refused (library "
           "callers; every command supplies them): `problem 'mnist-rnn32-safe' has weighted "
           "fits, fitted to the training split's pre-activations: its cost model needs those "
           "fits (the weights and the data), not a stand-in`. On the full training split "
           "(55,000 images) the real fits price `latency:cellwise` all-17 at 371.90 s "
           "against the stand-in's 371.54 s (`17 except 7@0,1,2,3`: 345.40 against 345.08); "
           "depth, bootstraps and ciphertext products are the same, so results/dfs-safe "
           "(cost model `depth`) is unchanged: its 10,000 judgements and 36 Pareto points "
           "re-price to the committed costs.")

    # ---- 5 ----
    r.section("5. Messages", "One line that says what is wrong, once.")
    r.case("an OS error", ["cost", "--schedule", "all-17", "--profile", "/"])
    write(r.path("not-a-dir"), "x")
    r.case("a data directory that is a file", ["eval", "--data-dir", "not-a-dir"])
    os.makedirs(r.path("w.npz"))
    r.case("an export onto a directory", ["export", "--out", "w"])
    left = [f for f in os.listdir(r.work) if f.endswith(".tmp")]
    r.row("temporaries left by it", "ls *.tmp", f"{len(left)} files")
    p, _ = r.run(["export", "--out", "whole"])
    assert p.returncode == 0, p.stderr
    for name, keep in (("short.npz", lambda n: n - 8), ("header.npz", lambda n: 30)):
        with zipfile.ZipFile(r.path("whole.npz")) as src, \
                zipfile.ZipFile(r.path(name), "w", zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "kernel.npy":
                    data = data[:keep(len(data))]
                dst.writestr(info.filename, data)
    r.case("a truncated `.npy` in an `.npz`", ["eval", "--weights", "short.npz"])
    r.case("an `.npy` header cut short", ["eval", "--weights", "header.npz"])
    r.case("`approx --method weighted`", ["approx", "--method", "weighted"])
    r.case("a profile output that cannot be written", ["ckks", "profile", "--preset",
                                                       "test-small", "--insecure", "--out",
                                                       "/nonexistent/x"])
    r.case("a TOML value of the wrong type", ["train", "--problem", "typed.toml"])

    # ---- 6 ----
    r.lines += ["", "## 6. Property tests of the parsers of untrusted bytes", "",
                "Cases per `cargo test --release` run (each block's `proptest_config`; "
                "proptest's default is 256), read from the sources:", "",
                "| parser | test | file | cases |", "|---|---|---|---:|"]
    total = 0
    for path, name, cases in proptests():
        if name not in PARSERS:
            continue
        total += cases
        r.lines.append(f"| {PARSERS[name]} | `{name}` | {path} | {cases} |")
    r.lines += ["", f"{total} cases in all. `every_truncation_is_refused` "
                "(tests/frameworks/mutations.rs) also reads every prefix of every weight "
                "fixture, and `a_forged_idx_header_is_refused_before_allocating` (tests/"
                "robustness/cli.rs) a 4 GiB sparse IDX file."]


# The property tests of parsers of untrusted bytes, and what they parse (other property
# tests, of the CKKS arithmetic and the placement, are not listed).
PARSERS = {
    "idx_bytes_never_panic": "IDX (MNIST files), bytes",
    "mutated_idx_files_never_panic": "IDX files, mutated",
    "mutated_bytes_never_panic": ".npz (.npy inside) and .safetensors weights, mutated",
    "checkpoint_bytes_never_panic": "checkpoint.json, bytes",
    "mutated_checkpoints_are_refused_or_unchanged": "checkpoint.json, mutated",
    "preset_text_never_panics": "strategy TOML, text",
    "preset_numbers_are_checked": "strategy TOML, hostile numbers",
    "schedule_text_never_panics": "schedule text, grammar tokens",
    "arbitrary_schedule_text_never_panics": "schedule text, arbitrary",
    "schedule_json_never_panics": "schedule JSON",
    "problem_text_never_panics": "problem TOML, text",
    "problem_numbers_are_checked": "problem TOML, hostile numbers",
    "parameter_text_never_panics": "CKKS parameters TOML",
    "arbitrary_header_bytes_never_panic": "wire headers, bytes",
    "hostile_headers_with_right_checksums_are_bounded": "wire headers, resealed",
    "mutated_wire_files_never_panic": "wire files (keys, ciphertexts), header and body",
    "mutated_two_process_files_never_panic":
        "secret.key, server.keys, inputs.ct, logits.ct as `infer` reads them",
}


def proptests():
    """(file, test, cases) of every proptest! block in tests/ and src/."""
    out = []
    for base in ("tests", "src"):
        for dirpath, _, files in sorted(os.walk(os.path.join(ROOT, base))):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, f)
                text = open(path).read()
                for m in re.finditer(r"proptest!\s*\{", text):
                    block = text[m.end():block_end(text, m.end())]
                    c = re.search(r"with_cases\((\d+)\)|config\((\d+)\)|cases:\s*(\d+)", block)
                    cases = int(next(g for g in c.groups() if g)) if c else 256
                    for t in re.finditer(r"#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn\s+(\w+)", block):
                        out.append((os.path.relpath(path, ROOT), t.group(1), cases))
    return out


def block_end(text, start):
    """Index of the brace closing the block opened just before `start` (comments, strings
    and character literals skipped)."""
    depth, i = 1, start
    while depth:
        c = text[i]
        if text.startswith("//", i):
            i = text.index("\n", i)
            continue
        if c == "'" and text[i + 2:i + 3] == "'":
            i += 3
            continue
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return i


if __name__ == "__main__":
    main()
