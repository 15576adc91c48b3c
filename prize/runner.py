"""Train one predictor on a dataset and commit its predictions to the probe store.

This is the unit of work of `prize train`, of a leaderboard run and of a sweep trial: it
takes a dataset (opened by memory map), a predictor and a store, and touches nothing else.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from prize.data.dataset import Dataset, Ratings, Split
from prize.errors import DataError
from prize.models import describe
from prize.models.base import IterativePredictor, in_batches
from prize.probes import ProbeStore
from prize.scoring import score_probe, score_qualifying
from prize.training import Trainer, load_checkpoint


def _predict_rows(model, ds: Dataset, rows: np.ndarray) -> np.ndarray:
    def part(sl):
        r = rows[sl]
        return model.predict(ds.user[r], ds.item[r], ds.day[r])

    return in_batches(len(rows), part)


def _predict_training(model, train: Ratings) -> np.ndarray:
    """``model.predict_training`` over the training ratings, in batches."""
    return in_batches(len(train), lambda sl: model.predict_training(Ratings(
        train.user[sl], train.item[sl], train.rating[sl], train.day[sl], train.n_users,
        train.n_items, train.scale)))


def _fit(model, ds: Dataset, train, probe, *, n_epochs=None, early_stopping=None,
         checkpoint: Path | None, resume: bool, progress: bool, label: str) -> dict:
    """Fit ``model``; iterative models run epoch by epoch with a bar and checkpoints."""
    # Who rated what: every known pair (train, probe, qualifying), ratings unused.
    implicit = ds.all_pairs()
    if not isinstance(model, IterativePredictor):
        model.fit(train, probe=probe, implicit=implicit)
        return {}
    model._prepare(train, implicit)
    trainer = Trainer(model, train, probe, n_epochs=n_epochs, early_stopping=early_stopping)
    header = {"dataset_fingerprint": ds.fingerprint, "label": label}
    if resume and checkpoint is not None and checkpoint.is_file():
        ckpt = load_checkpoint(checkpoint)
        h = ckpt["header"]
        if (h.get("dataset_fingerprint") != ds.fingerprint or h.get("label") != label
                or h.get("config") != _cfg(model)):
            raise DataError("the checkpoint belongs to another dataset, round or config",
                            path=str(checkpoint), fix="Run without --resume to start afresh")
        trainer.restore(ckpt)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=trainer.n_epochs, initial=trainer.progress.epoch, unit="epoch",
                   desc=label, leave=False, dynamic_ncols=True)
    try:
        for r in trainer.run():
            if checkpoint is not None:
                trainer.save_checkpoint(checkpoint, header)
            if bar is not None:
                post = {"train": f"{r.train_rmse:.4f}"}
                if r.probe_rmse is not None:
                    post["probe"] = f"{r.probe_rmse:.4f}"
                post["rate"] = f"{r.updates / max(r.seconds, 1e-9) / 1e6:.1f}M/s"
                bar.set_postfix(post)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    model._implicit = None
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return {"epochs": int(model.best_epoch_), "epochs_run": int(model.epochs_run_),
            "history": model.history_}


def _cfg(model) -> dict:
    from prize.config import to_dict

    return to_dict(model.config)


class Residuals:
    """Training on the residuals of a stored predictor (e.g. kNN on RBM residuals).

    The model learns r - base on the rating scale's span; its predictions are added back to
    the base predictor's and clipped. The base must have kept its training-set predictions
    (``--keep-train-predictions``). In the final round the probe rows' residuals use the
    base's probe-round (out-of-sample) predictions, the only ones stored for them.
    """

    def __init__(self, ds: Dataset, store: ProbeStore, name: str):
        meta = store.meta(ds.name, name)
        if meta is None or "train" not in meta.get("files", {}):
            raise DataError(
                f"--residuals-of {name}: no stored training-set predictions of {name!r}",
                fix=f"Train it with --keep-train-predictions: prize train FAMILY --data "
                    f"{ds.name} --name {name} --keep-train-predictions")
        self.name = name
        self.base = {k: np.asarray(store.read(ds, name, k)) for k in ("train", "probe",
                                                                       "qualifying")}
        lo, hi = ds.scale
        self.scale = (lo, hi)
        self.span = (lo - hi, hi - lo)

    def ratings(self, ds: Dataset, flags) -> Ratings:
        rows = ds.rows(flags)
        base = np.empty(len(rows), np.float32)
        split = np.asarray(ds.split)[rows]
        for kind, flag in (("train", Split.TRAIN), ("probe", Split.PROBE)):
            sel = (split & flag) != 0
            if sel.any():
                base[sel] = self.base[kind]
        r = ds.select(rows)
        return Ratings(r.user, r.item, (r.rating - base).astype(np.float32), r.day,
                       r.n_users, r.n_items, scale=self.span)

    def add(self, kind: str, pred: np.ndarray) -> np.ndarray:
        return np.clip(self.base[kind] + pred, *self.scale).astype(np.float32)


def run_training(ds: Dataset, model, name: str, store: ProbeStore, *, round_: str = "probe",
                 probe_meta: dict | None = None, resume: bool = False, keep_train: bool = False,
                 checkpoint_dir: Path | None = None, progress: bool = False,
                 residuals_of: str | None = None) -> dict:
    t0 = time.perf_counter()
    ckpt = checkpoint_dir / name / f"{round_}.npz" if checkpoint_dir is not None else None
    qual_rows = ds.qualifying_order
    if round_ == "final" and probe_meta is not None:
        residuals_of = probe_meta.get("residuals_of")
    res = Residuals(ds, store, residuals_of) if residuals_of else None

    def ratings(flags):
        return res.ratings(ds, flags) if res is not None else ds.ratings(flags)

    def predict(kind, rows):
        pred = _predict_rows(model, ds, rows)
        return res.add(kind, pred) if res is not None else pred

    if round_ == "probe":
        probe = ratings(Split.PROBE)
        train = ratings(Split.TRAIN)
        info = _fit(model, ds, train, probe, checkpoint=ckpt, resume=resume,
                    progress=progress, label=f"{name} (probe round)")
        arrays = {"probe": predict("probe", ds.rows(Split.PROBE)),
                  "qualifying": predict("qualifying", qual_rows)}
        if keep_train:  # each model's own notion of a training prediction
            pred = _predict_training(model, train)
            arrays["train"] = res.add("train", pred) if res is not None else pred
        del train
        scores = score_qualifying(ds, arrays["qualifying"])
        meta = {
            **describe(model),
            "config": _cfg(model),
            "round": "probe",
            "residuals_of": residuals_of,
            "probe_rmse": score_probe(ds, arrays["probe"]),
            "quiz_rmse": scores["quiz"],
            "test_rmse": scores["test"],
            **info,
            "seconds": time.perf_counter() - t0,
        }
        written = store.write(ds, name, arrays, meta)
    else:
        n_epochs = probe_meta.get("epochs") or None
        info = _fit(model, ds, ratings(Split.TRAIN | Split.PROBE), None, n_epochs=n_epochs,
                    early_stopping=False, checkpoint=ckpt, resume=resume, progress=progress,
                    label=f"{name} (final round)")
        qualifying = predict("qualifying", qual_rows)
        scores = score_qualifying(ds, qualifying)
        meta = {k: v for k, v in probe_meta.items()
                if k not in ("files", "name", "dataset", "dataset_fingerprint", "created_at",
                             "package_version", "git_commit")}
        meta.update({
            "round": "final",
            "quiz_rmse_probe_round": probe_meta.get("quiz_rmse"),
            "test_rmse_probe_round": probe_meta.get("test_rmse"),
            "quiz_rmse": scores["quiz"],
            "test_rmse": scores["test"],
            "final_seconds": time.perf_counter() - t0,
        })
        keep = tuple(k for k in ("probe", "train") if k in probe_meta["files"])
        written = store.write(ds, name, {"qualifying": qualifying}, meta, keep=keep)
    return {k: v for k, v in written.items() if k != "history"}
