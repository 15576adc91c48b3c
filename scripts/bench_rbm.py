"""Benchmark the RBM family on the synthetic ``medium`` preset (~20M ratings) and project
to Netflix scale (100,480,507 ratings, 17,770 movies, 480,189 users).

    python scripts/bench_rbm.py [--raw DIR] [--home DIR] [--threads 2] [--json]

Generates ``medium`` in the Netflix layout (or reuses ``--raw DIR``), imports it into a
temporary PRIZE_HOME (or reuses ``--home``), then, each in a fresh child process so that
``ru_maxrss`` is the peak of that run alone:

- one CD-1 epoch and one CD-9 epoch of the conditional RBM, F = 100, 1,000 users per
  mini-batch (the paper's settings): seconds per epoch, ratings per second, peak memory;
- the peer: a naive dense-batch torch RBM (each mini-batch as a dense users × movies × K
  tensor, the textbook formulas as matrix products) against ours on the same users.

The projection to Netflix splits an epoch into the part that grows with the ratings (the
sparse work) and the dense per-batch parameter update, which grows with movies × K × F
and the number of batches, timed on a Netflix-sized network; memory likewise splits into
what grows with ratings (the rating arrays, the per-user CSR arrays), with movies (the
parameters, velocities, gradients) and the fixed rest. Goals: ≤ 5 minutes per CD-1 epoch,
≤ 6 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETFLIX = {"ratings": 100_480_507, "movies": 17_770, "users": 480_189}
GOAL_SECONDS, GOAL_GIB = 300.0, 6.0
GIB = 1024**3


def rss() -> int:
    """Resident set size now, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- child: one run ---------------------------------------------------------------------------
