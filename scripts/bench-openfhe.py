#!/usr/bin/env python3
"""Measure an OpenFHE CKKS timing profile in the cellwise-ckks-profile/1 format.

The shape is the `fgb-like` preset: N = 2^16 (32,768 slots), 9 levels available for
computation after a bootstrap (and in a fresh ciphertext), 42-bit scale over a 58-bit base
prime, hybrid key switching with dnum = 3, uniform ternary secret, 128-bit security (OpenFHE's
own HE-standard check). Every operation is timed at every level where it fits: median of
--samples runs after one warm-up run. The circuit operations mirror the cellwise plan
(src/ckks/plan.rs): `matvec_32` is the 32x32 diagonal matvec on the unit-major layout
(32 units x 1024 images) with baby-step giant-step 8 x 4 (7 hoisted baby rotations, 3 giant
rotations, 32 plaintext products, one rescale); `poly_degD` is OpenFHE's Chebyshev series
(Paterson-Stockmeyer) of the tanh interpolant of degree D on [-8, 8], with the map onto
[-1, 1] folded in (series on [-1, 1]); its entries record the levels OpenFHE consumed.

Usage, two processes (run under any python3: OpenFHE 1.6.1 ships a CPython 3.10 module only,
so when `openfhe` is not importable the script creates its own venv with Python 3.10 under
$CELLWISE_OPENFHE_VENV, default ~/.cache/cellwise/openfhe-venv, and re-runs itself there):
    OMP_NUM_THREADS=2 scripts/bench-openfhe.py --threads 2 --phase leveled --out P.json
    OMP_NUM_THREADS=2 scripts/bench-openfhe.py --threads 2 --phase bootstrap --out P.json
The bootstrap phase needs about 16 GB of memory.
`--small` runs an insecure N = 2^12 context in seconds, to check the script.
"""

import argparse
import datetime
import json
import os
import resource
import statistics
import sys
import time


OPENFHE_WHEEL = "openfhe==1.6.1.0.22.4"


