#!/usr/bin/env python
"""Benchmark ``prize.data.synth.generate``: wall time, ratings/s, peak memory, disk size.

The generation runs in a fresh child process (multiprocessing, spawn), so its peak
resident set size (``ru_maxrss``) is the generator's own and not this script's. The
kernels are compiled (or loaded from numba's cache) first, on a tiny data set in the
same child, and that time is reported apart.

    python scripts/bench_synth.py                       # the netflix preset, in a temp dir
    python scripts/bench_synth.py --preset small --keep --out /tmp/synth-small
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

GOAL_SECONDS = 600.0
GOAL_BYTES = 8 * 2 ** 30


def _child(preset: str, seed: int, noise_scale: float, out: str, queue) -> None:
    from prize.data import synth

    t0 = time.perf_counter()
    synth.simulate("tiny", seed=0)  # compile or load the kernels
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = synth.generate(out, preset=preset, seed=seed, noise_scale=noise_scale,
                          progress=True)
    seconds = time.perf_counter() - t0
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    queue.put({"seconds": seconds, "warmup_seconds": warmup, "peak_rss_bytes": peak,
               "info": info})


def _disk_usage(folder: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes)."""
    files = size = blocks = 0
    for root, _, names in os.walk(folder):
        for name in names:
            st = os.stat(os.path.join(root, name))
            files += 1
            size += st.st_size
            blocks += st.st_blocks * 512
    return files, size, blocks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="netflix",
                    choices=["tiny", "small", "medium", "netflix"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default: a temporary one, deleted afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the output folder")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args(argv)

    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        out = tmp / args.preset
    else:
        out = args.out
    if out.exists():
        ap.error(f"{out} exists already; remove it or choose another --out")
    try:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child,
                           args=(args.preset, args.seed, args.noise_scale, str(out), queue))
        proc.start()
        result = None
        while result is None:
            try:
                result = queue.get(timeout=1.0)
            except Empty:
                if not proc.is_alive():
                    break
        proc.join()
        if result is None or proc.exitcode != 0:
            print(f"the generator failed (exit code {proc.exitcode})", file=sys.stderr)
            return 1
        files, size, allocated = _disk_usage(out)
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    info = result["info"]
    n = info["counts"]["ratings"] + info["counts"]["qualifying"]
    report = {
        "preset": args.preset,
        "seed": args.seed,
        "seconds": round(result["seconds"], 2),
        "warmup_seconds": round(result["warmup_seconds"], 2),
        "ratings_per_second": round(n / result["seconds"]),
        "peak_rss_bytes": result["peak_rss_bytes"],
        "files": files,
        "disk_bytes": size,
        "disk_allocated_bytes": allocated,
        "time_vs_goal": round(result["seconds"] / GOAL_SECONDS, 3),
        "memory_vs_goal": round(result["peak_rss_bytes"] / GOAL_BYTES, 3),
        "counts": info["counts"],
        "oracle_rmse": info["oracle_rmse"],
        "expected_oracle_rmse": info["expected_oracle_rmse"],
        "out": str(out) if (args.keep or tmp is None) else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    gib = 2 ** 30
    print(f"preset {args.preset} (seed {args.seed}): {n:,} ratings incl. qualifying")
    print(f"  wall            {report['seconds']:10.1f} s   "
          f"({report['time_vs_goal']:.0%} of the {GOAL_SECONDS:.0f} s goal; "
          f"kernel warm-up {report['warmup_seconds']:.1f} s apart)")
    print(f"  throughput      {report['ratings_per_second']:10,} ratings/s")
    print(f"  peak RSS        {report['peak_rss_bytes'] / gib:10.2f} GiB "
          f"({report['memory_vs_goal']:.0%} of the 8 GiB goal)")
    print(f"  on disk         {size / gib:10.2f} GiB in {files:,} files "
          f"({allocated / gib:.2f} GiB allocated)")
    print("  oracle RMSE     " + ", ".join(f"{k} {v:.4f}"
                                          for k, v in info["oracle_rmse"].items()))
    if report["out"]:
        print(f"  kept in         {report['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
