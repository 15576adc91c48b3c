"""The probe store: every predictor's held-out predictions, with their provenance.

``$PRIZE_HOME/probes/<dataset>/<predictor>/`` holds

- ``probe-<version>.npy``: float32, aligned with the dataset's PROBE rows in row order;
- ``qualifying-<version>.npy``: float32, aligned with ``qualifying_order``;
- ``train-<version>.npy`` (optional, ``--keep-train-predictions``): aligned with TRAIN rows;
- ``model-<version>.npz`` (optional, ``prize train --save-model``): the fitted model, plain
  arrays plus JSON (:mod:`prize.models.persist`), under the same commit protocol;
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
one just replaced stays a while, for readers that opened the old meta.json).

Writers of one predictor take turns: each holds an exclusive lock (``flock``) on the
folder's ``.lock`` file from reading the current version to removing the old ones, so
two trainings of one name never delete each other's files; the later one supersedes the
earlier whole. Writers of different predictors never wait for each other. Readers take
no lock. Under the lock the writer also checks that the dataset's folder still holds the
version it trained on (a re-split meanwhile would misalign its rows). ``flock`` holds
across processes of one machine and, on Linux, on NFS (v4, where it maps to byte-range
locks); the file system must rename atomically (local disks, NFS, Lustre, GPFS; not
object stores mounted with FUSE).

Arrays are read with ``allow_pickle=False``: a store handed to you cannot run code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from prize import __version__, paths
from prize._atomic import tmp_name, write_bytes, write_json, write_npy
from prize.data.dataset import STORED_KINDS, Dataset
from prize.errors import DataError
from prize.paths import home as prize_home

KINDS = STORED_KINDS
#: The lock file of a predictor's folder (writers only; see the module docstring).
LOCK = ".lock"
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
    """Prediction kind -> file name of this version (and ``model`` -> the saved model)."""
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
        return {k: v for k, v in self.to_json().items() if not k.startswith("test_")}


@dataclasses.dataclass
class Entry:
    """One predictor folder as :meth:`ProbeStore.survey` finds it."""

    name: str
    record: PredictorRecord | None
    status: str = "ok"
    """``ok``, ``stale`` (another version of the dataset) or ``broken``."""
    problem: str | None = None


def check_name(name: str) -> str:
    """A predictor name, checked by the one rule for names (:func:`prize.paths.check_name`)."""
    return paths.check_name(name, "predictor name")


class ProbeStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else prize_home() / "probes"

    @contextlib.contextmanager
    def locked(self, dataset: str, predictor: str) -> Iterator[Path]:
        """Hold the predictor's write lock; yields its folder (created if missing).

        A folder removed or replaced while we waited for its lock is locked afresh: the
        lock file must still be the one in the folder when we hold it.
        """
        folder = self.folder(dataset, predictor)
        while True:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(folder / LOCK))
                except FileNotFoundError:
                    same = False
                if same:
                    yield folder
                    return
            finally:
                os.close(fd)  # closing releases the lock

    def folder(self, dataset: str, predictor: str) -> Path:
        """``root/dataset/predictor``, both names checked and the result inside the root
        (no ``..``, no symbolic link leading out): the only folder the store writes or
        deletes for that predictor."""
        return paths.inside(self.root, paths.check_name(dataset, "dataset name"),
                            check_name(predictor))

    # ---------------------------------------------------------------------- writing
    def write(self, ds: Dataset, predictor: str, arrays: dict[str, np.ndarray],
              record: PredictorRecord | dict, *, keep: tuple[str, ...] = (),
              blobs: dict[str, bytes] | None = None) -> PredictorRecord:
        """Commit a new version of ``predictor``: the given arrays plus its record (a dict
        is read as a record's JSON). The store fills in the name, dataset, fingerprint,
        files and provenance.

        Kinds named in ``keep`` are carried over from the current version (the final round
        replaces only the qualifying predictions). ``blobs`` are other files of this version
        (``{"model": npz bytes}``), written as ``<kind>-<version>.npz`` before the commit.
        """
        if isinstance(record, dict):
            record = PredictorRecord.from_json({"name": predictor, **record})
        with self.locked(ds.name, predictor) as folder:
            ds.check_unchanged()
            return self._write(ds, folder, predictor, arrays, record, keep, blobs)

    def _write(self, ds, folder, predictor, arrays, record, keep, blobs) -> PredictorRecord:
        """:meth:`write`, with the predictor's lock held."""
        try:
            old = self.meta(ds.name, predictor)
        except DataError:  # an unreadable meta.json is replaced: nothing to keep of it
            old = None
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
        for kind, data in (blobs or {}).items():
            if kind in KINDS or not kind.isidentifier():
                raise ValueError(f"bad file kind {kind!r}")
            name = f"{kind}-{version}.npz"
            write_bytes(folder / name, data)
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
            if p.name in ("meta.json", LOCK) or p.name in keep_files:
                continue
            try:
                if p.name.startswith("."):
                    if now - p.stat().st_mtime > _STALE_SECONDS:
                        p.unlink(missing_ok=True)
                elif p.suffix in (".npy", ".npz"):
                    p.unlink(missing_ok=True)
            except FileNotFoundError:
                pass

    def remove(self, dataset: str, predictor: str) -> bool:
        folder = self.folder(dataset, predictor)
        if not folder.exists():
            return False
        with self.locked(dataset, predictor) as folder:  # a writer never loses its files
            aside = tmp_name(folder)
            os.replace(folder, aside)  # one rename: the listing never sees half a folder
        shutil.rmtree(aside, ignore_errors=True)
        return True

    # ---------------------------------------------------------------------- reading
    def meta(self, dataset: str, predictor: str) -> PredictorRecord | None:
        p = self.folder(dataset, predictor) / "meta.json"
        try:
            d = json.loads(p.read_text())
            if not isinstance(d, dict):
                raise ValueError(f"a JSON {type(d).__name__}, not an object")
            return PredictorRecord.from_json(d)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, UnicodeDecodeError, IsADirectoryError) as e:
            raise DataError(f"predictor {predictor!r}: unreadable meta.json ({e})", path=str(p),
                            fix=f"Retrain it, or remove it: prize probes rm --data {dataset} "
                                f"{predictor}") from None

    def list(self, dataset: str) -> list[PredictorRecord]:
        """The readable records of ``dataset`` (an unreadable one is left out, not fatal:
        :meth:`survey` names it)."""
        return [e.record for e in self._entries(dataset) if e.record is not None]

    def _entries(self, dataset: str) -> list[Entry]:
        root = paths.inside(self.root, paths.check_name(dataset, "dataset name"))
        out = []
        if not root.is_dir():
            return out
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                m = self.meta(dataset, folder.name)
            except DataError as e:  # a bad name, a link leading out, a corrupt meta.json
                out.append(Entry(folder.name, None, "broken", e.problem))
                continue
            if m is not None:
                out.append(Entry(folder.name, m))
        return out

    def survey(self, ds: Dataset) -> list[Entry]:
        """Every predictor folder of ``ds`` with its status: ``ok``, ``stale`` (made on
        another version of the dataset) or ``broken`` (unreadable meta.json, missing,
        truncated or non-finite prediction files), and the problem in words. What the
        leaderboard and ``probes list`` show; one broken predictor never hides the others."""
        out = []
        for e in self._entries(ds.name):
            if e.record is not None:
                e.status, e.problem = self.problem(ds, e.record)
            out.append(e)
        return out

    def problem(self, ds: Dataset, m: PredictorRecord) -> tuple[str, str | None]:
        """(status, problem) of one record against ``ds``: what :meth:`read` would refuse,
        found without raising (``("ok", None)`` when every array reads back whole)."""
        if m.dataset_fingerprint != ds.fingerprint:
            return "stale", (f"trained on another version of the dataset (fingerprint "
                             f"{m.dataset_fingerprint}, now {ds.fingerprint})")
        missing = [k for k in ("probe", "qualifying") if k not in m.files]
        if missing:
            return "broken", f"no {missing[0]} predictions in its record"
        folder = self.folder(ds.name, m.name)
        for kind, file in m.files.items():
            if kind not in KINDS:
                continue
            try:
                a = np.load(folder / file, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                return "broken", f"{kind} predictions missing ({file})"
            except (ValueError, OSError, EOFError) as e:
                return "broken", f"{kind} predictions unreadable ({file}: {e})"
            n = ds.count(kind)
            if a.dtype != np.float32 or a.shape != (n,):
                return "broken", (f"{kind} predictions have shape {a.shape} of {a.dtype}, "
                                  f"expected ({n},) of float32 (truncated?)")
            # The values of probe and qualifying (17 MB at Netflix's size): what tables and
            # blends read. The training predictions (400 MB there) get the header and shape
            # check alone on this listing path; the writer refused non-finite ones.
            if kind != "train" and not np.isfinite(a).all():
                return "broken", f"{kind} predictions contain NaN or inf ({file})"
        return "ok", None

    def read(self, ds: Dataset, predictor: str, kind: str = "probe",
             mmap: bool = True) -> np.ndarray:
        """One predictor's predictions, checked against the dataset."""
        for attempt in range(5):
            m = self._record(ds, predictor)
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

    def model_path(self, ds: Dataset, predictor: str) -> Path:
        """The saved model of ``predictor`` (``prize train --save-model``), checked against
        the dataset's fingerprint."""
        m = self._record(ds, predictor)
        if "model" not in m.files:
            raise DataError(f"predictor {predictor!r} kept no fitted model",
                            fix=f"Retrain it with --save-model: prize train {m.family} --data "
                                f"{ds.name} --name {predictor} --save-model")
        return self.folder(ds.name, predictor) / m.files["model"]

    def _record(self, ds: Dataset, predictor: str) -> PredictorRecord:
        """The record of ``predictor``, checked against ``ds``; a DataError if there is none
        or it was made on another version of the dataset."""
        m = self.meta(ds.name, predictor)
        if m is None:
            raise DataError(f"no predictor {predictor!r} in the probe store of {ds.name!r}",
                            path=str(self.folder(ds.name, predictor)),
                            fix=f"Train it: prize train FAMILY --data {ds.name} --name "
                                f"{predictor}")
        self.check(ds, m)
        return m

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
