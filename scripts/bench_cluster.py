"""Wall time of a leaderboard set in-process against a Dask LocalCluster, and a check that
both runs store the same predictions.

    python scripts/bench_cluster.py                     # demo set, small preset, local:2
    python scripts/bench_cluster.py --preset tiny --workers 2 --keep

It generates the synthetic preset once, imports it into two fresh temporary PRIZE_HOMEs,
trains every predictor of the set (``configs/leaderboard/<set>.toml``, no blends) once in
this process and once on ``local:N``, prints both wall times and their ratio (cluster /
in-process, cluster start-up and shut-down included), and compares the two probe stores
file by file (probe and qualifying predictions, to within ``--atol``). It exits 1 when
the stores differ.

What to expect on a 2-core machine: no speed-up of two, and often none at all. The ratio
is bounded below by 0.5 (two workers, two cores) and by the longest training over the
total (timeSVD++ and SVD++ dominate the demo set). It is pushed up by memory bandwidth (the
SGD sweeps stream ratings and factor matrices, so two side by side each run slower), by
the parallel kernels (kNN, SVD++'s implicit sums) that already use both cores in-process,
by fixed costs (starting the cluster; importing numpy, numba and torch and loading the
numba cache in every worker), and by anything else running on the machine. Each worker
must run numba, torch and BLAS on one thread (this script passes ``threads=1``, as
``prize sweep --cluster local:N`` does): two workers with two numba threads each
would put four busy threads on two cores, and the parallel kernels would wait on each
other's time slices.

Measured here (demo set, small preset, 2 cores shared with other people's benchmarks at a
load average of 8.6 to 11): in-process 68.5 s and 75.4 s, local:2 129.6 s and 105.8 s,
ratios 1.89 and 1.40; the stores agreed exactly (max |diff| 0). Under such load CPU time
is shared per runnable thread, so the workers gain no cores and pay their start-up. We
could not measure an idle machine; the bounds above put its ratio between 0.5 and 1 plus
the start-up. The cluster is for more machines; on one machine this script measures its
overhead and checks its results.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def train(pset, home: Path, data: str, cluster: str | None) -> dict:
    from prize.runs.executors import make_executor
    from prize.runs.sets import run_set

    t0 = time.perf_counter()
    executor, info = make_executor(cluster)
    started = time.perf_counter() - t0
    try:
        results = run_set(pset, home=home, data=data, executor=executor,
                          threads=info.get("task_threads"),
                          progress=sys.stderr.isatty())
    finally:
        executor.shutdown()
        if info.get("close"):
            info["close"]()
    return {"wall": time.perf_counter() - t0, "start": started, "results": results,
            "kind": info["kind"], "workers": info.get("workers")}


def compare(a: Path, b: Path, data: str, atol: float) -> dict[str, float]:
    """The largest |difference| per predictor over its probe and qualifying predictions."""
    import json

    out = {}
    for meta in sorted((a / "probes" / data).glob("*/meta.json")):
        name = meta.parent.name
        other = b / "probes" / data / name / "meta.json"
        if not other.is_file():
            out[name] = float("inf")
            continue
        fa, fb = (json.loads(m.read_text())["files"] for m in (meta, other))
        worst = 0.0
        for kind in ("probe", "qualifying"):
            x = np.load(meta.parent / fa[kind])
            y = np.load(other.parent / fb[kind])
            worst = max(worst, float(np.max(np.abs(x - y))) if x.shape == y.shape
                        else float("inf"))
        out[name] = worst
    for meta in (b / "probes" / data).glob("*/meta.json"):
        out.setdefault(meta.parent.name, float("inf"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="demo", help="predictor set (configs/leaderboard/)")
    ap.add_argument("--preset", default="small", help="synthetic preset (tiny, small, ...)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--tmp", default=None, help="where the temporary homes go")
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = ap.parse_args()

    from prize.data.netflix import import_netflix
    from prize.data.synth import generate
    from prize.runs.sets import load_set

    pset = load_set(args.set)
    root = Path(tempfile.mkdtemp(prefix="bench_cluster-", dir=args.tmp))
    data = f"synth-{args.preset}"
    try:
        t0 = time.perf_counter()
        generate(root / "raw", preset=args.preset, seed=args.seed)
        print(f"generated {args.preset} (seed {args.seed}) in {time.perf_counter() - t0:.1f} s;"
              f" load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
        runs = {}
        for label, cluster in (("in-process", None),
                               (f"local:{args.workers}", f"local:{args.workers}")):
            home = root / label.replace(":", "")
            import_netflix(root / "raw", home / "data" / data, name=data)
            print(f"{label}: training the {pset.name} set ({len(pset.predictors)} predictors)"
                  " ...", flush=True)
            runs[label] = r = train(pset, home, data, cluster)
            r["home"] = home
            failed = [x["name"] for x in r["results"] if not x["ok"]]
            print(f"  {r['kind']}, {r['workers']} worker(s): {r['wall']:.1f} s wall "
                  f"(executor start {r['start']:.1f} s)"
                  + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
        (la, a), (lb, b) = runs.items()
        diffs = compare(a["home"], b["home"], data, args.atol)
        secs = {lbl: {x["name"]: x.get("seconds") for x in r["results"]}
                for lbl, r in runs.items()}
        print(f"\n{'predictor':<26}{la + ' s':>14}{lb + ' s':>12}{'max |diff|':>12}")
        for name, d in diffs.items():
            sa, sb = secs[la].get(name), secs[lb].get(name)
            print(f"{name:<26}{sa if sa is None else format(sa, '.1f'):>14}"
                  f"{sb if sb is None else format(sb, '.1f'):>12}{d:>12.2e}")
        ok = bool(diffs) and all(d <= args.atol for d in diffs.values())
        print(f"\nwall time  {la}: {a['wall']:.1f} s   {lb}: {b['wall']:.1f} s   "
              f"ratio {lb}/{la}: {b['wall'] / a['wall']:.2f}")
        print(f"sum of task seconds  {la}: {sum(filter(None, secs[la].values())):.1f} s   "
              f"{lb}: {sum(filter(None, secs[lb].values())):.1f} s")
        print(f"probe stores: {len(diffs)} predictors, "
              + (f"same predictions to within {args.atol:g}" if ok else
                 "DIFFERENT (see max |diff| above)")
              + f"; load average now {os.getloadavg()[0]:.2f}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