def child_epoch(args) -> dict:
    import numpy as np

    from prize.data import Split, open_dataset
    from prize.models import make_predictor

    base = rss()
    ds = open_dataset(args.data)
    train = ds.ratings(Split.TRAIN)
    implicit = ds.all_pairs()
    sets = [f"n_hidden={args.n_hidden}", f"batch_size={args.batch_size}",
            f"threads={args.threads}", f"cd_steps=[{args.T}]", "cd_epochs=[1]",
            f"device={args.device}"]
    model, _ = make_predictor("rbm", None, sets)
    loaded = rss()
    t0 = time.perf_counter()
    model._setup(train)
    model._build_data(train, implicit)  # what start() builds before the weights
    prepare_s = time.perf_counter() - t0
    prepared = rss()
    model.start(train, None, implicit)
    started = rss()
    seconds, cpu, ratings = [], [], 0
    for epoch in range(1, args.epochs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        _, n = model.run_epoch(epoch, train)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        ratings = n
    probe = ds.ratings(Split.PROBE)
    t0 = time.perf_counter()
    model.predict(probe.user, probe.item, probe.day)
    predict_s = time.perf_counter() - t0
    # The dense per-batch update, timed here and on a Netflix-sized network.
    net = model.net_
    n_batches = -(-len(model._active) // args.batch_size)
    update_here = time_update(net, args.threads)
    from prize.models.rbm.network import RBMNet

    big = RBMNet(NETFLIX["movies"], net.K, net.F, conditional=net.conditional)
    big.init(np.random.default_rng(0), 0.01, np.zeros((NETFLIX["movies"], net.K)))
    update_netflix = time_update(big, args.threads)
    param_bytes = sum(t.numel() * 4 for t in net.params.values()) * 3  # θ, Δθ, ∇θ
    big_param_bytes = sum(t.numel() * 4 for t in big.params.values()) * 3
    del big
    return {
        "T": args.T, "ratings": int(ratings), "users": int(len(model._active)),
        "movies": int(ds.n_items), "n_batches": int(n_batches),
        "epoch_seconds": seconds, "epoch_cpu_seconds": cpu, "load_average": os.getloadavg(),
        "prepare_seconds": prepare_s,
        "predicted": int(len(probe)), "predict_seconds": predict_s,
        "update_seconds_per_batch": update_here,
        "update_seconds_per_batch_netflix": update_netflix,
        "rss_base": base, "rss_loaded": loaded, "rss_prepared": prepared,
        "rss_started": started, "peak_rss": peak_rss(),
        "param_bytes": param_bytes, "param_bytes_netflix": big_param_bytes,
    }


def time_update(net, threads: int, reps: int = 5) -> float:
    import torch

    torch.set_num_threads(threads)
    with torch.inference_mode():
        net._grad = {k: torch.zeros_like(p) for k, p in net.params.items()}
        lr = {k: 0.01 for k in net.params}
        net.update(1000, 200_000, lr, 0.9, 0.001)
        t0 = time.perf_counter()
        for _ in range(reps):
            net.update(1000, 200_000, lr, 0.9, 0.001)
        return (time.perf_counter() - t0) / reps


def child_peer(args) -> dict:
    """Ours against the naive dense-batch RBM on the same mini-batches of users."""
    import numpy as np
    import torch

    from prize.data import Split, open_dataset
    from prize.models import make_predictor
    from prize.models.rbm.network import TorchDraw

    torch.set_num_threads(args.threads)
    ds = open_dataset(args.data)
    train = ds.ratings(Split.TRAIN)
    sets = [f"n_hidden={args.n_hidden}", f"batch_size={args.batch_size}",
            f"threads={args.threads}", "conditional=false"]
    model, _ = make_predictor("rbm", None, sets)
    model._setup(train)
    model.start(train, None, None)
    net = model.net_
    users = np.random.default_rng(0).permutation(model._active)[:args.peer_users]
    batches = [model._batch(users[lo:lo + args.batch_size])
               for lo in range(0, len(users), args.batch_size)]
    n_ratings = sum(len(b) for b in batches)
    values = torch.arange(1.0, net.K + 1)
    lr = {k: 0.01 for k in net.params}

    def ours():
        draw = TorchDraw(0, "cpu")
        with torch.inference_mode():
            for b in batches:
                net.contrastive_divergence(b, 1, draw, values)
                net.update(b.n_users, len(b), lr, 0.9, 0.001)

    M, K, F = net.M, net.K, net.F
    W = torch.randn(M * K, F) * 0.01
    bv = torch.zeros(M * K)
    bh = torch.zeros(F)
    vel = torch.zeros_like(W)
    gen = torch.Generator().manual_seed(0)

    def peer():
        """CD-1 with dense users × (movies·K) matrices, the rated movies as a mask."""
        nonlocal W
        with torch.inference_mode():
            for b in batches:
                B = b.n_users
                V = torch.zeros(B, M * K)
                V[b.seg, b.vis] = 1.0
                rated = V.view(B, M, K).sum(2)
                ph0 = torch.sigmoid(V @ W + bh)
                h = (torch.rand(B, F, generator=gen) < ph0).float()
                logits = (h @ W.T + bv).view(B, M, K)
                pv = torch.softmax(logits, 2)
                u = torch.rand(B, M, 1, generator=gen)
                k = (pv.cumsum(2) < u).sum(2).clamp_(max=K - 1)
                VT = torch.nn.functional.one_hot(k, K).float() * rated[..., None]
                VT = VT.view(B, M * K)
                phT = torch.sigmoid(VT @ W + bh)
                grad = V.T @ ph0 - VT.T @ phT
                vel.mul_(0.9).add_(grad, alpha=0.01 / B).add_(W, alpha=-1e-5)
                W = W + vel

    ours()  # warm up (numba, allocator)
    t0 = time.perf_counter()
    ours()
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer()
    peer_s = time.perf_counter() - t0
    return {"users": int(len(users)), "ratings": int(n_ratings), "ours_seconds": ours_s,
            "peer_seconds": peer_s, "peak_rss": peak_rss()}


# -- parent ----------------------------------------------------------------------------------
def run_child(kind: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(args.data),
           "--threads", str(args.threads), "--n-hidden", str(args.n_hidden),
           "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
           "--peer-users", str(args.peer_users), "--device", args.device]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def project(r: dict, key: str = "epoch_seconds") -> dict:
    """Seconds per epoch and peak memory at Netflix scale, from one medium run."""
    epoch = min(r[key])
    sparse = epoch - r["n_batches"] * r["update_seconds_per_batch"]
    scale = NETFLIX["ratings"] / r["ratings"]
    batches = -(-NETFLIX["users"] // r["batch_size"])
    seconds = sparse * scale + batches * r["update_seconds_per_batch_netflix"]
    per_rating = (r["rss_prepared"] - r["rss_base"]) / r["ratings"]  # arrays and CSR
    batch_temp = max(0, r["peak_rss"] - r["rss_started"])
    fixed = r["rss_base"]
    memory = (fixed + per_rating * NETFLIX["ratings"] + r["param_bytes_netflix"]
              + batch_temp)
    return {"seconds": seconds, "bytes": memory}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", type=Path, help="reuse a generated medium preset (Netflix layout)")
    p.add_argument("--home", type=Path, help="reuse a PRIZE_HOME holding data/bench-medium")
    p.add_argument("--preset", default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the RBM's epochs run (cuda: a GPU and a CUDA build of torch)")
    p.add_argument("--n-hidden", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1, help="epochs per T (the fastest counts)")
    p.add_argument("--peer-users", type=int, default=3000,
                   help="users on which ours and the dense peer are compared")
    p.add_argument("--skip-t9", action="store_true", help="time CD-1 only")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", choices=["epoch", "peer"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--T", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child == "epoch":
        print(json.dumps(child_epoch(args)))
        return 0
    if args.child == "peer":
        print(json.dumps(child_peer(args)))
        return 0

    tmp = tempfile.TemporaryDirectory(prefix="bench-rbm-")
    home = args.home or Path(tmp.name) / "home"
    name = f"bench-{args.preset}"
    args.data = home / "data" / name
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    if not (args.data / "meta.json").is_file():
        from prize.data.netflix import import_netflix
        from prize.data.synth import generate

        raw = args.raw or Path(tmp.name) / "raw"
        if not (raw / "synth.json").is_file():
            say(f"generating the {args.preset} preset into {raw} ...")
            t0 = time.perf_counter()
            generate(raw, preset=args.preset, seed=args.seed)
            say(f"  {time.perf_counter() - t0:.0f} s")
        say(f"importing into {args.data} ...")
        import_netflix(raw, args.data, name=name)

    results = {"threads": args.threads, "n_hidden": args.n_hidden,
               "batch_size": args.batch_size, "runs": [], "netflix": NETFLIX,
               "goals": {"seconds_per_cd1_epoch": GOAL_SECONDS, "gib": GOAL_GIB}}
    for T in (1,) if args.skip_t9 else (1, 9):
        say(f"CD-{T}: {args.epochs} epoch(s), F = {args.n_hidden}, {args.batch_size} users "
            f"per batch, {args.threads} thread(s) ...")
        r = run_child("epoch", args, T=T)
        r["batch_size"] = args.batch_size
        r["projection"] = project(r)
        r["projection_cpu"] = project(r, "epoch_cpu_seconds")
        results["runs"].append(r)
        epoch = min(r["epoch_seconds"])
        say(f"  medium: {r['ratings']:,} ratings, {r['users']:,} users, {r['movies']:,} "
            f"movies: {epoch:.1f} s/epoch, {r['ratings'] / epoch / 1e6:.2f} M ratings/s, "
            f"peak {r['peak_rss'] / GIB:.2f} GiB (data prepared in "
            f"{r['prepare_seconds']:.1f} s; {r['predicted']:,} probe predictions in "
            f"{r['predict_seconds']:.1f} s)")
        pr = r["projection"]
        goal = f" (goal ≤ {GOAL_SECONDS / 60:.0f} min)" if T == 1 else ""
        say(f"  Netflix projection: {pr['seconds']:.0f} s = {pr['seconds'] / 60:.1f} min per "
            f"epoch{goal}, {pr['bytes'] / GIB:.2f} GiB (goal ≤ {GOAL_GIB:g} GiB)")
        cpu = min(r["epoch_cpu_seconds"])
        say(f"  (load average {r['load_average'][0]:.1f} on {os.cpu_count()} cores; the epoch "
            f"used {cpu:.1f} CPU-seconds, i.e. "
            f"{r['projection_cpu']['seconds'] / 60:.1f} min per Netflix epoch on a machine "
            "to itself" + (" at one thread)" if args.threads == 1 else ")"))
    say(f"peer (naive dense-batch torch RBM, CD-1) on {args.peer_users:,} users ...")
    peer = run_child("peer", args)
    results["peer"] = peer
    ours_rate = peer["ratings"] / peer["ours_seconds"]
    peer_rate = peer["ratings"] / peer["peer_seconds"]
    say(f"  {peer['ratings']:,} ratings: ours {ours_rate / 1e6:.2f} M ratings/s, dense peer "
        f"{peer_rate / 1e6:.3f} M ratings/s: ours is {ours_rate / peer_rate:.1f}x faster")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
