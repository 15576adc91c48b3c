"""Benchmark I-AutoRec on a synthetic preset and project an epoch to Netflix scale
(100,480,507 ratings, 17,770 movies, 480,189 users).

    python scripts/bench_autorec.py [--preset medium] [--items 2000] [--device cpu|cuda]
                                    [--threads 2] [--home DIR] [--json]

Generates the preset (``medium``: ~20M ratings) in the Netflix layout and imports it into
a temporary PRIZE_HOME (or reuses ``--home``), then times, on the training ratings of
``--items`` movies drawn at random (the whole epoch with ``--items 0``; on a 2-core
machine a full medium epoch takes minutes):

- ours: the sparse mini-batch epoch of ``prize train autorec`` (default config: 500
  hidden units, 256 movies per Adam step);
- the peer: the textbook dense form on the same movies and steps -- each mini-batch
  densified to a movies × users matrix, ``σ(R V + μ) Wᵀ + b`` by dense products, the
  masked loss and autograd -- the way most AutoRec code is written.

The projection to Netflix times one training step on a Netflix-shaped mini-batch (256
movies with Netflix's mean of 5,654 ratings each, a network with 480,189 user inputs;
``--netflix-net-fraction`` of both, the time scaled up, as every part of a step grows
linearly with them) and multiplies it by the 70 steps of an epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

NETFLIX = {"ratings": 100_480_507, "movies": 17_770, "users": 480_189}


def dataset(args):
    from prize.data import open_dataset

    home = Path(args.home or tempfile.mkdtemp(prefix="bench-autorec-"))
    target = home / "data" / f"bench-{args.preset}"
    if not (target / "meta.json").is_file():
        from prize.data.netflix import import_netflix
        from prize.data.synth import generate

        raw = home / "raw" / args.preset
        t = time.perf_counter()
        generate(raw, preset=args.preset, seed=0, overwrite=True)
        import_netflix(raw, target, name=f"bench-{args.preset}", overwrite=True)
        print(f"[bench] generated and imported {args.preset} in "
              f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    return open_dataset(target)


def subsample(train, n_items: int, seed: int = 0):
    """The training ratings of ``n_items`` random movies (all of them with 0)."""
    import numpy as np

    from prize.data.dataset import Ratings

    if not n_items or n_items >= train.n_items:
        return train
    keep = np.zeros(train.n_items, bool)
    keep[np.random.default_rng(seed).choice(train.n_items, n_items, replace=False)] = True
    rows = keep[train.item]
    return Ratings(train.user[rows], train.item[rows], train.rating[rows], train.day[rows],
                   train.n_users, train.n_items, train.scale)


def time_ours(train, args) -> dict:
    from prize.models import make_predictor

    model, _ = make_predictor("autorec", None, [f"device={args.device!r}".replace("'", '"'),
                                                f"threads={args.threads}"])
    model._setup(train)
    model.start(train, None, None)
    best = math.inf
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        _, n = model.run_epoch(epoch, train)
        if args.device == "cuda":
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    steps = math.ceil(len(model._active) / model.config.batch_size)
    return {"seconds": best, "ratings": n, "steps": steps, "model": model}


def time_peer(model, train, args) -> float:
    """The dense textbook epoch on the same batches (same parameters' shapes)."""
    import numpy as np
    import torch

    cfg = model.config
    net = model.net_
    dev = net.device
    p = {k: v.detach().clone().requires_grad_(True) for k, v in net.params.items()}
    opt = torch.optim.Adam(list(p.values()), lr=cfg.lr)
    lam_n = cfg.lam / len(train)
    perm = np.random.default_rng(0).permutation(model._active)
    best = math.inf
    for _ in range(args.epochs):
        t = time.perf_counter()
        for lo in range(0, len(perm), cfg.batch_size):
            items = perm[lo:lo + cfg.batch_size]
            b = model._batch(items)
            R = torch.zeros(len(items), net.n_inputs, device=dev)
            T = torch.zeros_like(R)
            R[b.seg, b.inp] = b.val
            T[b.seg, b.inp] = b.target
            M = torch.zeros_like(R)
            M[b.seg, b.inp] = 1.0
            out = torch.sigmoid(R @ p["V"] + p["mu"]) @ p["W"].T + p["b"]
            loss = ((M * (out - T)) ** 2).sum() / M.sum() + 0.5 * lam_n * (
                (p["W"] ** 2).sum() + (p["V"] ** 2).sum())
            opt.zero_grad()
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def time_netflix_step(n_hidden: int, batch_size: int, lr: float, device, fraction: float,
                      reps: int = 2) -> float:
    """Seconds of one training step of I-AutoRec on a Netflix-shaped mini-batch, scaled:
    a network with ``fraction`` of Netflix's users as inputs, a batch of ``batch_size``
    movies holding ``fraction`` of their mean number of ratings each; every part of the
    step (the embedding bags, the batch × inputs decoder product, Adam's update of the
    inputs × k weights) grows linearly with that fraction, so the time is divided by it."""
    import numpy as np
    import torch

    from prize.models.autorec.network import AutoRecNet, make_batch

    rng = np.random.default_rng(0)
    n_inputs = int(NETFLIX["users"] * fraction)
    per_movie = int(NETFLIX["ratings"] / NETFLIX["movies"] * fraction)
    net = AutoRecNet(n_inputs, n_hidden, device)
    net.init(rng, np.zeros(n_inputs))
    indptr = np.arange(batch_size + 1, dtype=np.int64) * per_movie
    inp = rng.integers(0, n_inputs, batch_size * per_movie).astype(np.int32)
    val = rng.integers(1, 6, len(inp)).astype(np.float32)
    batch = make_batch(np.arange(batch_size), indptr, inp, val, net.device, val - 3.6)
    best = math.inf
    for _ in range(reps + 1):  # the first one warms up
        t = time.perf_counter()
        net.step(batch, batch.target, 1e-6, lr)
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best / fraction


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="medium")
    p.add_argument("--home", type=Path, help="reuse a PRIZE_HOME holding data/bench-PRESET")
    p.add_argument("--items", type=int, default=2000,
                   help="movies whose ratings are timed (0: all; a medium epoch takes minutes)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1, help="epochs timed (the fastest counts)")
    p.add_argument("--netflix-net-fraction", type=float, default=0.1,
                   help="time a Netflix step on this fraction of its users, scaled up")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    ds = dataset(args)
    from prize.data import Split

    full = ds.ratings(Split.TRAIN)
    train = subsample(full, args.items)
    ours = time_ours(train, args)
    model = ours.pop("model")
    cfg = model.config
    frac = args.netflix_net_fraction
    step_nf = time_netflix_step(model.n_hidden_, cfg.batch_size, cfg.lr, args.device, frac)
    steps_nf = math.ceil(NETFLIX["movies"] / cfg.batch_size)
    out = {
        "preset": args.preset, "device": args.device, "threads": args.threads,
        "train_ratings_in_preset": len(full), "movies_timed": args.items or full.n_items,
        "ratings_timed": ours["ratings"], "users": full.n_users, "hidden": model.n_hidden_,
        "epoch_seconds": round(ours["seconds"], 3), "steps": ours["steps"],
        "ratings_per_second": round(ours["ratings"] / ours["seconds"]),
        "netflix_step_seconds": round(step_nf, 2), "netflix_steps_per_epoch": steps_nf,
        "netflix_epoch_seconds_projected": round(step_nf * steps_nf, 1),
    }
    if not args.no_peer:
        peer = time_peer(model, train, args)
        out["peer_dense_epoch_seconds"] = round(peer, 3)
        out["peer_over_ours"] = round(peer / ours["seconds"], 2)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:34s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
