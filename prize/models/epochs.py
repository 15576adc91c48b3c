"""The epoch machinery of every iterative model, in one place.

A model trained epoch by epoch subclasses :class:`IterativePredictor` and implements one
sweep (``run_epoch``); its config subclasses :class:`IterativeConfig` (``n_epochs``,
``early_stopping``, ``patience``, ``seed``). :meth:`IterativePredictor.fit_epochs` returns
a :class:`Trainer`, an iterator of :class:`EpochReport`: it owns the probe RMSE, early
stopping, divergence checks and the checkpoint format, and ``fit()`` simply runs it to the
end. Whoever iterates it (the run layer, :mod:`prize.runs.single`) adds progress bars and
writes checkpoints between epochs; the model knows nothing of them.

Randomness inside an epoch comes from :func:`epoch_rng` ``(seed, epoch)``, so a run resumed
from a checkpoint repeats the uninterrupted run exactly. A checkpoint is one ``.npz`` file of
plain arrays with its JSON header stored as bytes inside: nothing in it is unpickled, so a
checkpoint someone hands you cannot run code.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from prize._atomic import write_bytes
from prize._npz import pack, unpack
from prize.config import at_least, finite, max_threads, positive, to_dict
from prize.data.dataset import Ratings
from prize.errors import DataError, DivergenceError
from prize.metrics import rmse
from prize.models.base import Predictor

#: A train RMSE above this many times the first epoch's counts as divergence.
EXPLODE_FACTOR = 3.0


@dataclass(frozen=True)
class IterativeConfig:
    """The settings every iterative model shares; a model's config subclasses it (and may
    redefine a field to give it another default or docstring)."""

    n_epochs: int = 20
    """Sweeps over the training data (the final round refits with the probe round's best
    epoch count)."""
    early_stopping: bool = False
    """Stop when the probe RMSE has not improved for ``patience`` epochs; keep the best."""
    patience: int = 2
    """Epochs without a probe improvement before early stopping."""
    min_epochs: int = 1
    """Early stopping never stops before this many epochs (a model whose probe RMSE dips
    early, then rises before the slower part of its learning sets in, needs it)."""
    seed: int = 0
    """Seeds the initialisation and every epoch's randomness."""

    #: The field holding the main learning rate (if the config has it), named in the
    #: divergence advice.
    learning_rate_field: ClassVar[str | None] = "lr"

    def __post_init__(self):
        at_least(self, 1, "n_epochs", "patience", "min_epochs")
        at_least(self, 0, "seed")
        self._check_rates()

    def _check_rates(self) -> None:
        """What every iterative model's settings share by name, checked at start rather
        than met mid-training: every float finite; the learning rate ``lr`` > 0; other
        rates (``lr_*``: 0 freezes a part), regularization (``reg``, ``reg_*``),
        ``weight_decay`` and initial spreads (``*_std``) >= 0; ``threads`` from 0
        (automatic) to 4 per core."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        floats = [k for k, v in values.items() if isinstance(v, float)]
        finite(self, *floats)
        positive(self, *[k for k in floats if k == "lr"])
        at_least(self, 0, *[k for k in floats if k.startswith(("lr_", "reg_")) or k == "reg"
                            or k == "weight_decay" or k.endswith("_std")])
        if isinstance(values.get("threads"), int):
            at_least(self, 0, "threads")
            if values["threads"] > max_threads():
                raise ValueError(f"threads = {values['threads']}: expected at most "
                                 f"{max_threads()} (4 per core on this machine)")


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    train_rmse: float
    probe_rmse: float | None
    seconds: float  # the training sweep only (not the probe evaluation)
    updates: int  # rating updates done in the epoch (for ratings/s)


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


class IterativePredictor(Predictor):
    """A model trained epoch by epoch; its :class:`Trainer` drives it.

    Subclasses implement ``start`` (fresh state), ``run_epoch`` (one sweep),
    ``state_dict``/``load_state_dict`` (every learned array, plain numpy) and may
    override ``resume`` (load a checkpoint's state and rebuild training caches) and
    ``finish``.
    """

    Config: ClassVar[type[IterativeConfig]]

    def fit_epochs(self, train: Ratings, *, probe: Ratings | None = None,
                   implicit: Ratings | None = None, n_epochs: int | None = None,
                   early_stopping: bool | None = None) -> Trainer:
        """The training run as an iterator of :class:`EpochReport` (nothing runs until it
        is iterated). ``n_epochs`` and ``early_stopping`` override the config's (the final
        round refits a fixed number of epochs)."""
        self._setup(train)
        return Trainer(self, train, probe, implicit, n_epochs=n_epochs,
                       early_stopping=early_stopping)

    def start(self, train: Ratings, probe: Ratings | None,
              implicit: Ratings | None) -> None:
        """Initialise the learned state (called once, not on resume)."""
        raise NotImplementedError

    def resume(self, train: Ratings, implicit: Ratings | None,
               state: dict[str, np.ndarray]) -> None:
        """Continue from a checkpoint's ``state`` instead of ``start``: load it and rebuild
        whatever training-time caches ``start`` would have built."""
        self.load_state_dict(state)

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        """One sweep over ``train``; returns (train RMSE during the sweep, rating updates)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every learned array (plain numpy), enough to resume or to predict."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def finish(self, train: Ratings) -> None:
        """Called once after the last epoch (and after early stopping restored the best
        epoch): derive prediction-time state, drop training-time caches."""

    @property
    def n_epochs(self) -> int:
        return int(self.config.n_epochs)


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
    """One training run of an :class:`IterativePredictor`: iterate it for the epochs."""

    def __init__(self, model: IterativePredictor, train: Ratings, probe: Ratings | None = None,
                 implicit: Ratings | None = None, *, n_epochs: int | None = None,
                 early_stopping: bool | None = None):
        self.model = model
        self.train = train
        self.probe = probe if probe is not None and len(probe) else None
        self.implicit = implicit
        cfg: IterativeConfig = model.config
        self.n_epochs = int(n_epochs if n_epochs is not None else cfg.n_epochs)
        early = cfg.early_stopping if early_stopping is None else early_stopping
        self.early_stopping = bool(early) and self.probe is not None
        self.patience = int(cfg.patience)
        self.min_epochs = int(cfg.min_epochs)
        self.progress = Progress()
        self.best_state: dict[str, np.ndarray] | None = None
        self._resume_state: dict[str, np.ndarray] | None = None

    # -- resuming ------------------------------------------------------------------------
    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint made by :meth:`checkpoint_bytes` (before iterating)."""
        self._resume_state = ckpt["state"]
        self.best_state = ckpt["best"] or None
        self.progress = Progress(**ckpt["header"]["progress"])

    # -- the loop ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[EpochReport]:
        return self.run()

    def run(self) -> Iterator[EpochReport]:
        model, p = self.model, self.progress
        if self._resume_state is not None:
            model.resume(self.train, self.implicit, self._resume_state)
            self._resume_state = None
        else:
            model.start(self.train, self.probe, self.implicit)
        self.implicit = None  # every model has taken what it needs of it
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
                if (self.early_stopping and p.bad_epochs >= self.patience
                        and epoch >= self.min_epochs):
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
            cfg = self.model.config
            key = cfg.learning_rate_field
            lr = getattr(cfg, key, None) if key else None
            hint = (f" (now {lr:g}, try --set {key}={lr / 4:g})"
                    if isinstance(lr, float) and math.isfinite(lr) and lr > 0 else "")
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
        return pack(header, arrays)

    def save_checkpoint(self, path: str | os.PathLike, extra: dict | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, self.checkpoint_bytes(extra))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """{'header': dict, 'state': arrays, 'best': arrays}; never unpickles anything."""
    try:
        header, arrays = unpack(path)
    except (ValueError, KeyError, OSError) as e:
        raise DataError(f"not a prize checkpoint, or one holding pickled objects: {e}",
                        path=str(path), fix="Delete it and train without --resume") from None
    return {"header": header,
            "state": {k[6:]: v for k, v in arrays.items() if k.startswith("state/")},
            "best": {k[5:]: v for k, v in arrays.items() if k.startswith("best/")}}


def train(model: IterativePredictor, train: Ratings, *, probe: Ratings | None = None,
          implicit: Ratings | None = None, **kwargs) -> list[EpochReport]:
    """Run every epoch (what ``fit`` does); returns the per-epoch reports."""
    return list(model.fit_epochs(train, probe=probe, implicit=implicit, **kwargs))
