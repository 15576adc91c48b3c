"""Training a set of predictors (a leaderboard set, a sweep's trials) through the executor
seam of :mod:`prize.runs.executors`.

Tasks receive paths and plain dicts, never arrays: each worker opens the dataset by memory
map and runs :func:`prize.runs.single.train` for one predictor, which writes its own
probe-store folder.

A predictor set (``configs/leaderboard/<set>.toml``) lists predictors as
``[[predictor]]`` tables: ``name``, ``family``, optional ``config`` (a name under
``configs/<family>/`` or a path), ``set`` (a list of ``key=value`` overrides),
``keep_train`` (store training-set predictions), ``train_folds`` (store them out of
fold, K folds: :func:`prize.runs.single.out_of_fold`) and ``residuals_of`` (train on the
residuals of another predictor of the set, which then runs first).
"""

from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from prize.config import CONFIG_ROOT, load_toml
from prize.errors import ConfigError, DataError
from prize.paths import check_name
from prize.runs.executors import InProcessExecutor, limit_threads


@dataclass(frozen=True)
class Spec:
    name: str
    family: str
    config: str | None = None
    set: tuple[str, ...] = ()
    keep_train: bool = False
    residuals_of: str | None = None
    train_folds: int = 0

    def as_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "config": self.config,
                "set": list(self.set), "keep_train": self.keep_train,
                "residuals_of": self.residuals_of, "train_folds": self.train_folds}


@dataclass
class PredictorSet:
    name: str
    predictors: list[Spec]
    blends: list[str] = field(default_factory=list)
    description: str = ""


def set_path(name: str | os.PathLike) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    q = CONFIG_ROOT / "leaderboard" / f"{name}.toml"
    if q.is_file():
        return q
    shipped = sorted(x.stem for x in (CONFIG_ROOT / "leaderboard").glob("*.toml"))
    raise ConfigError(f"no predictor set {str(name)!r}; give a .toml path or one of: "
                      f"{', '.join(shipped)}")


