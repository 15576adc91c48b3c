"""The epoch loop shared by every iterative model: probe RMSE, early stopping, divergence
checks and resumable checkpoints. Models only implement one epoch (``run_epoch``).

``Trainer.run()`` is a generator: it yields after every epoch, so the caller (``fit``, the
CLI) owns progress bars and writes checkpoints. A checkpoint is one ``.npz`` file of plain
arrays with its JSON header stored as bytes inside: nothing in it is unpickled, so a
checkpoint someone hands you cannot run code.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prize._atomic import write_bytes
from prize.config import to_dict
from prize.data.dataset import Ratings
from prize.errors import DataError, PrizeError
from prize.metrics import rmse
from prize.models.base import EpochReport, IterativePredictor

#: A train RMSE above this many times the first epoch's counts as divergence.
EXPLODE_FACTOR = 3.0


class DivergenceError(PrizeError):
    exit_code = 1


@dataclass
class Progress:
    """What the loop knows between epochs; saved in checkpoints."""

    epoch: int = 0  # epochs completed
    best_epoch: int = 0
    best_rmse: float = math.inf
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)


class Trainer:
    def __init__(self, model: IterativePredictor, train: Ratings, probe: Ratings | None = None,
                 *, n_epochs: int | None = None, early_stopping: bool | None = None,
                 patience: int | None = None):
        self.model = model
        self.train = train
        self.probe = probe if probe is not None and len(probe) else None
        cfg = model.config
        self.n_epochs = int(n_epochs if n_epochs is not None else model.n_epochs)
        early = getattr(cfg, "early_stopping", False) if early_stopping is None else early_stopping
        self.early_stopping = bool(early) and self.probe is not None
        self.patience = int(patience if patience is not None else getattr(cfg, "patience", 2))
        self.progress = Progress()
        self.best_state: dict[str, np.ndarray] | None = None
        self._resumed = False

    # -- resuming ------------------------------------------------------------------------
    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint made by :meth:`checkpoint_bytes`."""
        self.model.load_state_dict(ckpt["state"])
        self.best_state = ckpt["best"] or None
        self.progress = Progress(**ckpt["header"]["progress"])
        self._resumed = True

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> Iterator[EpochReport]:
        model, p = self.model, self.progress
        if not self._resumed:
            model.start(self.train, self.probe)
        while p.epoch < self.n_epochs and not p.stopped_early:
            epoch = p.epoch + 1
            t0 = time.perf_counter()
            train_rmse, updates = model.run_epoch(epoch, self.train)
            seconds = time.perf_counter() - t0  # the sweep alone: ratings/s means SGD speed
            probe_rmse = None
            if self.probe is not None:
                pr = self.probe
                probe_rmse = rmse(model.predict(pr.user, pr.item, pr.day), pr.rating)
            report = EpochReport(epoch, float(train_rmse), probe_rmse, seconds, int(updates))
            self._check_divergence(report)
            p.epoch = epoch
            p.history.append(asdict(report))
            score = probe_rmse if probe_rmse is not None else train_rmse
            if score < p.best_rmse - 1e-7:
                p.best_rmse, p.best_epoch, p.bad_epochs = score, epoch, 0
                if self.early_stopping:
                    self.best_state = {k: np.array(v, copy=True)
                                       for k, v in model.state_dict().items()}
            else:
                p.bad_epochs += 1
                if self.early_stopping and p.bad_epochs >= self.patience:
                    p.stopped_early = True
            yield report
        if self.early_stopping and self.best_state is not None and p.best_epoch != p.epoch:
            model.load_state_dict(self.best_state)  # the best epoch's parameters
        model.finish(self.train)
        model.history_ = list(p.history)
        model.best_epoch_ = p.best_epoch if self.early_stopping else p.epoch
        model.epochs_run_ = p.epoch

    def _check_divergence(self, r: EpochReport) -> None:
        first = self.progress.history[0]["train_rmse"] if self.progress.history else None
        values = [r.train_rmse] + ([r.probe_rmse] if r.probe_rmse is not None else [])
        exploded = first is not None and r.train_rmse > EXPLODE_FACTOR * first
        if not all(math.isfinite(v) for v in values) or exploded:
            lr = getattr(self.model.config, "lr", None)
            hint = f" (now {lr:g}, try --set lr={lr / 4:g})" if isinstance(lr, float) else ""
            raise DivergenceError(
                f"training diverged at epoch {r.epoch}: train RMSE {r.train_rmse:.4g}"
                + (f", probe RMSE {r.probe_rmse:.4g}" if r.probe_rmse is not None else "")
                + f". Lower the learning rate{hint} or raise the regularization; nothing was "
                  "written to the probe store")

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoint_bytes(self, extra: dict | None = None) -> bytes:
        header = {
            "family": self.model.family,
            "model": self.model.name,
            "config": to_dict(self.model.config),
            "progress": asdict(self.progress),
            **(extra or {}),
        }
        arrays = {f"state/{k}": np.asarray(v) for k, v in self.model.state_dict().items()}
        for k, v in (self.best_state or {}).items():
            arrays[f"best/{k}"] = np.asarray(v)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def save_checkpoint(self, path: str | os.PathLike, extra: dict | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, self.checkpoint_bytes(extra))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """{'header': dict, 'state': arrays, 'best': arrays}; never unpickles anything."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            state = {k[6:]: z[k] for k in z.files if k.startswith("state/")}
            best = {k[5:]: z[k] for k in z.files if k.startswith("best/")}
    except (ValueError, KeyError, OSError) as e:
        raise DataError(f"not a prize checkpoint, or one holding pickled objects: {e}",
                        path=str(path), fix="Delete it and train without --resume") from None
    return {"header": header, "state": state, "best": best}


def train(model: IterativePredictor, train: Ratings, *, probe: Ratings | None = None,
          **kwargs) -> list[EpochReport]:
    """Run every epoch (what ``fit`` does); returns the per-epoch reports."""
    return list(Trainer(model, train, probe, **kwargs).run())
