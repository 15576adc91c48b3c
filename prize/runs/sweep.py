"""Hyperparameter sweeps: a grid or random search over one family's config keys.

Every trial is an ordinary predictor in the probe store, named
``<family>-<sweep>-<hash>`` where the hash (8 hex digits) is taken over the trial's whole
resolved config; so a sweep also feeds the blender, a rerun skips the trials the store
already holds with the same config and data, and two sweeps that reach the same config
share its trial. Trials run through the executor seam of :mod:`prize.runs.executors`
(in-process, ``local:N`` or a Dask scheduler), exactly like a leaderboard set.

The sweep file (``configs/sweeps/<file>.toml``)::

    name = "sweep"          # optional: the middle of the trial names (default: file stem)
    family = "mf"           # optional: must match the FAMILY given on the command line
    config = "default"      # optional base config: a name in configs/<family>/ or a
                            # path relative to this file (default: the family's default);
                            # on a cluster, a path must be one every worker sees
    description = "..."     # optional

    [grid]                  # the keys `prize train FAMILY --set key=value` accepts
    n_factors = [20, 50, 100]                      # a list: every value (grid), or one
                                                   # drawn uniformly (random search)
    reg = {low = 0.01, high = 0.1, log = true, num = 3}
                                                   # a range: ``num`` points, evenly (or
                                                   # log-evenly) spaced, for the grid;
                                                   # uniform (log-uniform) for --random
    threads = [1]                                  # a list of one: a fixed value

A grid is the product of every key's values, in the file's order. ``--random N --seed S``
draws N distinct trials instead (``num`` is then ignored), deterministically for a seed.
A range of integers (``low`` and ``high`` both integers) draws integers, both ends
included. Drawn and spaced floats are rounded to 4 significant digits, so that names and
tables stay readable and the same seed gives the same trials everywhere.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prize.config import CONFIG_ROOT, build, choose, fields_of, load_toml, to_dict
from prize.config import _check as check_type
from prize.errors import ConfigError, DataError
from prize.metrics import fmt
from prize.paths import check_name
from prize.runs.sets import PredictorSet, Spec

SWEEP_ROOT = CONFIG_ROOT / "sweeps"
_TOP_KEYS = ("name", "family", "config", "description", "grid")
_RANGE_KEYS = ("low", "high", "log", "num")


@dataclass(frozen=True)
class Range:
    """A continuous (or integer) interval to space ``num`` grid points over, or to draw
    from."""

    low: float
    high: float
    log: bool = False
    num: int | None = None
    integer: bool = False
    """Integer points and draws (the key's field is an integer), both ends included."""

    def points(self) -> list:
        if self.num == 1:
            return [self._cast(self.low)]
        if self.log:
            xs = np.geomspace(self.low, self.high, self.num)
        else:
            xs = np.linspace(self.low, self.high, self.num)
        return list(dict.fromkeys(self._cast(float(x)) for x in xs))

    def draw(self, rng: np.random.Generator):
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        elif self.integer:
            return int(rng.integers(self.low, self.high + 1))
        else:
            x = rng.uniform(self.low, self.high)
        return self._cast(x)

    def _cast(self, x: float):
        if self.integer:
            return int(min(max(round(x), self.low), self.high))
        return _round(x)


def _round(x: float) -> float:
    return float(f"{x:.4g}")


@dataclass
class Sweep:
    path: Path
    name: str
    family: str
    config: str | None
    """The base config as the specs carry it: a name, or an absolute path."""
    params: dict[str, list | Range]
    description: str = ""
    model: str = ""
    base: dict = field(default_factory=dict)
    """The base config's values (the model's fields only)."""


@dataclass(frozen=True)
class Trial:
    name: str
    values: dict
    """The swept keys' values."""
    spec: Spec
    config: dict
    """The trial's whole resolved config (``model`` and every field)."""


def sweep_path(name: str | os.PathLike) -> Path:
    """A sweep file: a path, or a name in ``configs/sweeps/``."""
    p = Path(name)
    if p.suffix == ".toml" and p.is_file():
        return p
    q = SWEEP_ROOT / f"{p.stem if p.suffix == '.toml' else name}.toml"
    if q.is_file():
        return q
    shipped = sorted(x.stem for x in SWEEP_ROOT.glob("*.toml"))
    raise ConfigError(f"--grid {str(name)!r}: no such sweep file; give a .toml path or one of: "
                      f"{', '.join(shipped) or '(none shipped)'}")


def load_sweep(name: str | os.PathLike, family: str) -> Sweep:
    """Read and check a sweep file for ``family``: every error names the file and the key."""
    from prize.models import family_module

    path = sweep_path(name)
    raw = load_toml(path)
    unknown = [k for k in raw if k not in _TOP_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; allowed keys: "
                          f"{', '.join(_TOP_KEYS)} (the swept keys go in the [grid] table)")
    if raw.get("family", family) != family:
        raise ConfigError(f"{path}: family = {raw['family']!r}, but the command asks for "
                          f"{family!r}; run `prize sweep {raw['family']} ...` or fix the file")
    sweep_name = raw.get("name", path.stem)
    try:
        check_name(sweep_name, "sweep name")
    except DataError as e:
        raise ConfigError(f"{path}: name = {sweep_name!r}: {e} (it becomes part of every "
                          "trial's predictor name)") from None
    mod = family_module(family)
    config = raw.get("config")
    if config is not None:
        if not isinstance(config, str):
            raise ConfigError(f"{path}: config = {config!r}: expected a string")
        if config.endswith(".toml"):  # a path, relative to the sweep file
            p = Path(config)
            config = str((p if p.is_absolute() else path.parent / p).resolve())
    try:
        model, predictor, base, _ = choose(mod.MODELS, family, config=config,
                                           default=mod.DEFAULT_CONFIG)
    except ConfigError as e:
        raise ConfigError(f"{path}: config: {e}") from None
    cls = predictor.Config
    hints = typing.get_type_hints(cls)
    grid = raw.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{path}: needs a [grid] table with at least one key of "
                          f"{cls.__name__} (allowed keys: {', '.join(fields_of(cls))})")
    params: dict[str, list | Range] = {}
    for key, spec in grid.items():
        where = f"{path}: [grid] {key}"
        if key not in fields_of(cls):
            raise ConfigError(f"{where}: not a setting of {family} ({cls.__name__}); allowed "
                              f"keys: {', '.join(fields_of(cls))}")
        p = params[key] = _param(where, spec, hints[key] in (int, int | None))
        for v in (p if isinstance(p, list) else [p.low, p.high]):
            # The type here; whether settings fit together, trial by trial (see _unique).
            try:
                check_type(cls, key, v, hints[key])
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
    return Sweep(path, sweep_name, family, config, params, raw.get("description", ""),
                 model, base)