def load_set(name: str | os.PathLike) -> PredictorSet:
    path = set_path(name)
    raw = load_toml(path)
    allowed = {"name", "family", "config", "set", "keep_train", "residuals_of", "train_folds"}
    specs = []
    for k, p in enumerate(raw.get("predictor", []), 1):
        unknown = set(p) - allowed
        if unknown:
            raise ConfigError(f"{path}: predictor {k}: unknown key {sorted(unknown)[0]!r}; "
                              f"allowed keys: {', '.join(sorted(allowed))}")
        if "name" not in p or "family" not in p:
            raise ConfigError(f"{path}: predictor {k} needs a name and a family")
        try:
            check_name(p["name"], "predictor name")
        except DataError as e:
            raise ConfigError(f"{path}: predictor {k}: {e}") from None
        specs.append(Spec(p["name"], p["family"], p.get("config"), tuple(p.get("set", ())),
                          bool(p.get("keep_train", False)), p.get("residuals_of"),
                          int(p.get("train_folds", 0))))
    names = [s.name for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{path}: predictor names must be unique: {sorted(dup)}")
    for s in specs:
        if s.residuals_of is not None and s.residuals_of not in names:
            raise ConfigError(f"{path}: {s.name}: residuals_of {s.residuals_of!r} is not in "
                              "the set")
    return PredictorSet(raw.get("name", path.stem), specs, list(raw.get("blends", [])),
                        raw.get("description", ""))


def waves(specs: list[Spec]) -> list[list[Spec]]:
    """Specs in dependency order: each wave only needs predictors of earlier waves."""
    done: set[str] = set()
    left = list(specs)
    out = []
    while left:
        ready = [s for s in left if s.residuals_of is None or s.residuals_of in done]
        if not ready:
            raise ConfigError("residuals_of forms a cycle: "
                              + ", ".join(s.name for s in left))
        out.append(ready)
        done |= {s.name for s in ready}
        left = [s for s in left if s not in ready]
    return out


# ---------------------------------------------------------------------------- the task


def up_to_date(store, ds, spec: Spec, round_: str) -> bool:
    """True when the store holds ``spec`` trained with the same config on this data."""
    from prize.config import to_dict
    from prize.models import make_predictor

    m = store.meta(ds.name, spec.name)
    if m is None or m.dataset_fingerprint != ds.fingerprint:
        return False
    model, _ = make_predictor(spec.family, spec.config, spec.set)
    same = (m.family == spec.family and m.model == model.name
            and m.config == to_dict(model.config) and m.residuals_of == spec.residuals_of
            and (not (spec.keep_train or spec.train_folds) or "train" in m.files)
            and m.extra.get("train_folds", 0) == spec.train_folds)
    return (same and (round_ == "probe" or m.round == "final")
            and _same_base(store, ds, m, round_))


def _same_base(store, ds, m, round_: str) -> bool:
    """False when the predictor was fitted on the residuals of a base the store has since
    retrained (its files differ from those recorded; the qualifying ones count in the final
    round only, which reads the base's final predictions). Records from before the files
    were recorded pass."""
    used = m.extra.get("base_files")
    if not m.residuals_of or used is None:
        return True
    base = store.meta(ds.name, m.residuals_of)
    kinds = ("train", "probe", "qualifying") if round_ == "final" else ("train", "probe")
    return base is not None and all(base.files.get(k) == used.get(k) for k in kinds)


def train_task(home: str, data: str, spec: dict, round_: str = "probe",
               progress: bool = False, threads: int | None = None) -> dict:
    """Train one predictor (one round) and commit it to the store; runs in any worker.

    Receives paths and a plain dict only; returns a plain dict (never raises: a failure
    comes back as ``{"error": ..., "traceback": ...}`` so one bad predictor does not stop
    the others).
    """
    t0 = time.perf_counter()
    s = Spec(**{**spec, "set": tuple(spec.get("set", ()))})
    try:
        if threads is not None:
            limit_threads(threads)
        from prize.data.dataset import open_dataset
        from prize.probes import ProbeStore
        from prize.runs.single import train

        root = Path(home)
        ds = open_dataset(data, root)
        r = train(ds, ProbeStore(root / "probes"), s.family, config=s.config, overrides=s.set,
                  name=s.name, round_=round_, keep_train=s.keep_train,
                  train_folds=s.train_folds,
                  residuals_of=s.residuals_of, checkpoint_dir=root / "checkpoints" / ds.name,
                  progress=progress, force=True,  # the set says what the name holds
                  allow_worse=True)  # weak members still help a blend
        return {"name": s.name, "round": round_, "ok": True, "probe_rmse": r.probe_rmse,
                "quiz_rmse": r.quiz_rmse, "seconds": time.perf_counter() - t0}
    except BaseException as e:  # noqa: BLE001 - reported by name, the others go on
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"name": s.name, "round": round_, "ok": False,
                "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - t0}


def run_set(pset: PredictorSet, *, home: Path, data: str, final: bool = False,
            executor: Executor | None = None, progress: bool = True, threads: int | None = None,
            only_missing: bool = True, on_result=None, task=None) -> list[dict]:
    """Train every predictor of the set the store does not already hold (probe round, then
    the final round with ``final``), wave by wave; returns one result per task. ``task``
    replaces :func:`train_task` (same signature), for tests."""
    from prize.data.dataset import open_dataset
    from prize.probes import ProbeStore

    ds = open_dataset(data, home)
    store = ProbeStore(home / "probes")
    executor = executor or InProcessExecutor()
    task = task or train_task
    in_process = isinstance(executor, InProcessExecutor)
    rounds = ["probe", "final"] if final else ["probe"]
    todo = []
    redo: set[str] = set()  # retrained in an earlier round or wave: so are its dependents
    for round_ in rounds:
        for wave in waves(pset.predictors):
            now = [s for s in wave if not (only_missing and s.name not in redo
                                           and s.residuals_of not in redo
                                           and up_to_date(store, ds, s, round_))]
            redo |= {s.name for s in now}
            todo.append((round_, now))
    total = sum(len(w) for _, w in todo)
    results: list[dict] = []
    bar = _Bar(total, f"{pset.name} on {ds.name}", progress)
    failed: set[str] = set()
    try:
        for round_, wave in todo:
            pending: list[tuple[int, Spec, Future]] = []
            settled: list[tuple[int, dict]] = []
            for i, s in enumerate(wave):
                if s.residuals_of in failed or (s.name in failed and round_ == "final"):
                    r = {"name": s.name, "round": round_, "ok": False,
                         "error": f"skipped: {s.residuals_of or s.name} failed"}
                    settled.append((i, r))
                    failed.add(s.name)
                    bar.tick(r, len(pending))
                    continue
                if in_process:  # the task runs inside submit: show it as running meanwhile
                    bar.show(1, f"training {s.name}")
                pending.append((i, s, executor.submit(task, str(home), ds.name, s.as_dict(),
                                                      round_, progress and in_process,
                                                      threads)))
                pending = _collect(pending, round_, settled, failed, on_result, bar)
            bar.show(len(pending))
            while pending:
                wait([f for _, _, f in pending], return_when=FIRST_COMPLETED)
                pending = _collect(pending, round_, settled, failed, on_result, bar)
            results.extend(r for _, r in sorted(settled, key=lambda x: x[0]))
    finally:
        bar.close()
    return results


def _settle(s: Spec, round_: str, fut: Future) -> dict:
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - e.g. a worker died on every retry
        return {"name": s.name, "round": round_, "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": "".join(traceback.format_exception(e))}


def _collect(pending, round_, settled, failed, on_result, bar) -> list:
    """Settle the finished tasks of ``pending`` (in submission order); return the rest."""
    finished = [p[2].done() for p in pending]  # once: a task may finish meanwhile
    left = [p for p, f in zip(pending, finished, strict=True) if not f]
    for i, s, fut in (p for p, f in zip(pending, finished, strict=True) if f):
        r = _settle(s, round_, fut)
        settled.append((i, r))
        if not r["ok"]:
            failed.add(r["name"])
        if on_result is not None:
            on_result(r)
        bar.tick(r, len(left))
    return left


class _Bar:
    """One overall bar: tasks done (failed ones included), running, failed, the last one.

    "running" counts tasks handed to the executor and not finished (a cluster may still
    queue some of them)."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.failed = 0
        self.last = ""
        self.bar = None
        if enabled:
            from prize.progress import bar

            self.bar = bar(total, desc, "predictors", leave=True)

    def show(self, running: int, last: str | None = None) -> None:
        if last is not None:
            self.last = last
        if self.bar is not None:
            self.bar.set_postfix_str(f"{running} running, {self.failed} failed"
                                     + (f" | {self.last}" if self.last else ""))

    def tick(self, r: dict, running: int) -> None:
        self.failed += not r.get("ok")
        if r.get("ok") and r.get("probe_rmse") is not None:
            last = f"{r['name']}: probe {r['probe_rmse']:.4f}"
        else:
            last = f"{r['name']}: " + ("done" if r.get("ok") else "FAILED")
        self.show(running, last)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
