"""Benchmark of the kNN family: Surprise's KNNBaseline side by side with our ``item`` model,
and the similarity computation at 20M ratings projected to Netflix's size.

1. Surprise's ``KNNBaseline(k=40, sim_options={"name": "pearson_baseline", "user_based":
   False})`` and ``prize train knn`` (the ``item`` model, same baseline, similarity,
   shrinkage and k) on the same ratings: MovieLens 100K's folds u1..u5 (fit on uK.base,
   predict uK.test; ``--shared`` or $PRIZE_SHARED_DATA) and a synthetic set of 10,000 items
   and about 100,000 ratings (fit on TRAIN, predict PROBE). Each side runs in its own
   fresh child process (started by exec, so nothing of this script's memory is in it),
   which reports the wall time of fit+predict, the RMSE, and two memory figures, both from
   VmHWM (the peak resident memory of the child's own address space; see peak_bytes):

   - growth: the peak minus the child's resident memory after its imports (Surprise,
     pandas, numpy; for us numba and the kernels, loaded from numba's cache by a tiny
     warm-up fit), where the peak is reset. It covers loading the ratings, building the
     side's own structures (Surprise's trainset), fit and predict: the memory the
     algorithm needs. The memory goal is judged on it, the same way for both sides.
   - peak: the whole process's peak, libraries included (Python, numpy and numba/llvmlite
     or pandas take 100-200 MiB on each side before any rating is read).

   Goals: >= 10x faster, growth <= 1/5 of Surprise's.
2. The ``medium`` synthetic preset (20M ratings, generated once): the similarity table
   (goal <= 3 min), the whole ``item`` fit, and ``interp`` predictions at k = 50; then a
   projection to Netflix's size (goals: <= 15 min, <= 8 GiB). Time scales with the pair
   updates sum_u |R(u)|^2 / 2 (computed for the ``netflix`` preset's activity law) at the
   slower of the medium rate and the rate at Netflix's 17,770 items (a 4M-rating set),
   memory with the ratings and the items^2 matrix.

Usage: python scripts/bench_knn.py [--shared DIR] [--work DIR] [--skip-medium | --medium]
       [--folds 1,2,3,4,5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NETFLIX_RATINGS = 100_480_507  # training lines, probe included
NETFLIX_ITEMS = 17_770
NETFLIX_QUERIES = 1_408_395 + 2_817_131  # probe + qualifying
GIB = 1024 ** 3


def rss_bytes() -> int:
    """Resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_kib(field: str) -> int | None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def peak_bytes() -> int:
    """The process's peak resident memory: VmHWM, the high-water mark of this process's
    own address space. Not ru_maxrss: Linux carries the maxrss of the address space a
    process replaced at exec into the new program's ru_maxrss, and a child started by
    vfork+exec replaced its parent's, so its ru_maxrss is at least the parent's size."""
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return kib * 1024


def start_measuring() -> int:
    """Reset the peak to the memory in use now (``echo 5 > /proc/self/clear_refs``, Linux
    4.0+) and return that memory: the baseline after the imports, which the peak minus
    baseline leaves out on both sides."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # then the peak may be that of the imports, which the baseline still bounds
    return rss_bytes()


# -- children -----------------------------------------------------------------------------------
def child_surprise(path: str, fit_flags: int, pred_flags: int) -> dict:
    import pandas as pd
    from surprise import Dataset, KNNBaseline, Reader

    from prize.data import open_dataset

    before = start_measuring()
    ds = open_dataset(path)
    train, test = ds.ratings(fit_flags), ds.ratings(pred_flags)
    df = pd.DataFrame({"u": train.user, "i": train.item, "r": train.rating})
    trainset = Dataset.load_from_df(df, Reader(rating_scale=ds.scale)).build_full_trainset()
    testset = list(zip(test.user.tolist(), test.item.tolist(), test.rating.tolist(),
                       strict=True))
    del df
    t0 = time.perf_counter()
    algo = KNNBaseline(k=40, sim_options={"name": "pearson_baseline", "user_based": False},
                       verbose=False)
    algo.fit(trainset)
    pred = np.array([p.est for p in algo.test(testset)])
    seconds = time.perf_counter() - t0
    err = float(np.sqrt(np.mean((pred - test.rating) ** 2)))
    return {"seconds": seconds, "rmse": err, "peak": peak_bytes(), "before": before}


def _warm_up():
    """A tiny fit, so that the kernels come out of numba's cache before the clock starts."""
    from prize.data.dataset import Ratings
    from prize.models import make_predictor

    rng = np.random.default_rng(0)
    r = Ratings(rng.integers(0, 50, 500).astype(np.int32),
                rng.integers(0, 20, 500).astype(np.int32),
                rng.integers(1, 6, 500).astype(np.float32), np.zeros(500, np.int32), 50, 20)
    for model in ("item", "interp"):
        make_predictor("knn", model)[0].fit(r).predict(r.user, r.item)