def _param(where: str, spec, integer: bool) -> list | Range:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where} = []: give at least one value")
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} = {spec!r}: expected a list of values or a range "
                          "{low = ..., high = ..., log = true|false, num = N}")
    bad = [k for k in spec if k not in _RANGE_KEYS]
    if bad:
        raise ConfigError(f"{where}: unknown range key {bad[0]!r}; allowed: "
                          f"{', '.join(_RANGE_KEYS)}")
    for k in ("low", "high"):
        v = spec.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{where}: a range needs numbers low and high (got {k} = {v!r})")
    low, high, log, num = spec["low"], spec["high"], spec.get("log", False), spec.get("num")
    if not low < high:
        raise ConfigError(f"{where}: low = {low!r} must be below high = {high!r}")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log = {log!r}: expected true or false")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0 (got {low!r})")
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
        raise ConfigError(f"{where}: num = {num!r}: expected an integer >= 1")
    return Range(low, high, log, num, integer)


def toml_value(v) -> str:
    """``v`` written as the TOML value that ``--set key=value`` reads back."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot pass {v!r} as a setting")


def trials(sweep: Sweep, *, random: int | None = None, seed: int = 0) -> list[Trial]:
    """The sweep's trials: the grid (file order), or ``random`` distinct draws for ``seed``."""
    if random is None:
        axes = []
        for key, p in sweep.params.items():
            if isinstance(p, Range):
                if p.num is None:
                    raise ConfigError(f"{sweep.path}: [grid] {key}: a range needs num = N "
                                      "points for a grid search, or run a random search "
                                      "(--random N)")
                axes.append(p.points())
            else:
                axes.append(p)
        combos = (dict(zip(sweep.params, c, strict=True)) for c in itertools.product(*axes))
        out = list(_unique(sweep, combos))
    else:
        if random < 1:
            raise ConfigError(f"--random {random}: expected a number of trials >= 1")
        rng = np.random.default_rng(seed)

        def draws():
            # Bounded: a small discrete space may hold fewer than ``random`` configs.
            for _ in range(50 * random):
                yield {k: (p.draw(rng) if isinstance(p, Range)
                           else p[int(rng.integers(len(p)))])
                       for k, p in sweep.params.items()}

        out = list(itertools.islice(_unique(sweep, draws()), random))
    return out


