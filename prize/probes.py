"""The probe store: every predictor's held-out predictions, with their provenance.

``$PRIZE_HOME/probes/<dataset>/<predictor>/`` holds

- ``probe-<version>.npy``: float32, aligned with the dataset's PROBE rows in row order;
- ``qualifying-<version>.npy``: float32, aligned with ``qualifying_order``;
- ``train-<version>.npy`` (optional, ``--keep-train-predictions``): aligned with TRAIN rows;
- ``meta.json``: a :class:`PredictorRecord` -- family, model, config, dataset fingerprint,
  round, RMSEs, epochs, seconds, package version, git commit, created_at, the names of the
  array files above, and what a family adds of its own (a blend's weights).

The store owns that record: every other module reads a predictor's metadata through
:meth:`ProbeStore.meta` and :meth:`ProbeStore.list` as typed fields, never as a raw dict.
Which dataset rows each array lines up with is the dataset's rule
(:meth:`prize.data.dataset.Dataset.rows_of`), not the store's.

Writes are atomic and crash-safe. Each array goes to a hidden temporary name, is fsynced
and renamed to a fresh versioned name; ``meta.json`` is written last (temporary name,
fsync, rename) and is the commit marker: readers ignore a folder without it, and follow
it to the arrays. Replacing a predictor therefore swaps one file: a writer killed at any
point leaves the previous version whole. Old versions are removed after the swap (the
one just replaced stays a while, for readers that opened the old meta.json). Trainers
never share a folder, so several can write at once without locks, also on a shared file
system whose rename is atomic (NFS, Lustre, GPFS; not object stores mounted with FUSE).

Arrays are read with ``allow_pickle=False``: a store handed to you cannot run code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np

from prize import __version__, paths
from prize._atomic import tmp_name, write_json, write_npy
from prize.data.dataset import STORED_KINDS, Dataset
from prize.errors import DataError
from prize.paths import home as prize_home

KINDS = STORED_KINDS
_STALE_SECONDS = 60.0


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@dataclasses.dataclass
class PredictorRecord:
    """One stored version of a predictor: what its ``meta.json`` holds."""

    name: str
    dataset: str = ""
    dataset_fingerprint: str | None = None
    family: str | None = None
    model: str | None = None
    config: dict = dataclasses.field(default_factory=dict)
    """The model's whole resolved config (enough to rebuild it: the final round does)."""
    round: str = "probe"
    """``probe`` (fitted on TRAIN) or ``final`` (refitted on TRAIN+PROBE)."""
    residuals_of: str | None = None
    probe_rmse: float | None = None
    quiz_rmse: float | None = None
    test_rmse: float | None = None
    """Hidden unless asked for (``--reveal``), as the Prize kept it."""
    epochs: int | None = None
    """The epoch whose parameters were kept (the best one with early stopping)."""
    epochs_run: int | None = None
    history: list = dataclasses.field(default_factory=list)
    seconds: float | None = None
    files: dict = dataclasses.field(default_factory=dict)
    """Prediction kind -> file name of this version."""
    package_version: str | None = None
    git_commit: str | None = None
    created_at: str | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    """What a family records of its own (a blend's predictors and weights, the final
    round's probe-round scores), stored beside the fields above."""

    @classmethod
    def from_json(cls, d: dict) -> PredictorRecord:
        """Read a meta.json; older stores also repeated each config field at the top level
        (dropped here, as the config holds them)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        config = d.get("config") or {}
        extra = {k: v for k, v in d.items()
                 if k not in names and not (k in config and config[k] == v)}
        return cls(**{k: d[k] for k in names if k in d}, extra=extra)

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**d, **self.extra}

    def public(self) -> dict:
        """The record without the test scores (shown only with ``--reveal``)."""
        return {k: v for k, v in self.to_json().items() if not k.startswith("test_rmse")}


def check_name(name: str) -> str:
    """A predictor name, checked by the one rule for names (:func:`prize.paths.check_name`)."""
    return paths.check_name(name, "predictor name")


class ProbeStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else prize_home() / "probes"

    def folder(self, dataset: str, predictor: str) -> Path:
        """``root/dataset/predictor``, both names checked and the result inside the root
        (no ``..``, no symbolic link leading out): the only folder the store writes or
        deletes for that predictor."""
        return paths.inside(self.root, paths.check_name(dataset, "dataset name"),
                            check_name(predictor))

    # ---------------------------------------------------------------------- writing
    def write(self, ds: Dataset, predictor: str, arrays: dict[str, np.ndarray],
              record: PredictorRecord | dict, *, keep: tuple[str, ...] = ()) -> PredictorRecord:
        """Commit a new version of ``predictor``: the given arrays plus its record (a dict
        is read as a record's JSON). The store fills in the name, dataset, fingerprint,
        files and provenance.

        Kinds named in ``keep`` are carried over from the current version (the final round
        replaces only the qualifying predictions).
        """
        if isinstance(record, dict):
            record = PredictorRecord.from_json({"name": predictor, **record})
        folder = self.folder(ds.name, predictor)
        folder.mkdir(parents=True, exist_ok=True)
        old = self.meta(ds.name, predictor)
        version = f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
        files = {}
        for kind in keep:
            if old is None or kind not in old.files:
                raise DataError(f"predictor {predictor!r} has no {kind} predictions to keep",
                                fix=f"Train it first: prize train ... --name {predictor}")
            files[kind] = old.files[kind]
        for kind, a in arrays.items():
            if kind not in KINDS:
                raise ValueError(f"unknown prediction kind {kind!r}")
            a = np.asarray(a, np.float32)
            n = ds.count(kind)
            if a.shape != (n,):
                raise ValueError(f"{kind} predictions have shape {a.shape}, expected ({n},)")
            if not np.isfinite(a).all():
                raise ValueError(f"{kind} predictions contain NaN or inf: refusing to store them")
            name = f"{kind}-{version}.npy"
            write_npy(folder / name, a)
            files[kind] = name
        full = dataclasses.replace(
            record, name=predictor, dataset=ds.name, dataset_fingerprint=ds.fingerprint,
            files=files, package_version=__version__, git_commit=git_commit(),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        write_json(folder / "meta.json", full.to_json())
        self._collect(folder, keep_files=set(files.values())
                      | set(old.files.values() if old is not None else ()))
        return full

    def _collect(self, folder: Path, keep_files: set[str]) -> None:
        """Remove array versions no longer referenced, and temporaries of dead writers."""
        now = time.time()
        for p in folder.iterdir():
            if p.name == "meta.json" or p.name in keep_files:
                continue
            try:
                if p.name.startswith("."):
                    if now - p.stat().st_mtime > _STALE_SECONDS:
                        p.unlink(missing_ok=True)
                elif p.suffix == ".npy":
                    p.unlink(missing_ok=True)
            except FileNotFoundError:
                pass

    def remove(self, dataset: str, predictor: str) -> bool:
        folder = self.folder(dataset, predictor)
        if not folder.exists():
            return False
        aside = tmp_name(folder)
        os.replace(folder, aside)  # one rename: the listing never sees half a folder
        shutil.rmtree(aside, ignore_errors=True)
        return True

    # ---------------------------------------------------------------------- reading
    def meta(self, dataset: str, predictor: str) -> PredictorRecord | None:
        p = self.folder(dataset, predictor) / "meta.json"
        try:
            return PredictorRecord.from_json(json.loads(p.read_text()))
        except FileNotFoundError:
            return None

    def list(self, dataset: str) -> list[PredictorRecord]:
        root = self.root / dataset
        out = []
        if not root.is_dir():
            return out
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            m = self.meta(dataset, folder.name)
            if m is not None:
                out.append(m)
        return out

    def read(self, ds: Dataset, predictor: str, kind: str = "probe",
             mmap: bool = True) -> np.ndarray:
        """One predictor's predictions, checked against the dataset."""
        for attempt in range(5):
            m = self.meta(ds.name, predictor)
            if m is None:
                raise DataError(f"no predictor {predictor!r} in the probe store of "
                                f"{ds.name!r}", path=str(self.folder(ds.name, predictor)),
                                fix=f"Train it: prize train FAMILY --data {ds.name} "
                                    f"--name {predictor}")
            self.check(ds, m)
            if kind not in m.files:
                raise DataError(f"predictor {predictor!r} has no {kind} predictions",
                                fix="Retrain it with --keep-train-predictions"
                                if kind == "train" else "Retrain it")
            try:
                a = np.load(self.folder(ds.name, predictor) / m.files[kind],
                            mmap_mode="r" if mmap else None, allow_pickle=False)
                break
            except FileNotFoundError:  # a writer swapped versions under us: read again
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
            except ValueError as e:  # object arrays: numpy refuses to unpickle them
                raise DataError(f"predictor {predictor!r}: refusing to load {kind} predictions "
                                f"({e})", path=str(self.folder(ds.name, predictor)),
                                fix="Prediction files hold plain float32 arrays; retrain it "
                                    "rather than trust this file") from None
        n = ds.count(kind)
        if a.dtype != np.float32 or a.shape != (n,):
            raise DataError(
                f"predictor {predictor!r}: {kind} predictions have {a.shape[0] if a.ndim else 0}"
                f" rows of {a.dtype}, the dataset has {n} {kind} rows",
                path=str(self.folder(ds.name, predictor)),
                fix=f"Retrain {predictor!r} on this dataset")
        return a

    def check(self, ds: Dataset, m: PredictorRecord) -> None:
        if m.dataset_fingerprint != ds.fingerprint:
            raise DataError(
                f"predictor {m.name!r} was trained on another version of dataset "
                f"{ds.name!r} (fingerprint {m.dataset_fingerprint} != {ds.fingerprint}): "
                "its rows would not line up", path=str(self.folder(ds.name, m.name)),
                fix=f"Retrain it: prize train {m.family or 'FAMILY'} --data {ds.name} "
                    f"--name {m.name}")

    def matrix(self, ds: Dataset, predictors: list[str], kind: str = "probe") -> np.ndarray:
        """(rows × predictors) float32 matrix for blending."""
        cols = [self.read(ds, p, kind) for p in predictors]
        out = np.empty((ds.count(kind), len(cols)), np.float32)
        for j, c in enumerate(cols):
            out[:, j] = c
        return out
