"""Benchmark of the MF family against Surprise, side by side, on the same data.

1. Fit time and probe RMSE of ``mf`` (f=100) and ``svdpp`` against Surprise's SVD and SVD++
   with the same factors, epochs, learning rates, regularisation and initialisation, on the
   TRAIN rows of a dataset (default: the synthetic ``small`` preset), scored on its probe
   rows. Both run in this process, in alternating rounds; each side keeps its fastest fit.
   ``mf`` runs with its default ``threads = 0`` (DSGD, one block per core) and, beside
   it, with ``threads = 1`` (the plain sequential order).
2. Throughput of one SGD sweep (rating updates per second, one core) of ``mf`` (f=100),
   ``svdpp`` (f=100) and ``timesvdpp`` (f=100) on a 10M-rating Netflix-shaped sample, and the
   projection to Netflix's 100M ratings.
3. Accuracy on MovieLens 100K's official folds u1..u5 beside Surprise, with the same
   settings, and of our shipped ``ml100k`` configs against Surprise's published figures
   (needs ``--shared`` or ``$PRIZE_SHARED_DATA``; ``--skip-folds`` leaves it out).
4. Optional (``--memory``): peak memory of ``svdpp`` at f=200 on a Netflix-sized dataset
   (``--memory-data NAME``; e.g. the imported ``netflix`` synthetic preset), one epoch,
   measured in a child process.

Usage: python scripts/bench_mf.py [--data NAME] [--models mf,svdpp] [--repeats 5] [--skip-surprise]
       [--skip-throughput] [--skip-folds] [--shared DIR] [--memory --memory-data NAME]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from prize.data import Split, open_dataset
from prize.data.dataset import Ratings
from prize.metrics import rmse
from prize.models import make_predictor

GOALS = {"mf": 15e6, "svdpp": 6e6, "timesvdpp": 3e6}
NETFLIX = 100_480_507
# Surprise's defaults: SVD f=100, SVD++ f=20; 20 epochs; lr 0.005 / 0.007; reg 0.02 on
# everything, per rating (so none of our per-user and per-item priors).
PLAIN = ["reg_bias=0.02", "reg_prior=0", "reg_bias_prior=0", "early_stopping=false"]
CASES = [
    ("mf", ["n_factors=100", "n_epochs=20", "lr=0.005", "reg=0.02", "init_std=0.1", *PLAIN],
     "svd", dict(n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02, init_std_dev=0.1,
                 random_state=0), 10.0),
    ("svdpp", ["n_factors=20", "n_epochs=20", "lr=0.007", "reg=0.02", "init_std=0.1",
               "implicit=train", *PLAIN],
     "svdpp", dict(n_factors=20, n_epochs=20, lr_all=0.007, reg_all=0.02, init_std_dev=0.1,
                   random_state=0), 20.0),
]


def small_dataset(home: Path):
    """The synthetic small preset, generated and imported once into ``home``."""
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate

    target = home / "data" / "synth-small"
    if not (target / "meta.json").is_file():
        raw = home / "raw" / "synth-small"
        if not (raw / "synth.json").is_file():
            generate(raw, preset="small", seed=0, overwrite=True)
        import_netflix(raw, target, name="synth-small", overwrite=True)
    return open_dataset(target)


def ours(family, settings, train, probe, implicit):
    # Load the cached kernels first (a once-per-process cost, about a second in all), so
    # that the timed fit is the steady-state cost of a fit, as Surprise's is.
    warm, _ = make_predictor(family, None, settings + ["n_epochs=1"])
    few = Ratings(train.user[:5000], train.item[:5000], train.rating[:5000], train.day[:5000],
                  train.n_users, train.n_items)
    warm.fit(few, implicit=few)
    model, _ = make_predictor(family, None, settings)
    t0 = time.perf_counter()
    model.fit(train, implicit=implicit)
    seconds = time.perf_counter() - t0
    return seconds, rmse(model.predict(probe.user, probe.item, probe.day), probe.rating)


def surprise(algo_name, kw, train, probe):
    import pandas as pd
    from surprise import SVD, Dataset, Reader, SVDpp

    algo = {"svd": SVD, "svdpp": SVDpp}[algo_name](**kw)
    df = pd.DataFrame({"u": train.user, "i": train.item, "r": train.rating})
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    t0 = time.perf_counter()
    trainset = data.build_full_trainset()
    algo.fit(trainset)
    seconds = time.perf_counter() - t0
    pred = np.array([algo.predict(u, i).est for u, i in zip(probe.user.tolist(),
                                                            probe.item.tolist(), strict=True)])
    return seconds, rmse(pred, probe.rating)


def side_by_side(ds, skip_surprise: bool, models=("mf", "svdpp"), repeats=5) -> list[dict]:
    train, probe = ds.ratings(Split.TRAIN), ds.ratings(Split.PROBE)
    rows = []
    for family, settings, peer, kw, goal in CASES:
        if family not in models:
            continue
        # Surprise's SVD++ fit takes over 10 minutes on the small preset: it runs once.
        peer_repeats = repeats if family == "mf" else 1
        # mf runs with its default `threads = 0` (DSGD, one block per core: two here) and,
        # beside it, in the plain sequential order on one thread: same data, same epochs.
        variants = [("", settings)]
        if family == "mf":
            t = make_predictor(family, None, settings)[0].config.threads
            variants = [(f" ({t} thread{'s' if t > 1 else ''}, default)", settings),
                        (" (1 thread)", settings + ["threads=1"])]
        # Rounds: each variant of ours, then Surprise, then again, so that a slow spell of
        # this shared VM (single timings of one fit vary by ±20%) falls on both sides; each
        # side keeps its fastest fit, as timeit does.
        times = {label: [] for label, _ in variants}
        rmses, peer_times, peer_rmse = {}, [], None
        for r in range(max(repeats, peer_repeats)):
            for label, config in variants:
                if r < repeats:
                    seconds, rmses[label] = ours(family, config, train, probe, train)
                    times[label].append(seconds)
            if not skip_surprise and r < peer_repeats:
                seconds, peer_rmse = surprise(peer, kw, train, probe)
                peer_times.append(seconds)
        for label, _ in variants:
            s_ours = min(times[label])
            row = {"model": family + label, "ratings": len(train), "ours_s": s_ours,
                   "ours_rmse": rmses[label], "repeats": repeats,
                   "surprise_repeats": peer_repeats}
            if peer_times:
                s_peer = min(peer_times)
                row.update(surprise_s=s_peer, surprise_rmse=peer_rmse, speedup=s_peer / s_ours,
                           goal_speedup=goal)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def folds(ml100k: Path, home: Path, models=("mf", "svdpp")) -> list[dict]:
    """Accuracy beside Surprise on MovieLens 100K's official folds u1..u5 (fit on uK.base,
    score uK.test, N(u) = the training pairs): ours and Surprise's SVD / SVD++ with the
    same settings (Surprise's defaults), and our shipped ``ml100k`` configs against
    Surprise's published figures (SVD 0.934, SVD++ 0.920)."""
    from prize.data.movielens import import_movielens

    published = {"mf": 0.934, "svdpp": 0.920}
    sets = {c[0]: c for c in CASES}
    data = []
    for k in range(1, 6):
        target = home / "data" / f"ml100k-u{k}"
        if not (target / "meta.json").is_file():
            import_movielens(ml100k, target, name=f"ml100k-u{k}", split=f"u{k}")
        ds = open_dataset(target)
        data.append((ds.ratings(Split.TRAIN | Split.PROBE), ds.ratings(Split.TEST)))
    rows = []
    for family in models:
        _, settings, peer, kw, _ = sets[family]
        same, theirs, tuned = [], [], []
        for train, test in data:
            same.append(ours(family, settings, train, test, train)[1])
            theirs.append(surprise(peer, kw, train, test)[1])
            model, _ = make_predictor(family, "ml100k")
            model.fit(train, implicit=train)
            tuned.append(rmse(model.predict(test.user, test.item, test.day), test.rating))
        row = {"model": family, "folds": "u1..u5", "ours_same_settings": float(np.mean(same)),
               "surprise": float(np.mean(theirs)), "ours_ml100k_config": float(np.mean(tuned)),
               "published": published[family], "per_fold": {"ours": same, "surprise": theirs,
                                                             "ml100k": tuned}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def netflix_shaped(n_ratings=10_000_000, n_users=48_000, n_items=17_770, seed=0) -> Ratings:
    """A Netflix-shaped sample in user order: log-normal activity, Zipf-like popularity."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0, 1.2, n_users)
    counts = np.maximum(1, np.round(activity / activity.sum() * n_ratings)).astype(np.int64)
    counts = np.minimum(counts, n_items)
    user = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item = rng.choice(n_items, len(user), p=pop / pop.sum()).astype(np.int32)
    rating = rng.integers(1, 6, len(user)).astype(np.float32)
    day = rng.integers(10_957, 13_149, len(user)).astype(np.int32)
    order = np.lexsort((day, user))
    return Ratings(user[order], item[order], rating[order], day[order], n_users, n_items)


def throughput() -> list[dict]:
    data = netflix_shaped()
    rows = []
    # The goals are for one core; mf on two threads (DSGD blocks) is shown beside them.
    for family, extra in (("mf", ["threads=1"]), ("mf", ["threads=2"]), ("svdpp", []),
                          ("timesvdpp", [])):
        model, _ = make_predictor(family, None,
                                  ["n_factors=100", "n_epochs=3", "lr=0.001", *extra])
        model.fit(data)  # epoch 1 includes JIT compilation (cached after the first run)
        best = min(h["seconds"] for h in model.history_[1:])
        rate = len(data) / best
        row = {"model": family + (" (2 threads)" if extra == ["threads=2"] else ""), "f": 100,
               "ratings": len(data), "epoch_s": best, "updates_per_s": rate,
               "goal_per_s": GOALS[family], "netflix_epoch_s": NETFLIX / rate}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _memory_child(home, name, queue):
    os.environ["PRIZE_HOME"] = home
    ds = open_dataset(name)
    model, _ = make_predictor("svdpp", None, ["n_factors=200", "n_epochs=1"])
    t0 = time.perf_counter()
    model.fit(ds.ratings(Split.TRAIN), implicit=ds.all_pairs())
    queue.put({"model": "svdpp", "f": 200, "ratings": int(ds.meta["counts"]["train"]),
               "seconds": time.perf_counter() - t0,
               "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               "goal_gib": 4.0})


def memory(name: str) -> dict:
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_memory_child,
                                        args=(os.environ.get("PRIZE_HOME", "prize_home"), name,
                                              q))
    p.start()
    p.join()
    row = q.get() if p.exitcode == 0 else {"error": f"child exited {p.exitcode}"}
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset name (default: the small synthetic preset)")
    ap.add_argument("--home", default=None, help="PRIZE_HOME for generated data")
    ap.add_argument("--skip-surprise", action="store_true")
    ap.add_argument("--skip-side-by-side", action="store_true")
    ap.add_argument("--models", default="mf,svdpp", help="side-by-side models (mf,svdpp)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="fits per timing, the fastest kept (Surprise's SVD++: one)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-folds", action="store_true",
                    help="skip the accuracy comparison on MovieLens 100K's u1..u5")
    ap.add_argument("--shared", default=os.environ.get("PRIZE_SHARED_DATA"),
                    help="folder holding ml-100k/ (default $PRIZE_SHARED_DATA)")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--memory-data", default="netflix")
    args = ap.parse_args(argv)
    home = Path(args.home or os.environ.get("PRIZE_HOME") or tempfile.mkdtemp())
    os.environ["PRIZE_HOME"] = str(home)
    rows = []
    if not args.skip_side_by_side:
        ds = open_dataset(args.data) if args.data else small_dataset(home)
        print(f"# side by side with Surprise on {ds.name} ({ds.meta['counts']['train']:,} "
              "train)")
        rows = side_by_side(ds, args.skip_surprise, tuple(args.models.split(",")),
                            args.repeats)
    for r in rows:
        if "speedup" in r:
            print(f"{r['model']:<24} ours {r['ours_s']:7.2f} s  RMSE {r['ours_rmse']:.4f} | "
                  f"Surprise {r['surprise_s']:7.1f} s  RMSE {r['surprise_rmse']:.4f} | "
                  f"{r['speedup']:5.1f}x faster (goal {r['goal_speedup']:.0f}x), RMSE "
                  f"{r['ours_rmse'] - r['surprise_rmse']:+.4f}")
    if not args.skip_folds:
        ml100k = Path(args.shared) / "ml-100k" if args.shared else None
        if ml100k is None or not ml100k.is_dir():
            print("# MovieLens 100K folds skipped: no --shared / $PRIZE_SHARED_DATA")
        else:
            print("# accuracy beside Surprise on MovieLens 100K u1..u5 (mean test RMSE)")
            for r in folds(ml100k, home, tuple(args.models.split(","))):
                gap = r["ours_same_settings"] - r["surprise"]
                print(f"{r['model']:<8} same settings: ours {r['ours_same_settings']:.4f}, "
                      f"Surprise {r['surprise']:.4f} (ours - Surprise {gap:+.4f}; at most "
                      f"+0.003) | ml100k config {r['ours_ml100k_config']:.4f} "
                      f"(published {r['published']:.3f})")
    if not args.skip_throughput:
        print("# one-core throughput on a 10M-rating Netflix-shaped sample, f=100")
        for r in throughput():
            print(f"{r['model']:<16} {r['updates_per_s'] / 1e6:6.1f}M updates/s (goal "
                  f"{r['goal_per_s'] / 1e6:.0f}M: {r['updates_per_s'] / r['goal_per_s']:.2f}x)"
                  f"  -> {r['netflix_epoch_s']:6.1f} s per epoch at Netflix scale")
    if args.memory:
        r = memory(args.memory_data)
        if "peak_gib" in r:
            print(f"svdpp f=200 on {args.memory_data}: peak {r['peak_gib']:.2f} GiB "
                  f"(goal {r['goal_gib']:.0f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
