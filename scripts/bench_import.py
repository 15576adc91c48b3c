"""Benchmark of `prize data import netflix` at Netflix scale.

Generates the synthetic ``netflix`` preset (480,189 users, 17,770 movies, 100,480,507
ratings in the original file layout; or reuses ``--raw DIR``), imports it in a child
process and prints wall time, lines/s and peak memory against the goals (at most 4 minutes
and 6 GiB on a 2-core machine). Side by side, on the first ``--peer-files`` movie files,
it times the usual pandas recipe (one ``read_csv`` per movie file, then ``concat``) and our
importer on the same files, and prints the ratio.

Usage: python scripts/bench_import.py [--raw DIR] [--keep] [--preset netflix]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS, GOAL_GIB = 240.0, 6.0


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _import_child(raw, target, queue):
    from prize.data.netflix import import_netflix

    t0 = time.perf_counter()
    report = import_netflix(raw, target, name="bench", overwrite=True)
    queue.put({"seconds": time.perf_counter() - t0, "peak_gib": _peak_gib(),
               "ratings": report["ratings"], "probe": report["probe"],
               "qualifying": report["qualifying"]})


def _pandas_child(files, queue):
    import pandas as pd

    t0 = time.perf_counter()
    frames = []
    for f in files:
        df = pd.read_csv(f, skiprows=1, header=None, names=["customer", "rating", "date"])
        df["movie"] = int(Path(f).stem.split("_")[1])
        df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
        frames.append(df)
    pd.concat(frames, ignore_index=True)
    queue.put({"seconds": time.perf_counter() - t0, "peak_gib": _peak_gib()})


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", help="an existing Netflix-layout folder (default: generate)")
    ap.add_argument("--preset", default="netflix")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--peer-files", type=int, default=1000)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_import."))
    raw = Path(args.raw) if args.raw else work / "raw"
    try:
        if not args.raw:
            from prize.data.synth import generate

            t0 = time.perf_counter()
            generate(raw, preset=args.preset, seed=0, progress=True)
            print(f"# generated the {args.preset} preset in {time.perf_counter() - t0:.0f} s")
        files = sorted((raw / "training_set").glob("mv_*.txt"))[: args.peer_files]
        subset = work / "subset"
        (subset / "training_set").mkdir(parents=True)
        for f in files:
            (subset / "training_set" / f.name).symlink_to(f.resolve())
        peer = _run(_pandas_child, [str(f) for f in files])
        mine = _run(_import_child, str(subset), str(work / "subset_ds"))
        print(f"side by side on {len(files)} movie files ({mine['ratings']:,} ratings): "
              f"pandas per-file recipe {peer['seconds']:.1f} s, prize {mine['seconds']:.1f} s "
              f"(a complete import: validated, resolved, sorted, written) -> "
              f"{peer['seconds'] / mine['seconds']:.1f}x")
        full = _run(_import_child, str(raw), str(work / "ds"))
        full["lines_per_s"] = full["ratings"] / full["seconds"]
        print(json.dumps(full))
        print(f"import of {full['ratings']:,} ratings (+{full['qualifying']:,} qualifying): "
              f"{full['seconds']:.0f} s ({full['seconds'] / GOAL_SECONDS:.2f} of the "
              f"{GOAL_SECONDS:.0f} s goal), {full['lines_per_s'] / 1e6:.2f}M lines/s, peak "
              f"{full['peak_gib']:.2f} GiB ({full['peak_gib'] / GOAL_GIB:.2f} of the "
              f"{GOAL_GIB:.0f} GiB goal)")
    finally:
        if args.keep and not args.raw:
            print(f"# kept {raw}")
            shutil.rmtree(work / "ds", ignore_errors=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
