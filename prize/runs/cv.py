"""Cross-validation on fixed folds: MovieLens 100K's u1..u5 (or ua, ub), the numbers papers
and Surprise quote.

Each fold ``uK`` is imported once into a scratch dataset under ``$PRIZE_HOME/data``
(``cv-<folder>-uK``: ``uK.base`` for training, with probe carved out of it by the Netflix
rule, ``uK.test`` as the qualifying set, all TEST), so a later run reuses it. The model
trains with ``prize train``'s two rounds: the probe round (for the epoch count when the
config stops early), then the final round, which refits on all of ``uK.base`` (TRAIN+PROBE)
with the same settings, epochs and seed; its RMSE on ``uK.test`` is the fold's score.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from prize.data.movielens import ML_SPLITS
from prize.errors import ConfigError, DataError


def parse_folds(text: str) -> list[str]:
    """``u1..u5`` (a range), ``u1,u3,ua`` (a list), or one fold."""
    m = re.fullmatch(r"u([1-5])\.\.u([1-5])", text.strip())
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise ConfigError(f"--folds {text}: the range runs backwards")
        return [f"u{k}" for k in range(lo, hi + 1)]
    folds = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in folds if f not in ML_SPLITS]
    if bad or not folds:
        raise ConfigError(f"--folds {text}: unknown fold {bad[0] if bad else text!r}; give "
                          f"u1..u5, or a list of {', '.join(ML_SPLITS)}")
    return folds


def movielens_folder(source: str, home: Path) -> Path:
    """The raw ml-100k folder: ``source`` itself, or the folder a stored dataset of that name
    was imported from."""
    p = Path(source)
    if (p / "u1.base").is_file() or (p / "u.data").is_file():
        return p.resolve()
    from prize.data.dataset import open_dataset

    try:
        ds = open_dataset(source, home)
    except DataError:
        raise DataError(f"{source!r} is neither a MovieLens 100K folder nor a stored dataset",
                        fix="Give the ml-100k folder (with u1.base ... u5.test): "
                            "prize cv FAMILY --data path/to/ml-100k") from None
    src = (ds.meta.get("source") or {})
    path = Path(src.get("path", ""))
    if src.get("format") != "ml-100k" or not (path / "u1.base").is_file():
        raise DataError(f"dataset {source!r} was not imported from a MovieLens 100K folder "
                        "that is still there", fix="Give the ml-100k folder itself")
    return path


def fold_dataset(folder: Path, fold: str, home: Path):
    """The scratch dataset of one fold, imported on first use."""
    from prize.data.dataset import open_dataset
    from prize.data.movielens import import_movielens
    from prize.paths import dataset_dir

    name = f"cv-{folder.name}-{fold}"
    target = dataset_dir(name, home)
    if (target / "meta.json").is_file():
        ds = open_dataset(target)
        src = ds.meta.get("source") or {}
        if src.get("path") == str(folder) and src.get("split") == fold:
            return ds
    import_movielens(folder, target, name=name, split=fold, overwrite=True)
    return open_dataset(target)


def cross_validate_folds(family: str, source: str, folds: list[str], home: Path, *,
                         config=None, overrides=(), progress: bool = False) -> dict:
    """Per-fold and mean test RMSE of ``family`` over MovieLens 100K's official folds."""
    from prize.probes import ProbeStore
    from prize.runs.single import train

    folder = movielens_folder(source, home)
    store = ProbeStore(home / "probes")
    name = f"cv-{family}"
    rows = []
    for fold in folds:
        ds = fold_dataset(folder, fold, home)
        t0 = time.perf_counter()
        probe = train(ds, store, family, config=config, overrides=overrides, name=name,
                      progress=progress, save_model=False)
        final = train(ds, store, family, name=name, round_="final", progress=progress,
                      save_model=False)
        rows.append({"fold": fold, "dataset": ds.name, "test_rmse": final.test_rmse,
                     "probe_rmse": probe.probe_rmse, "epochs": final.epochs,
                     "seconds": time.perf_counter() - t0})
    mean = sum(r["test_rmse"] for r in rows) / len(rows)
    return {"family": family, "config": str(config) if config else None,
            "overrides": list(overrides), "source": str(folder), "folds": rows,
            "mean_test_rmse": mean}