def child_prize(path: str, fit_flags: int, pred_flags: int) -> dict:
    from prize.data import open_dataset
    from prize.models import make_predictor

    t0 = time.perf_counter()
    _warm_up()
    warm = time.perf_counter() - t0
    before = start_measuring()
    ds = open_dataset(path)
    train, test = ds.ratings(fit_flags), ds.ratings(pred_flags)
    t0 = time.perf_counter()
    model, _ = make_predictor("knn", "item")
    model.fit(train)
    pred = model.predict(test.user, test.item, test.day)
    seconds = time.perf_counter() - t0
    err = float(np.sqrt(np.mean((pred.astype(np.float64) - test.rating) ** 2)))
    return {"seconds": seconds, "rmse": err, "peak": peak_bytes(), "before": before,
            "kernel_load_seconds": warm}


def child_medium(path: str) -> dict:
    """Similarity table, whole item fit and interp predictions on a large dataset."""
    from prize.data import Split, open_dataset
    from prize.models import make_predictor
    from prize.models.knn._neighbours import compute_neighbours, fit_baseline, user_major

    _warm_up()
    ds = open_dataset(path)
    out = {"base_rss": rss_bytes()}
    train = ds.ratings(Split.TRAIN)
    model, _ = make_predictor("knn", "item")
    cfg = model.config
    t0 = time.perf_counter()
    base = fit_baseline(train, cfg)
    out["baseline_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    um = user_major(train, base.mu_, base.bu_, base.bi_)
    out["csr_seconds"] = time.perf_counter() - t0
    n_u = np.diff(um.ptr).astype(np.float64)
    out["pair_updates"] = float((n_u * n_u).sum() / 2)
    t0 = time.perf_counter()
    nb = compute_neighbours(um, train.n_items, similarity="pearson_baseline", shrinkage=100.0,
                            dense=True)
    out["similarity_seconds"] = time.perf_counter() - t0
    del nb, um, base
    queries = ds.ratings(Split.PROBE | Split.QUALIFYING)
    out["queries"] = len(queries)
    out["ratings"] = len(train)
    out["items"] = train.n_items
    # The whole item model (baseline, CSR, similarities, predictions), as `prize train` runs it.
    t0 = time.perf_counter()
    model.fit(train)
    out["item_fit_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(queries.user, queries.item, queries.day)
    out["item_predict_seconds"] = time.perf_counter() - t0
    out["item_peak"] = peak_bytes()
    del model
    interp, _ = make_predictor("knn", "interp", ["k=50"])
    interp.fit(train)
    t0 = time.perf_counter()
    interp.predict(queries.user, queries.item, queries.day)
    out["interp_predict_seconds"] = time.perf_counter() - t0
    out["peak"] = peak_bytes()
    return out


def child_similarity(path: str) -> dict:
    """Only the similarity table (dense, pearson_baseline), for its rate at another width."""
    from prize.data import Split, open_dataset
    from prize.models import make_predictor
    from prize.models.knn._neighbours import compute_neighbours, fit_baseline, user_major

    _warm_up()
    train = open_dataset(path).ratings(Split.TRAIN)
    base = fit_baseline(train, make_predictor("knn", "item")[0].config)
    um = user_major(train, base.mu_, base.bu_, base.bi_)
    n_u = np.diff(um.ptr).astype(np.float64)
    t0 = time.perf_counter()
    compute_neighbours(um, train.n_items, similarity="pearson_baseline", shrinkage=100.0,
                       dense=True)
    return {"similarity_seconds": time.perf_counter() - t0, "items": train.n_items,
            "ratings": len(train), "pair_updates": float((n_u * n_u).sum() / 2)}


def run_child(kind: str, *args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- datasets -----------------------------------------------------------------------------------
def ml100k_fold(shared: Path, work: Path, k: int) -> Path:
    from prize.data.movielens import import_movielens

    target = work / "data" / f"ml100k-u{k}"
    if not (target / "meta.json").is_file():
        import_movielens(shared / "ml-100k", target, name=f"ml100k-u{k}", split=f"u{k}",
                         overwrite=True)
    return target


def synthetic(work: Path, name: str, preset) -> Path:
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate

    target = work / "data" / name
    if not (target / "meta.json").is_file():
        raw = work / "raw" / name
        if not (raw / "synth.json").is_file():
            generate(raw, preset=preset, seed=0, overwrite=True)
        import_netflix(raw, target, name=name, overwrite=True)
    return target


def wide_preset():
    """Netflix's 17,770 items (a 569 KB row of sums per thread, past a 512 KB L2 cache) with
    4M ratings: the similarity kernel's rate at Netflix's width."""
    from prize.data.synth import Preset

    return Preset("wide", n_users=20_000, n_movies=17_770, n_ratings=4_000_000,
                  activity_sigma=1.3, activity_min=10)


def bench10k_preset():
    from prize.data.synth import Preset

    # 10,000 items, 100,000 ratings by 5,000 users: sparse, about 10 ratings per item.
    return Preset("bench10k", n_users=5_000, n_movies=10_000, n_ratings=100_000,
                  activity_sigma=1.0, activity_min=5)


def activity(preset: str) -> np.ndarray:
    """Ratings per user of a synthetic preset (its activity law, without simulating it)."""
    from prize.data import synth

    return synth.law._activity(np.random.default_rng(0), synth.PRESETS[preset]).astype(np.float64)


def pair_updates(n: np.ndarray) -> float:
    """sum_u |R(u)|^2 / 2: the similarity kernel's work."""
    return float((n * n).sum() / 2)


def query_profile(n: np.ndarray) -> float:
    """Mean |R(u)| over the hold-out queries (min(9, n_u // 2) per user, as in Netflix):
    a prediction scans the user's ratings."""
    q = np.minimum(9, n // 2)
    return float((q * n).sum() / q.sum())


# -- reporting ----------------------------------------------------------------------------------
def mib(b: float) -> str:
    return f"{b / 2 ** 20:,.0f} MiB"


def compare(label: str, path: Path, fit_flags: int, pred_flags: int) -> dict:
    s = run_child("surprise", path, fit_flags, pred_flags)
    p = run_child("prize", path, fit_flags, pred_flags)
    row = {
        "set": label,
        "surprise_s": s["seconds"], "prize_s": p["seconds"],
        "speedup": s["seconds"] / p["seconds"],
        "surprise_rmse": s["rmse"], "prize_rmse": p["rmse"],
        "surprise_peak": s["peak"], "prize_peak": p["peak"],
        "peak_ratio": p["peak"] / s["peak"],
        "surprise_growth": s["peak"] - s["before"], "prize_growth": p["peak"] - p["before"],
        "kernel_load_s": p["kernel_load_seconds"],
    }
    row["growth_ratio"] = row["prize_growth"] / max(row["surprise_growth"], 1)
    print(f"{label:12s} time {row['surprise_s']:7.2f} s vs {row['prize_s']:6.2f} s "
          f"({row['speedup']:5.1f}x)  RMSE {row['surprise_rmse']:.4f} vs "
          f"{row['prize_rmse']:.4f}  peak {mib(row['surprise_peak'])} vs "
          f"{mib(row['prize_peak'])} ({row['peak_ratio']:.2f})  growth "
          f"{mib(row['surprise_growth'])} vs {mib(row['prize_growth'])} "
          f"({row['growth_ratio']:.2f})", flush=True)
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("PRIZE_SHARED_DATA"),
                    help="folder holding ml-100k/ (default $PRIZE_SHARED_DATA)")
    ap.add_argument("--work", default=None, help="where datasets are built (default: a "
                    "folder under $PRIZE_HOME or /tmp)")
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--skip-medium", action="store_true")
    ap.add_argument("--medium", "--skip-compare", dest="skip_compare", action="store_true",
                    help="only part 2: the medium preset and the projection to Netflix")
    ap.add_argument("--threads", type=int, default=None, help="NUMBA_NUM_THREADS of children")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind in ("medium", "similarity"):
            result = (child_medium if kind == "medium" else child_similarity)(rest[0])
        else:
            fn = {"surprise": child_surprise, "prize": child_prize}[kind]
            result = fn(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return
    if args.threads:
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    from prize.data import Split

    work = Path(args.work or Path(os.environ.get("PRIZE_HOME", "/tmp")) / "bench-knn")
    rows = []
    if args.skip_compare:
        return medium(work)
    print(f"1. Surprise KNNBaseline vs knn item (k=40, pearson_baseline, shrinkage 100); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    if args.shared:
        for k in map(int, args.folds.split(",")):
            path = ml100k_fold(Path(args.shared), work, k)
            rows.append(compare(f"ml-100k u{k}", path, int(Split.TRAIN | Split.PROBE),
                                int(Split.TEST)))
    else:
        print("   (no --shared / $PRIZE_SHARED_DATA: MovieLens 100K skipped)")
    path = synthetic(work, "bench10k", bench10k_preset())
    rows.append(compare("10k items", path, int(Split.TRAIN), int(Split.PROBE)))
    ml = [r for r in rows if r["set"].startswith("ml-100k")]
    if ml:
        s = sum(r["surprise_s"] for r in ml)
        p = sum(r["prize_s"] for r in ml)
        print(f"ml-100k total: {s:.2f} s vs {p:.2f} s ({s / p:.1f}x); mean RMSE "
              f"{np.mean([r['surprise_rmse'] for r in ml]):.4f} vs "
              f"{np.mean([r['prize_rmse'] for r in ml]):.4f}; peak ratio "
              f"{np.mean([r['peak_ratio'] for r in ml]):.2f}, growth ratio "
              f"{np.mean([r['growth_ratio'] for r in ml]):.2f}")
    print("   goals: >= 10x faster, growth (peak above the imports) <= 0.20 of Surprise's")
    if not args.skip_medium:
        medium(work)


def medium(work: Path) -> None:
    print("\n2. medium preset (20M ratings): similarities and a projection to Netflix",
          flush=True)
    path = synthetic(work, "medium", "medium")
    m = run_child("medium", path)
    w = run_child("similarity", synthetic(work, "wide", wide_preset()))
    rate_medium = m["pair_updates"] / m["similarity_seconds"]
    rate_wide = w["pair_updates"] / w["similarity_seconds"]
    rate = min(rate_medium, rate_wide)
    print(f"   {m['ratings']:,} training ratings, {m['items']:,} items, "
          f"{m['pair_updates']:.3g} pair updates")
    print(f"   baseline {m['baseline_seconds']:.1f} s, CSR {m['csr_seconds']:.1f} s, "
          f"similarities {m['similarity_seconds']:.1f} s ({rate_medium:.3g} pair updates/s; "
          f"goal <= 180 s)")
    print(f"   at Netflix's width ({w['items']:,} items, {w['ratings']:,} ratings): "
          f"{w['similarity_seconds']:.1f} s, {rate_wide:.3g} pair updates/s")
    print(f"   item fit {m['item_fit_seconds']:.1f} s, {m['queries']:,} predictions "
          f"{m['item_predict_seconds']:.1f} s, interp (k=50) predictions "
          f"{m['interp_predict_seconds']:.1f} s; peak {mib(m['item_peak'])} (item), "
          f"{mib(m['peak'])} (interp)")
    # Projection: similarity time by pair updates at the slower of the two rates; the
    # baseline and CSR by ratings; memory: the ratings' share of the item fit's peak,
    # scaled, plus the dense matrix.
    n_nf, n_md = activity("netflix"), activity("medium")
    work_nf = pair_updates(n_nf * NETFLIX_RATINGS / n_nf.sum())  # training lines only
    scale = NETFLIX_RATINGS / m["ratings"]
    sim_nf = work_nf / rate
    linear_nf = (m["baseline_seconds"] + m["csr_seconds"]) * scale
    per_query = NETFLIX_QUERIES / m["queries"]
    pred_nf = m["item_predict_seconds"] * per_query * query_profile(n_nf) / query_profile(n_md)
    interp_nf = m["interp_predict_seconds"] * per_query
    matrix = 4 * m["items"] ** 2
    per_rating = (m["item_peak"] - m["base_rss"] - matrix) / m["ratings"]
    mem_nf = m["base_rss"] + per_rating * NETFLIX_RATINGS + 4 * NETFLIX_ITEMS ** 2
    print(f"   Netflix ({NETFLIX_RATINGS:,} ratings, {NETFLIX_ITEMS:,} items, "
          f"{work_nf:.3g} pair updates): similarities {sim_nf / 60:.1f} min, whole item fit "
          f"{(sim_nf + linear_nf) / 60:.1f} min (goal <= 15), predictions {pred_nf / 60:.1f} "
          f"min, peak {mem_nf / GIB:.1f} GiB (goal <= 8; {per_rating:.0f} B per rating + "
          f"the {4 * NETFLIX_ITEMS ** 2 / GIB:.2f} GiB matrix)")
    print(f"   interp k=50 on Netflix's {NETFLIX_QUERIES:,} probe+qualifying pairs: about "
          f"{interp_nf / 60:.1f} min at this set's profile-length mix (the 2 cores shared)")


if __name__ == "__main__":
    main()