def _unique(sweep: Sweep, combos):
    """Trials of the value combinations, each config once (in the order first met)."""
    from prize.models import family_module, make_predictor

    cls = family_module(sweep.family).MODELS[sweep.model].Config
    seen = set()
    for values in combos:
        spec_set = tuple(f"{k}={toml_value(v)}" for k, v in values.items())
        build(cls, {**sweep.base, **values},
              source=f"{sweep.path}: [grid]: the trial {', '.join(spec_set)}")
        model, _ = make_predictor(sweep.family, sweep.config, spec_set)
        config = {"model": model.name, **to_dict(model.config)}
        digest = hashlib.sha256(json.dumps({"family": sweep.family, **config},
                                           sort_keys=True).encode()).hexdigest()[:8]
        name = f"{sweep.family}-{sweep.name}-{digest}"
        if name in seen:
            continue
        seen.add(name)
        yield Trial(name, values, Spec(name, sweep.family, sweep.config, spec_set), config)


def as_set(sweep: Sweep, ts: list[Trial]) -> PredictorSet:
    return PredictorSet(sweep.name, [t.spec for t in ts], [], sweep.description)


def run_sweep(sweep: Sweep, ts: list[Trial], *, home: Path, data: str, executor=None,
              progress: bool = True, threads: int | None = None, dry_run: bool = False,
              task=None) -> dict:
    """Train the trials the store lacks (through :func:`prize.runs.sets.run_set`) and
    report every trial, best probe RMSE first."""
    from prize.data.dataset import open_dataset
    from prize.probes import ProbeStore
    from prize.runs.sets import run_set, up_to_date

    ds = open_dataset(data, home)
    store = ProbeStore(home / "probes")
    if dry_run:
        results = []
        todo = {t.name for t in ts if not up_to_date(store, ds, t.spec, "probe")}
    else:
        results = run_set(as_set(sweep, ts), home=home, data=ds.name, executor=executor,
                          progress=progress, threads=threads, task=task)
        todo = set()
    by_name = {r["name"]: r for r in results}
    rows = []
    for t in ts:
        r = by_name.get(t.name)
        if t.name in todo:
            status = "todo"
        elif r is None:
            status = "stored"
        else:
            status = "trained" if r["ok"] else "failed"
        m = store.meta(ds.name, t.name) if status in ("stored", "trained") else None
        rows.append({"name": t.name, "status": status, "values": t.values,
                     "probe_rmse": m and m.probe_rmse, "quiz_rmse": m and m.quiz_rmse,
                     "epochs": m and m.epochs, "seconds": m and m.seconds,
                     **({"error": r["error"]} if status == "failed" else {})})
    rows.sort(key=lambda row: (row["probe_rmse"] is None,
                               row["probe_rmse"] if row["probe_rmse"] is not None else 0.0))
    for k, row in enumerate(rows, 1):
        row["rank"] = k if row["probe_rmse"] is not None else None
    return {
        "sweep": sweep.name, "family": sweep.family, "model": sweep.model,
        "file": str(sweep.path), "data": ds.name, "base_config": sweep.config,
        "trials": rows,
        "trained": [r["name"] for r in results if r["ok"]],
        "stored": [row["name"] for row in rows if row["status"] == "stored"],
        "failed": [{k: r.get(k) for k in ("name", "error", "traceback")}
                   for r in results if not r["ok"]],
    }


def render_text(report: dict) -> list[str]:
    """The trials as a table, best probe RMSE first; only the keys that vary are shown."""
    rows = report["trials"]
    keys = [k for k in (rows[0]["values"] if rows else {})
            if len({json.dumps(r["values"][k]) for r in rows}) > 1]

    cols = [("rank", 5), ("trial", max(len("trial"), *(len(r["name"]) for r in rows)) + 2)]
    cols += [(k, max(len(k), *(len(toml_value(r["values"][k])) for r in rows)) + 2)
             for k in keys]
    head = "".join(f"{c:<{w}}" for c, w in cols)
    head += f"{'probe':>8}{'quiz':>8}{'epochs':>8}{'seconds':>9}  status"
    lines = [head]
    for r in rows:
        line = f"{fmt(r['rank'], 'd'):<5}{r['name']:<{cols[1][1]}}"
        line += "".join(f"{toml_value(r['values'][k]):<{w}}" for k, w in cols[2:])
        line += (f"{fmt(r['probe_rmse']):>8}{fmt(r['quiz_rmse']):>8}"
                 f"{fmt(r['epochs'], 'd'):>8}{fmt(r['seconds'], '.1f'):>9}  {r['status']}")
        lines.append(line)
    n = {s: sum(r["status"] == s for r in rows) for s in ("trained", "stored", "failed",
                                                          "todo")}
    summary = (f"{report['family']}-{report['sweep']} on {report['data']}: {len(rows)} trials"
               f", {n['trained']} trained, {n['stored']} already stored, {n['failed']} failed")
    if n["todo"]:
        summary += f", {n['todo']} to train"
    return [summary, *lines]