def ensure_openfhe():
    """Re-executes this script in a Python 3.10 venv holding the OpenFHE wheel if `openfhe`
    cannot be imported here."""
    try:
        import openfhe  # noqa: F401
        import numpy  # noqa: F401
        return
    except ImportError:
        pass
    import shutil
    import subprocess
    venv = os.environ.get("CELLWISE_OPENFHE_VENV",
                          os.path.expanduser("~/.cache/cellwise/openfhe-venv"))
    py = os.path.join(venv, "bin", "python")
    # Already inside the venv: a venv's `sys.prefix` is its own directory. (Comparing
    # interpreters' real paths cannot tell: the venv's python links to the base interpreter it
    # was made from, so running that base interpreter directly looked like running the venv.)
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        sys.exit(f"error: {OPENFHE_WHEEL} is not importable in {venv}; delete it and retry")
    if not os.path.exists(py):
        candidates = [os.path.expanduser("~/.pyenv/versions/3.10.13/bin/python3.10"),
                      shutil.which("python3.10")]
        base = next((c for c in candidates if c and os.path.exists(c)), None)
        if base is None:
            sys.exit("error: the openfhe wheel needs CPython 3.10; install it (pyenv install 3.10)")
        print(f"creating {venv} with {base} and {OPENFHE_WHEEL}", file=sys.stderr)
        subprocess.run([base, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", OPENFHE_WHEEL, "numpy"], check=True)
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


ensure_openfhe()
import numpy as np  # noqa: E402
import openfhe as o  # noqa: E402

TOP = 9
DEGREES = (3, 7, 17)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def median_ms(fn, samples):
    fn()  # warm-up
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--bootstrap-samples", type=int, default=5)
    ap.add_argument("--out", required=True)
    ap.add_argument("--small", action="store_true", help="insecure N=2^12 smoke run")
    ap.add_argument("--phase", choices=["leveled", "bootstrap"], required=True,
                    help="leveled: write --out with every leveled operation; bootstrap: add "
                         "the bootstrap to an existing --out (run it as its own process: "
                         "bootstrapping keys need most of the memory)")
    args = ap.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != str(args.threads):
        sys.exit(f"set OMP_NUM_THREADS={args.threads} in the environment (OpenFHE reads it at start)")

    ring = 1 << 12 if args.small else 1 << 16
    slots = ring // 2
    blocks = 32
    batch = slots // blocks
    # The largest level budgets whose chains pass OpenFHE's 128-bit check at N = 2^16.
    level_budget = [2, 2]  # leveled context: uniform ternary, dnum 3
    boot_budget = [3, 3]  # bootstrap context: sparse ternary, dnum 4

    def context(technique, log_scale, log_q0, dist, dnum, budget):
        """The full chain: the 9 computation levels under the bootstrapping levels (so the
        special modulus, hence key switching, is sized as in a bootstrappable context)."""
        depth = TOP + o.CryptoContext.GetBootstrapDepth(budget, dist)
        params = o.CCParamsCKKSRNS()
        params.SetSecretKeyDist(dist)
        params.SetSecurityLevel(o.HEStd_NotSet if args.small else o.HEStd_128_classic)
        params.SetRingDim(ring)
        params.SetScalingModSize(log_scale)
        params.SetFirstModSize(log_q0)
        params.SetScalingTechnique(technique)
        params.SetKeySwitchTechnique(o.HYBRID)
        params.SetNumLargeDigits(dnum)
        params.SetBatchSize(slots)
        params.SetMultiplicativeDepth(depth)
        cc = o.GenCryptoContext(params)
        for feature in (o.PKE, o.KEYSWITCH, o.LEVELEDSHE, o.ADVANCEDSHE, o.FHE):
            cc.Enable(feature)
        return cc, depth

    ops = []

    def record(op, level, ms, samples, **extra):
        entry = {"op": op, "level": level, "median": round(ms, 4), "samples": samples,
                 "source": "measured"}
        entry.update(extra)
        ops.append(entry)
        print(f"{op:>18} level {level}: {ms:10.3f} ms", file=sys.stderr, flush=True)

    if args.phase == "bootstrap":
        return bootstrap_phase(args, context, ring, slots, boot_budget, record, ops)

    # Leveled operations: FIXEDMANUAL (explicit rescales), 42-bit scale over a 58-bit q0.
    cc, depth = context(o.FIXEDMANUAL, 42, 58, o.SecretKeyDist.UNIFORM_TERNARY, 3, level_budget)
    t = time.perf_counter()
    keys = cc.KeyGen()
    record("keygen", TOP, (time.perf_counter() - t) * 1e3, 1)
    cc.EvalMultKeyGen(keys.secretKey)
    baby = [b * batch for b in range(1, 8)]
    giant = [g * 8 * batch for g in range(1, 4)]
    cc.EvalRotateKeyGen(keys.secretKey, sorted(set(list(range(1, 32)) + baby + giant)))

    rng = np.random.default_rng(7)  # PCG64, seeded: values do not affect timings
    values = rng.uniform(-0.5, 0.5, slots)
    m = cc.GetCyclotomicOrder()

    def at(level):
        """A ciphertext with `level` levels left (level + 1 towers)."""
        return cc.Encrypt(keys.publicKey, cc.MakeCKKSPackedPlaintext(values, 1, depth - level))

    def pt(level, v=values):
        return cc.MakeCKKSPackedPlaintext(v, 1, depth - level)

    s = args.samples
    record("encode", TOP, median_ms(lambda: pt(TOP), s), s)
    p_top = pt(TOP)
    record("encrypt", TOP, median_ms(lambda: cc.Encrypt(keys.publicKey, p_top), s), s)
    c_top = at(TOP)
    record("decrypt", TOP, median_ms(lambda: cc.Decrypt(c_top, keys.secretKey), s), s)

    coeffs = {d: list(np.polynomial.chebyshev.chebinterpolate(lambda x: np.tanh(8.0 * x), d))
              for d in DEGREES}
    # (op, level, function, extra fields). Timed round-robin over all of them, so that load
    # from other processes on the machine spreads evenly over the levels.
    tasks = []

    def level_tasks(level):
        c = at(level)
        tasks.append(("add", level, lambda: cc.EvalAdd(c, c), {}))
        if level == 0:
            return
        p = pt(level)
        tasks.append(("mul_relin_rescale", level, lambda: cc.Rescale(cc.EvalMult(c, c)), {}))
        tasks.append(("mul_plain_rescale", level, lambda: cc.Rescale(cc.EvalMult(c, p)), {}))
        tasks.append(("rotate", level, lambda: cc.EvalRotate(c, 1), {}))

        def hoisted():
            pre = cc.EvalFastRotationPrecompute(c)
            for k in range(1, 32):
                cc.EvalFastRotation(c, k, m, pre)
        tasks.append(("hoisted_rotate_31", level, hoisted, {}))
        diags = [[pt(level, rng.uniform(-0.5, 0.5, slots)) for _ in range(8)] for _ in range(4)]

        def matvec():
            pre = cc.EvalFastRotationPrecompute(c)
            rots = [c] + [cc.EvalFastRotation(c, r, m, pre) for r in baby]
            acc = None
            for g in range(4):
                inner = cc.EvalMult(rots[0], diags[g][0])
                for b in range(1, 8):
                    inner = cc.EvalAdd(inner, cc.EvalMult(rots[b], diags[g][b]))
                if g > 0:
                    inner = cc.EvalRotate(inner, giant[g - 1])
                acc = inner if acc is None else cc.EvalAdd(acc, inner)
            return cc.Rescale(acc)
        tasks.append(("matvec_32", level, matvec, {}))
        for d in DEGREES:
            try:
                out = cc.EvalChebyshevSeries(c, coeffs[d], -1.0, 1.0)
            except Exception:  # not enough levels left for OpenFHE's evaluation
                continue
            tasks.append((f"poly_deg{d}", level,
                          lambda d=d: cc.EvalChebyshevSeries(c, coeffs[d], -1.0, 1.0),
                          {"levels_consumed": out.GetLevel() - (depth - level)}))

    for level in range(TOP, -1, -1):
        level_tasks(level)
    times = [[] for _ in tasks]
    for rep in range(1 + s):  # the first round is the warm-up
        for i, (op, level, fn, _) in enumerate(tasks):
            t = time.perf_counter()
            fn()
            if rep > 0:
                times[i].append((time.perf_counter() - t) * 1e3)
        print(f"round {rep} of {s} done", file=sys.stderr, flush=True)
    for (op, level, _, extra), ts in zip(tasks, times):
        record(op, level, statistics.median(ts), s, **extra)
    profile = {
        "format": "cellwise-ckks-profile/1",
        "engine": "openfhe",
        "engine_version": "openfhe-python " + getattr(o, "__version__", "1.6.1.0.22.4"),
        "cpu": cpu_model(),
        "threads": args.threads,
        "date": datetime.date.today().isoformat(),
        "command": f"OMP_NUM_THREADS={args.threads} python scripts/bench-openfhe.py "
                   + " ".join(sys.argv[1:]),
        "params": {"preset": "small-insecure" if args.small else "fgb-like",
                   "ring_degree": ring, "log_scale": 42, "levels": TOP,
                   "dnum": 3, "secret": "ternary",
                   "chain_depth": depth, "level_budget": level_budget},
        "load_average_1_5_15": list(os.getloadavg()),
        "units": "ms",
        "ops": ops,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    write(args.out, profile)


def write(path, profile):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def bootstrap_phase(args, context, ring, slots, budget, record, ops):
    """Adds the bootstrap to the profile the leveled phase wrote.

    OpenFHE's bootstrapping needs FLEXIBLEAUTO and a larger scale to be precise (at 42 bits
    it decrypts to noise), and a 50-bit chain with a uniform ternary secret does not pass the
    128-bit check at N = 2^16: sparse ternary secret (shorter EvalMod), 50-bit scale over a
    58-bit q0 (OpenFHE allows q0 at most 8 bits above the scale at N = 2^16), dnum 4, level
    budget [3, 3], same N. The error of one bootstrap, measured, is recorded.
    """
    with open(args.out) as f:
        profile = json.load(f)
    bc, bdepth = context(o.FLEXIBLEAUTO, 50, 58, o.SecretKeyDist.SPARSE_TERNARY, 4, budget)
    t = time.perf_counter()
    bc.EvalBootstrapSetup(budget, [0, 0], slots)
    setup_ms = 1e3 * (time.perf_counter() - t)
    t = time.perf_counter()
    bkeys = bc.KeyGen()
    bc.EvalMultKeyGen(bkeys.secretKey)
    bc.EvalBootstrapKeyGen(bkeys.secretKey, slots)
    keygen_ms = 1e3 * (time.perf_counter() - t)
    # Once each (as the cellwise profile records them), at level 0 by convention.
    record("bootstrap_setup", 0, setup_ms, 1)
    record("keygen_bootstrap", 0, keygen_ms, 1,
           note="KeyGen + EvalMultKeyGen + EvalBootstrapKeyGen")
    values = np.random.default_rng(7).uniform(-0.5, 0.5, slots)
    c0 = bc.Encrypt(bkeys.publicKey, bc.MakeCKKSPackedPlaintext(values, 1, bdepth - 1))
    out = bc.EvalBootstrap(c0)
    dec = bc.Decrypt(out, bkeys.secretKey)
    dec.SetLength(slots)
    err = float(np.abs(np.array(dec.GetRealPackedValue()) - values).max())
    record("bootstrap", 0, median_ms(lambda: bc.EvalBootstrap(c0), args.bootstrap_samples),
           args.bootstrap_samples, levels_after=bdepth - out.GetLevel(), max_error=err,
           note="FLEXIBLEAUTO, sparse ternary secret, 50-bit scale over a 58-bit q0, dnum 4, "
                f"level budget {budget}, depth {bdepth}, N {ring}")
    boot_ops = {"bootstrap", "bootstrap_setup", "keygen_bootstrap"}
    profile["ops"] = [e for e in profile["ops"] if e["op"] not in boot_ops] + ops
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # This process only bootstraps: its peak is the bootstrap's (context, keys, evaluation).
    profile["bootstrap_peak_rss_mb"] = rss
    profile["peak_rss_mb"] = max(profile.get("peak_rss_mb") or 0.0, rss)
    profile["command"] += (f" && OMP_NUM_THREADS={args.threads} python "
                           "scripts/bench-openfhe.py " + " ".join(sys.argv[1:]))
    profile["bootstrap_load_average_1_5_15"] = list(os.getloadavg())
    write(args.out, profile)


if __name__ == "__main__":
    main()
