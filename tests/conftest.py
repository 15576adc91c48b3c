"""Shared fixtures: an isolated PRIZE_HOME, the real data folder, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = os.environ.get("PRIZE_SHARED_DATA")


def shared_path(*parts: str) -> Path:
    """A path under $PRIZE_SHARED_DATA; skips the test, saying why, when that is unset."""
    if not SHARED:
        pytest.skip("PRIZE_SHARED_DATA is not set: real-data tests need the shared data folder "
                    "(.ci/run sets it to ../shared/data)")
    # Absolute, so that a relative setting (../shared/data) holds for subprocesses run
    # from another working directory.
    p = Path(SHARED, *parts).resolve()
    if not p.exists():
        pytest.fail(f"PRIZE_SHARED_DATA is set but {p} does not exist")
    return p


def ml100k_fold(root: Path, k: int):
    """The official MovieLens 100K fold uK (uK.base / uK.test, ``--protocol given``),
    imported under ``root`` once and opened; skips when the shared data is not set."""
    from prize.data import open_dataset
    from prize.data.movielens import import_movielens

    target = Path(root) / f"u{k}"
    if not (target / "meta.json").is_file():
        import_movielens(shared_path("ml-100k"), target, name=f"u{k}", split=f"u{k}")
    return open_dataset(target)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PRIZE_HOME", str(h))
    return h


def run_prize(*args: str, home: Path, check: bool = True, json_out: bool = False):
    """Run the real `prize` CLI in a subprocess."""
    env = dict(os.environ, PRIZE_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "prize", *args], capture_output=True,
                          text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"prize {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    if json_out:
        return json.loads(proc.stdout)
    return proc


def dataset_pairs(ds) -> dict:
    """{(user id, item id): rating} of a dataset."""
    users, items = ds.ids("user"), ds.ids("item")
    return {(users[u], items[i]): float(r)
            for u, i, r in zip(ds.user, ds.item, ds.rating, strict=True)}


def leftovers(root: Path) -> list[str]:
    """Everything under root (hidden temporary folders included)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def make_toy_dataset(home: Path, name: str = "toy", n_users: int = 300, n_items: int = 80,
                     seed: int = 0) -> Path:
    """A small dataset through the real CSV importer (no shared data needed)."""
    import numpy as np

    from prize.data.csv import import_csv

    rng = np.random.default_rng(seed)
    bu = rng.normal(0, 0.5, n_users)
    bi = rng.normal(0, 0.5, n_items)
    lines = []
    for u in range(n_users):
        items = rng.choice(n_items, int(rng.integers(5, 40)), replace=False)
        for i in items:
            r = int(np.clip(np.rint(3.6 + bu[u] + bi[i] + rng.normal(0, 0.8)), 1, 5))
            lines.append(f"{u},{i},{r},{86400 * int(rng.integers(10_000, 12_000))}")
    src = home / f"{name}.csv"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("\n".join(lines) + "\n")
    target = home / "data" / name
    import_csv(src, target, name=name)
    return target


# -- the synthetic small preset (~2M ratings), for the slow accuracy tests --------------------
def make_synth_small(home: Path, name: str = "small") -> Path:
    """The synthetic ``small`` preset (seed 0) imported as dataset ``name`` under ``home``
    (kept if already there); returns ``home``."""
    if not (home / "data" / name / "meta.json").is_file():
        from prize.data.netflix import import_netflix
        from prize.data.synth import generate

        raw = home / "raw" / name
        generate(raw, preset="small", seed=0, overwrite=True)
        import_netflix(raw, home / "data" / name, name=name, overwrite=True)
    return home


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    """A PRIZE_HOME holding the small preset as dataset "small", made once per session."""
    return make_synth_small(tmp_path_factory.mktemp("synth-small"))


def small_probe_rmse(home: Path, family: str, config: str | None = None,
                     overrides=()) -> float:
    """Probe RMSE of ``family``/``config`` (with ``--set`` overrides) fitted in-process on
    the small preset under ``home``, who-rated-what from every known pair."""
    import numpy as np

    from prize.data import Split, open_dataset
    from prize.models import make_predictor

    ds = open_dataset(home / "data" / "small")
    train, probe = ds.ratings(Split.TRAIN), ds.ratings(Split.PROBE)
    model, _ = make_predictor(family, config, list(overrides))
    model.fit(train, probe=probe, implicit=ds.all_pairs())
    pred = model.predict(probe.user, probe.item, probe.day)
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - probe.rating) ** 2)))


@pytest.fixture
def toy(home):
    """The toy dataset of :func:`make_toy_dataset`, opened, in an isolated PRIZE_HOME."""
    from prize.data import open_dataset

    return open_dataset(make_toy_dataset(home))


def constant_predictions(ds, value: float = 3.0) -> dict:
    """Probe and qualifying predictions of one value, aligned with ``ds``: a predictor to
    store when only the store is under test."""
    import numpy as np

    return {kind: np.full(ds.count(kind), value, np.float32)
            for kind in ("probe", "qualifying")}
