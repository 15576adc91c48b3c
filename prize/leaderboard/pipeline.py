"""`prize leaderboard run`: train a predictor set, blend it, pick a blend, write the submission.

The Prize's protocol in one call: each predictor of the set is trained (probe round, and
with ``final`` the refit on TRAIN+PROBE) through the executor seam; every blend the set
names is fitted on probe (cross-validated) and applied to qualifying; the blend with the
best CV RMSE on probe -- probe alone chooses, never quiz or test -- is written as the
submission, provided it beats the best single predictor's probe RMSE (none is written
otherwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from prize.data.dataset import Dataset
from prize.probes import ProbeStore
from prize.runs.sets import PredictorSet, Spec, load_set, run_set


def with_reference(pset: PredictorSet, ds: Dataset) -> PredictorSet:
    """``pset`` with the data set's reference predictor added where the set lacks it (the
    table and the ladder measure every row against it), trained under the name and config
    its meta gives; Cinematch's official figures (real Netflix data) need no training."""
    ref = ds.meta.get("reference") or {}
    if ref.get("kind") != "predictor" or any(s.name == ref["name"] for s in pset.predictors):
        return pset
    from prize.leaderboard.table import reference_config

    spec = Spec(ref["name"], *reference_config(ref))
    return dataclasses.replace(pset, predictors=[*pset.predictors, spec])


def run(ds: Dataset, store: ProbeStore, set_name: str, *, home: Path, final: bool = False,
        executor: Executor | None = None, progress: bool = True, threads: int | None = None,
        blend: bool = True, submissions: Path = Path("submissions"),
        barrier: dict | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run the set ``set_name`` (a name in configs/leaderboard/ or a .toml path) on ``ds``.

    Returns ``{"set", "trained": one result per training task, "blends": [...], "table"}``;
    the best blend by CV probe RMSE carries the path of the submission written for it.
    """
    from prize.leaderboard.table import table

    pset = with_reference(load_set(set_name), ds)
    results = run_set(pset, home=home, data=ds.name, final=final, executor=executor,
                      progress=progress, threads=threads)
    blends = []
    if blend and pset.blends:
        from prize.blend.run import run_blend
        from prize.submission import write_submission

        have = {m.name for m in store.list(ds.name)}
        members = [s.name for s in pset.predictors if s.name in have]
        for entry in pset.blends:  # a method or a config name in configs/blend/
            if log:
                log(f"blending {len(members)} predictors with {entry}")
            m = run_blend(ds, store, None, members, config=entry,
                          name=f"{pset.name}-blend-{entry}")
            blends.append({"name": m["name"], "method": m.get("model"), "config": entry,
                           "probe_rmse": m.get("probe_rmse"), "quiz_rmse": m.get("quiz_rmse"),
                           "gain": m.get("gain")})
        # A blend no better by CV than the best single predictor is never submitted.
        better = [b for b in blends if (b["gain"] or 0.0) > 0.0]
        if better:
            best = min(better, key=lambda b: b["probe_rmse"])
            pred = store.read(ds, best["name"], "qualifying", mmap=False)
            path = submissions / f"{ds.name}-{best['name']}.txt"
            write_submission(ds, pred, path, [best["name"]])
            best["submission"] = str(path)
    return {"set": pset.name, "trained": results, "blends": blends,
            "table": table(ds, store, barrier=barrier)}
