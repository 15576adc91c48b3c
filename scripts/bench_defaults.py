"""Every family's default and every blend method's default on data sets of several kinds.

Prints a matrix: rows are the defaults (what ``prize train FAMILY --data X`` and ``prize
blend --method M`` use with no --config/--set; plus Funk's SVD, configs/mf/funk.toml),
columns the data sets; each cell is the RMSE and, in brackets, the margin over the biases
baseline (``prize train baseline --config biases``) -- for a blend, over the best single
predictor's probe RMSE, both on probe (the blend's by 10-fold CV). A positive margin means
better. The RMSE of a predictor is:

- ``ml100k-u1`` .. ``ml100k-u5``: the test RMSE of the final round (refit on uK.base);
- every other set (Netflix protocol): the quiz RMSE of the probe round;
- a blend: its 10-fold CV RMSE on probe.

Data sets: MovieLens 100K's five folds, MovieLens 100K under the Netflix protocol, random
subsamples of it at 20k and 50k ratings, a half-star version (each rating minus 0.5 on
half the rows, a hash of user and movie), one without dates (imported with a ``_`` time
column), a continuous one (``ml100k-cont``: each rating moved by up to half a star, a hash
of user and movie, on a 0.5..5.5 scale with no step), a sparse one (``ml100k-sparse``:
each movie split into six by a hash of user and movie, so 8,150 movies with 12 ratings
each on average, about as sparse per movie as MovieLens' 100k-rating "latest-small" set), a
skewed one (``ml100k-skew``: each movie split into up to eight pieces of halving sizes by a
hash, half its ratings in the first: 8,048 movies, a few popular and a long tail of rare
ones, as in "latest-small"), ``ml100k-latest`` (the skewed one with a third of the ratings
lowered by half a star: rare movies and half stars together, as in "latest-small"), and
the synthetic tiny, small and medium presets at noise
scales 0.6 and 1.4 (``medium`` under law 2, as the matrix was measured: ``--law 2``).

    python scripts/bench_defaults.py                                  # everything (hours)
    python scripts/bench_defaults.py --datasets ml100k-u1,tiny-0.6 --families mf,rbm,gbdt

MovieLens data: $PRIZE_SHARED_DATA/ml-100k. Work folder: --home (default: a temporary one,
removed afterwards; give one to reuse the imported sets and the predictors stored there:
a row already stored is not trained again unless its default's config has changed since).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Row name -> (family, config or None for the default).
FAMILY_ROWS = {
    "biases": ("baseline", None),
    "global_effects": ("baseline", "global_effects"),
    "mf": ("mf", None),
    "svdpp": ("svdpp", None),
    "timesvdpp": ("timesvdpp", None),
    "nsvd": ("nsvd", None),
    "rbm": ("rbm", None),
    "knn": ("knn", None),
    "knn-item": ("knn", "item"),
    "knn-global": ("knn", "global"),
    "knn-integrated": ("knn", "integrated"),
    "knn-cinematch-proxy": ("knn", "cinematch-proxy"),
    "mf-funk": ("mf", "funk"),
}
BLEND_ROWS = ("linear", "fwls", "gbdt", "nn")
FOLDS = [f"ml100k-u{k}" for k in range(1, 6)]
SYNTH = [f"{p}-{s}" for p in ("tiny", "small", "medium") for s in ("0.6", "1.4")]
DATASETS = FOLDS + ["ml100k", "ml100k-20k", "ml100k-50k", "ml100k-half", "ml100k-nodates",
                    "ml100k-cont", "ml100k-sparse", "ml100k-skew", "ml100k-latest"] + SYNTH


def prize(home: Path, *args: str) -> None:
    env = {**os.environ, "PRIZE_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "prize", "-q", *args], check=True, env=env)


def build(name: str, home: Path, shared: Path | None) -> bool:
    """Import data set ``name`` under ``home`` (once); False when its source is missing."""
    if (home / "data" / name / "meta.json").is_file():
        return True
    if name.startswith("ml100k"):
        if shared is None or not (shared / "ml-100k" / "u.data").is_file():
            return False
        ml = shared / "ml-100k"
        if name in FOLDS:
            prize(home, "data", "import", "movielens", str(ml), "--name", name,
                  "--split", name.rsplit("-", 1)[1])
            return True
        if name == "ml100k":
            prize(home, "data", "import", "movielens", str(ml), "--name", name)
            return True
        data = np.loadtxt(ml / "u.data", dtype=np.int64)
        cols, scale = "user,item,rating,time", "1:5:1"
        rating = data[:, 2].astype(np.float64)
        if name in ("ml100k-20k", "ml100k-50k"):
            keep = np.random.default_rng(0).choice(len(data), int(name[7:9]) * 1000,
                                                   replace=False)
            data, rating = data[np.sort(keep)], rating[np.sort(keep)]
        elif name == "ml100k-half":  # 0.5 .. 5 in half stars
            half = (data[:, 0] * 7919 + data[:, 1] * 104729) % 2 == 1
            rating = np.where(half, rating - 0.5, rating)
            scale = "0.5:5:0.5"
        elif name == "ml100k-nodates":
            cols = "user,item,rating,_"
        elif name == "ml100k-cont":  # a continuous scale: each rating moved by up to half
            jitter = ((data[:, 0] * 7919 + data[:, 1] * 104729) % 1000 + 0.5) / 1000 - 0.5
            rating = rating + jitter  # a star, a hash of user and movie
            scale = "0.5:5.5:0"
        elif name == "ml100k-sparse":  # each movie split in six by a hash of the user
            data = data.copy()
            data[:, 1] = data[:, 1] * 6 + (data[:, 0] * 7919 + data[:, 1] * 104729) % 6
        elif name in ("ml100k-skew", "ml100k-latest"):  # each movie split in pieces of
            data = data.copy()  # halving sizes; -latest: also in half stars, as "latest-small"
            h = ((data[:, 0] * 7919 + data[:, 1] * 104729) % 1_000_003 + 0.5) / 1_000_003
            data[:, 1] = data[:, 1] * 8 + np.minimum(np.floor(-np.log2(h)), 7).astype(np.int64)
            if name == "ml100k-latest":
                half = (data[:, 0] * 104729 + data[:, 1] * 7919) % 3 == 1
                rating = np.where(half, rating - 0.5, rating)
                scale = "0.5:5:0.5"
        path = home / "raw" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for (u, i, _, t), r in zip(data, rating, strict=True):
                f.write(f"{u},{i},{r:g},{t}\n")
        prize(home, "data", "import", "csv", str(path), "--name", name, "--columns", cols,
              "--scale", scale)
        return True
    preset, noise = name.rsplit("-", 1)
    raw = home / "raw" / name
    # medium's columns were measured under law 2 (issue 15), before law 3 became its own
    law = ("--law", "2") if preset == "medium" else ()
    prize(home, "data", "synth", "--preset", preset, "--seed", "0", "--noise-scale", noise,
          *law, "--out", str(raw), "--force")
    prize(home, "data", "import", "netflix", str(raw), "--name", name)
    return True


def run_dataset(name: str, home: Path, rows: list[str]) -> dict[str, tuple[float, float]]:
    """{row: (rmse, margin)} for one data set."""
    from prize.blend.run import run_blend
    from prize.config import to_dict
    from prize.data.dataset import open_dataset
    from prize.models import make_predictor
    from prize.probes import ProbeStore
    from prize.runs.single import train

    ds = open_dataset(name, home)
    store = ProbeStore(home / "probes")
    final = name in FOLDS
    scores: dict[str, float] = {}
    probe: dict[str, float] = {}
    for row in ["biases"] + [r for r in rows if r in FAMILY_ROWS and r != "biases"]:
        family, config = FAMILY_ROWS[row]
        t0 = time.perf_counter()
        try:
            rec = store.meta(ds.name, row)  # kept from an earlier run in the same --home
            # ... unless the default changed since: its stored config is not today's
            stale = rec is not None and rec.config != to_dict(
                make_predictor(family, config)[0].config)
            if rec is None or stale or (final and rec.round != "final"):
                rec = train(ds, store, family, config=config, name=row, allow_worse=True,
                            force=stale)
                if final:
                    rec = train(ds, store, family, name=row, round_="final")
        except Exception as e:  # noqa: BLE001 - one failing model must not stop the matrix
            print(f"  {name} {row}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            continue
        probe[row] = store.meta(ds.name, row).probe_rmse
        scores[row] = rec.test_rmse if final else rec.quiz_rmse
        print(f"  {name} {row}: {scores[row]:.4f} (probe {probe[row]:.4f}, "
              f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    out = {r: (s, scores["biases"] - s) for r, s in scores.items() if "biases" in scores}
    singles = [r for r in probe if r in FAMILY_ROWS and r not in ("biases", "mf-funk")]
    for method in [r for r in rows if r in BLEND_ROWS]:
        if len(singles) < 2:
            break
        try:
            b = run_blend(ds, store, method, singles, name=f"blend-{method}")
        except Exception as e:  # noqa: BLE001
            print(f"  {name} blend {method}: {type(e).__name__}: {e}", file=sys.stderr,
                  flush=True)
            continue
        cv, best = b["cv_rmse"], b["best_single"]["probe_rmse"]
        out[method] = (cv, best - cv)
        print(f"  {name} blend {method}: CV {cv:.4f}, best single {best:.4f}",
              file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS),
                    help=f"comma-separated, from: {', '.join(DATASETS)}")
    ap.add_argument("--families", default=",".join([*FAMILY_ROWS, *BLEND_ROWS]),
                    help=f"rows, comma-separated, from: {', '.join([*FAMILY_ROWS, *BLEND_ROWS])}")
    ap.add_argument("--home", default=None, help="work folder (kept); default: a temporary one")
    ap.add_argument("--markdown", action="store_true", help="print the matrix as Markdown")
    ap.add_argument("--json", action="store_true",
                    help="print the matrix as JSON: {data set: {row: [rmse, margin]}}")
    a = ap.parse_args(argv)
    datasets = [d for d in a.datasets.split(",") if d]
    rows = [r for r in a.families.split(",") if r]
    bad = [x for x in datasets if x not in DATASETS] + [
        r for r in rows if r not in FAMILY_ROWS and r not in BLEND_ROWS]
    if bad:
        ap.error(f"unknown data set or row {bad[0]!r}")
    shared = Path(os.environ["PRIZE_SHARED_DATA"]) if os.environ.get("PRIZE_SHARED_DATA") else None
    home = Path(a.home) if a.home else Path(tempfile.mkdtemp(prefix="bench-defaults-"))
    os.environ["PRIZE_MAX_THREADS"] = os.environ.get("PRIZE_MAX_THREADS", "2")
    results: dict[str, dict] = {}
    try:
        for name in datasets:
            if not build(name, home, shared):
                print(f"  {name}: skipped (set PRIZE_SHARED_DATA to the folder holding ml-100k)",
                      file=sys.stderr)
                continue
            results[name] = run_dataset(name, home, rows)
    finally:
        if not a.home:
            shutil.rmtree(home, ignore_errors=True)
    if a.json:
        print(json.dumps(results, indent=2))
        return 0
    cols = list(results)
    shown = ["biases", *[r for r in rows if r != "biases"]]
    print(f"\nDefaults on {dt.date.today().isoformat()}: RMSE (margin over the biases; for a "
          "blend, CV RMSE (margin over the best single))")
    if a.markdown:
        print("| default | " + " | ".join(cols) + " |")
        print("|---|" + "---|" * len(cols))
    else:
        print(f"{'default':<20}" + "".join(f"{c:>18}" for c in cols))
    for r in shown:
        cells = []
        for c in cols:
            v = results[c].get(r)
            cells.append("—" if v is None else f"{v[0]:.4f} ({v[1]:+.4f})")
        if a.markdown:
            print(f"| {r} | " + " | ".join(cells) + " |")
        else:
            print(f"{r:<20}" + "".join(f"{x:>18}" for x in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
