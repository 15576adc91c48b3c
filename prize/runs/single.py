"""Train one predictor on a dataset and commit its predictions to the probe store.

This is the unit of work of `prize train`, of a leaderboard run and of a sweep trial
(:mod:`prize.runs.sets` calls it in any worker): it opens nothing itself, takes a dataset
(opened by memory map), a store and what to train, and touches nothing else.

:func:`train` is the whole job of one round: build the model from its family, config and
``--set`` overrides (in the final round, rebuild it from the probe round's stored config,
which only this module does), fit it epoch by epoch -- progress bar, checkpoints,
``--resume`` -- predict the probe and qualifying rows the dataset aligns them with
(:meth:`prize.data.dataset.Dataset.rows_of`), score them and commit them to the store.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from prize.config import to_dict
from prize.data.dataset import Dataset, Ratings, Split
from prize.errors import ConfigError, DataError
from prize.models import family_module, make_predictor
from prize.models.base import in_batches
from prize.models.epochs import IterativePredictor, load_checkpoint
from prize.paths import inside
from prize.probes import PredictorRecord, ProbeStore, check_name
from prize.scoring import score_probe, score_qualifying


def default_name(family: str, config_path: Path | None, residuals_of: str | None = None) -> str:
    """``FAMILY`` for the family's default config, else ``FAMILY-CONFIG``; ``-on-BASE``
    when trained on another predictor's residuals."""
    stem = config_path.stem if config_path is not None else family_module(family).DEFAULT_CONFIG
    name = family if stem == "default" else f"{family}-{stem}"
    return f"{name}-on-{residuals_of}" if residuals_of else name


def train(ds: Dataset, store: ProbeStore, family: str, *, config=None, overrides=(),
          name: str | None = None, round_: str = "probe", resume: bool = False,
          keep_train: bool = False, residuals_of: str | None = None,
          checkpoint_dir: Path | None = None, progress: bool = False,
          save_model: bool | None = None, force: bool = False,
          allow_worse: bool = False, train_folds: int = 0) -> PredictorRecord:
    """Train ``family`` (a config name or file, ``--set`` overrides) for one round.

    A probe round over a stored predictor of another family, model, config or base needs
    ``force`` (checked before training: a silent replacement loses the stored one). The
    probe round refuses to store a model that does not beat its reference on probe
    (:func:`check_beats_reference`) unless ``allow_worse``.

    ``round_="final"`` refits the stored probe round of ``name`` on TRAIN+PROBE with its
    settings, best epoch count and seed; a ``config`` or ``overrides`` given then must
    describe the same model. ``save_model`` keeps the fitted model in the store (None:
    when it is under :data:`prize.models.persist.SIZE_LIMIT`). ``train_folds`` >= 2 keeps
    out-of-fold training predictions (:func:`out_of_fold`) instead of the model's own.
    """
    asked, path = make_predictor(family, config, overrides)
    if name is None:
        name = default_name(family, path, residuals_of if round_ == "probe" else None)
    check_name(name)  # before any epoch or checkpoint is written under it
    if round_ == "probe":
        if not force:
            check_replacement(store, ds, name, asked, residuals_of)
        return run_training(ds, asked, name, store, keep_train=keep_train,
                            train_folds=train_folds, residuals_of=residuals_of, resume=resume,
                            checkpoint_dir=checkpoint_dir, progress=progress,
                            save_model=save_model, allow_worse=allow_worse)
    probe = store.meta(ds.name, name)
    if probe is None:
        raise DataError(f"no probe round of {name!r} to refit",
                        fix=f"Run the probe round first: prize train {family} --data "
                            f"{ds.name} --name {name}")
    if probe.family != family:
        raise ConfigError(f"{name!r} belongs to family {probe.family!r}, not {family!r}")
    store.check(ds, probe)
    values = {"model": probe.model, **probe.config}
    if (config is not None or overrides) and asked.params() != make_predictor(
            family, values=values)[0].params():
        raise ConfigError(
            "the final round refits with the probe round's settings; drop --config/"
            f"--set, or retrain the probe round of {name!r} with them first")
    # What the probe round resolved from the data (AutoRec's n_hidden = 0) is fixed now:
    # train+probe alone could resolve to another value.
    model, _ = make_predictor(family, values={**values, **probe.extra.get("resolved", {})})
    return run_training(ds, model, name, store, round_="final", probe_record=probe,
                        resume=resume, checkpoint_dir=checkpoint_dir, progress=progress,
                        save_model=save_model)


def _model_blob(model, ds: Dataset, name: str, round_: str, residuals_of: str | None,
                save: bool | None) -> dict[str, bytes]:
    """``{"model": npz bytes}`` when the fitted model is to be kept, else ``{}``."""
    from prize.models import persist

    if save is False or (save is None and persist.nbytes(model) > persist.SIZE_LIMIT):
        return {}
    return {"model": persist.dumps(model, {
        "dataset": ds.name, "dataset_fingerprint": ds.fingerprint, "name": name,
        "round": round_, "residuals_of": residuals_of})}


def check_replacement(store: ProbeStore, ds: Dataset, name: str, model,
                      residuals_of: str | None) -> None:
    """Refuse to replace a stored predictor by a different one (another family, model,
    config or base) unless forced; retraining the same one is fine."""
    try:
        old = store.meta(ds.name, name)
    except DataError:  # unreadable: nothing to lose
        return
    if old is None:
        return
    new = {"family": model.family, "model": model.name, "config": to_dict(model.config),
           "residuals_of": residuals_of}
    was = {"family": old.family, "model": old.model, "config": old.config,
           "residuals_of": old.residuals_of}
    if new != was:
        diff = sorted(k for k in set(new["config"]) | set(was["config"] or {})
                      if new["config"].get(k) != (was["config"] or {}).get(k))
        what = [k for k in ("family", "model", "residuals_of") if new[k] != was[k]] + diff
        raise ConfigError(
            f"predictor {name!r} is stored already with other settings ({', '.join(what)} "
            f"differ); pass --force to replace it, or choose another --name")


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


#: Seeds the dealing of training ratings into folds for out-of-fold predictions.
FOLD_SEED = 2007


def out_of_fold(model, ds: Dataset, train: Ratings, folds: int, n_epochs: int | None, *,
                progress: bool = False, label: str = "") -> np.ndarray:
    """Cross-fitted predictions of the training ratings (``--train-folds K``).

    The ratings are dealt into ``folds`` folds at random (seeded by :data:`FOLD_SEED`), and
    each fold is predicted by a fresh model of the same config fitted on the other folds --
    an iterative one for ``n_epochs`` (the probe round's best count), without early
    stopping -- so no rating's prediction has seen the rating. A flexible model's in-sample
    predictions lean toward the ratings it was fitted on (MF f = 100 on ``small-twin``:
    training RMSE far below probe), and a second model that learns on those residuals
    learns corrections that do not carry over to held-out ratings.
    """
    if folds < 2:
        raise ConfigError(f"train_folds = {folds}: expected 0 (in-sample) or at least 2")
    fold = np.random.default_rng(FOLD_SEED).integers(0, folds, len(train))
    out = np.empty(len(train), np.float32)
    for j in range(folds):
        fit_on, held = np.flatnonzero(fold != j), np.flatnonzero(fold == j)
        part = Ratings(train.user[fit_on], train.item[fit_on], train.rating[fit_on],
                       train.day[fit_on], train.n_users, train.n_items, train.scale)
        twin = type(model)(model.config)
        _fit(twin, ds, part, None, n_epochs=n_epochs, early_stopping=False, checkpoint=None,
             resume=False, progress=progress, label=f"{label}, fold {j + 1} of {folds}")
        del part
        out[held] = in_batches(len(held), lambda sl, m=twin, h=held: m.predict(
            train.user[h[sl]], train.item[h[sl]], train.day[h[sl]]))
    return out


def _fit(model, ds: Dataset, train, probe, *, n_epochs=None, early_stopping=None,
         checkpoint: Path | None, resume: bool, progress: bool, label: str) -> dict:
    """Fit ``model``; iterative models run epoch by epoch with a bar and checkpoints."""
    # Who rated what: every known pair (train, probe, qualifying), ratings unused.
    implicit = ds.all_pairs()
    if not isinstance(model, IterativePredictor):
        model.fit(train, probe=probe, implicit=implicit)
        return {}
    run = model.fit_epochs(train, probe=probe, implicit=implicit, n_epochs=n_epochs,
                           early_stopping=early_stopping)
    del implicit
    header = {"dataset_fingerprint": ds.fingerprint, "label": label}
    if resume and checkpoint is not None and checkpoint.is_file():
        ckpt = load_checkpoint(checkpoint)
        h = ckpt["header"]
        if (h.get("dataset_fingerprint") != ds.fingerprint or h.get("label") != label
                or h.get("config") != to_dict(model.config)):
            raise DataError("the checkpoint belongs to another dataset, round or config",
                            path=str(checkpoint), fix="Run without --resume to start afresh")
        run.restore(ckpt)
    from prize.progress import bar as progress_bar

    bar = progress_bar(run.n_epochs, label, "epochs", enabled=progress,
                       initial=run.progress.epoch)
    try:
        for r in run:
            if checkpoint is not None:
                run.save_checkpoint(checkpoint, header)
            post = {"train": f"{r.train_rmse:.4f}"}
            if r.probe_rmse is not None:
                post["probe"] = f"{r.probe_rmse:.4f}"
            post["rate"] = f"{r.updates / max(r.seconds, 1e-9) / 1e6:.1f}M/s"
            bar.set_postfix(post)
            bar.update(1)
    finally:
        bar.close()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return {"epochs": int(model.best_epoch_), "epochs_run": int(model.epochs_run_),
            "history": model.history_}


class Residuals:
    """Training on the residuals of a stored predictor (e.g. kNN on RBM residuals).

    The model learns r - base on the rating scale's span; its predictions are added back to
    the base predictor's and clipped. The base must have kept its training-set predictions
    (``--keep-train-predictions``). In the final round the probe rows' residuals use the
    base's probe-round (out-of-sample) predictions, the only ones stored for them.
    """

    def __init__(self, ds: Dataset, store: ProbeStore, name: str):
        meta = store.meta(ds.name, name)
        if meta is None or "train" not in meta.files:
            raise DataError(
                f"--residuals-of {name}: no stored training-set predictions of {name!r}",
                fix=f"Train it with --keep-train-predictions: prize train FAMILY --data "
                    f"{ds.name} --name {name} --keep-train-predictions")
        self.name = name
        self.base = {k: np.asarray(store.read(ds, name, k)) for k in ("train", "probe",
                                                                       "qualifying")}
        #: The base's stored files read, recorded with the predictor trained on its
        #: residuals, so that a retrained base shows the predictor is stale.
        self.files = {k: meta.files[k] for k in ("train", "probe", "qualifying")}
        lo, hi = ds.scale
        self.scale = (lo, hi)
        self.span = (lo - hi, hi - lo)

    def ratings(self, ds: Dataset, flags) -> Ratings:
        rows = ds.rows(flags)
        base = np.empty(len(rows), np.float32)
        for kind, flag in (("train", Split.TRAIN), ("probe", Split.PROBE)):
            if flags & flag:  # the stored arrays follow the dataset's rows of their kind
                base[np.searchsorted(rows, ds.rows_of(kind))] = self.base[kind]
        r = ds.select(rows)
        return Ratings(r.user, r.item, (r.rating - base).astype(np.float32), r.day,
                       r.n_users, r.n_items, scale=self.span)

    def add(self, kind: str, pred: np.ndarray) -> np.ndarray:
        return np.clip(self.base[kind] + pred, *self.scale).astype(np.float32)


#: The baseline family's models that other predictors are measured against: never refused.
REFERENCE_MODELS = ("global_mean", "movie_mean", "user_mean", "biases")
#: Families judged as rankings (prize evaluate --ranking), not by RMSE: never refused.
RANKING_FAMILIES = frozenset({"ease"})


def check_beats_reference(ds: Dataset, record: PredictorRecord, store: ProbeStore,
                          allow_worse: bool = False) -> None:
    """Refuse (exit 2) a model whose probe RMSE does not beat its reference: the biases
    mu + b_u + b_i (``prize train baseline --config biases``, fitted here on the same TRAIN:
    10 ALS sweeps, a fraction of the model's own time), or for a model on residuals, its
    base predictor.

    The simple baselines (:data:`REFERENCE_MODELS`) and the data set's reference predictor
    (the Cinematch proxy the leaderboard measures against) are references themselves and
    are never refused; neither is a ranking model (:data:`RANKING_FAMILIES`: EASE's job is
    the order of a user's items, its ratings are the biases plus a scaled score), a model
    without probe rows to judge by, nor any with ``allow_worse`` (``--allow-worse``).
    """
    probe_rmse, residuals_of = record.probe_rmse, record.residuals_of
    reference = (ds.meta.get("reference") or {}).get("name")  # the leaderboard's yardstick
    if allow_worse or probe_rmse is None or record.name == reference or (
            record.family == "baseline" and record.model in REFERENCE_MODELS) or (
            record.family in RANKING_FAMILIES):
        return
    if residuals_of:
        ref_name, ref = residuals_of, store.meta(ds.name, residuals_of).probe_rmse
    else:
        ref_name = "the biases baseline (prize train baseline --config biases)"
        biases, _ = make_predictor("baseline", "biases")  # exactly what that command fits
        ref = score_probe(ds, _predict_rows(biases.fit(ds.ratings(Split.TRAIN)), ds,
                                            ds.rows_of("probe")))
    if ref is None or probe_rmse < ref:
        return
    raise ConfigError(
        f"{record.family} ({record.model}) scored a probe RMSE of {probe_rmse:.4f}, no better "
        f"than {ref_name} at {ref:.4f}; nothing was stored. Try another config (--config) "
        "or settings (--set, e.g. stronger regularisation or early_stopping=true), or "
        "store it anyway with --allow-worse")


def run_training(ds: Dataset, model, name: str, store: ProbeStore, *, round_: str = "probe",
                 probe_record: PredictorRecord | None = None, resume: bool = False,
                 keep_train: bool = False, train_folds: int = 0,
                 checkpoint_dir: Path | None = None,
                 progress: bool = False, residuals_of: str | None = None,
                 save_model: bool | None = None, allow_worse: bool = True) -> PredictorRecord:
    """Fit a built ``model`` for one round and commit it as ``name`` (:func:`train` builds
    the model; the final round needs the probe round's ``probe_record``)."""
    t0 = time.perf_counter()
    # checkpoints/<dataset>/<name>/: both names checked, neither a link leading out.
    ckpt = (inside(checkpoint_dir.parent, checkpoint_dir.name, check_name(name))
            / f"{round_}.npz" if checkpoint_dir is not None else None)
    if round_ == "final":
        if probe_record is None:
            raise DataError(f"no probe round of {name!r} to refit")
        residuals_of = probe_record.residuals_of
    res = Residuals(ds, store, residuals_of) if residuals_of else None

    def ratings(flags):
        return res.ratings(ds, flags) if res is not None else ds.ratings(flags)

    def predict(kind):
        pred = _predict_rows(model, ds, ds.rows_of(kind))
        return res.add(kind, pred) if res is not None else pred

    if round_ == "probe":
        train = ratings(Split.TRAIN)
        info = _fit(model, ds, train, ratings(Split.PROBE), checkpoint=ckpt, resume=resume,
                    progress=progress, label=f"{name} (probe round)")
        arrays = {"probe": predict("probe"), "qualifying": predict("qualifying")}
        if keep_train or train_folds:  # the model's own notion, or out of fold
            pred = (out_of_fold(model, ds, train, train_folds, info.get("epochs"),
                                progress=progress, label=f"{name} (out of fold)")
                    if train_folds else _predict_training(model, train))
            arrays["train"] = res.add("train", pred) if res is not None else pred
        del train
        scores = score_qualifying(ds, arrays["qualifying"])
        record = PredictorRecord(
            name=name, family=model.family, model=model.name, config=to_dict(model.config),
            round="probe", residuals_of=residuals_of,
            probe_rmse=score_probe(ds, arrays["probe"]), quiz_rmse=scores["quiz"],
            test_rmse=scores["test"], seconds=time.perf_counter() - t0, **info)
        # What a model resolved from the data at fit time (AutoRec's n_hidden = 0), beside
        # the config as given; the final round reuses it.
        if getattr(model, "resolved_", None):
            record.extra["resolved"] = dict(model.resolved_)
        if train_folds:
            record.extra["train_folds"] = int(train_folds)
        if res is not None:
            record.extra["base_files"] = dict(res.files)
        check_beats_reference(ds, record, store, allow_worse)
        return store.write(ds, name, arrays, record, blobs=_model_blob(
            model, ds, name, round_, residuals_of, save_model))
    n_epochs = probe_record.epochs or None
    info = _fit(model, ds, ratings(Split.TRAIN | Split.PROBE), None, n_epochs=n_epochs,
                early_stopping=False, checkpoint=ckpt, resume=resume, progress=progress,
                label=f"{name} (final round)")
    qualifying = predict("qualifying")
    scores = score_qualifying(ds, qualifying)
    record = dataclasses.replace(
        probe_record, round="final", quiz_rmse=scores["quiz"], test_rmse=scores["test"],
        extra={**probe_record.extra, "quiz_rmse_probe_round": probe_record.quiz_rmse,
               "test_rmse_probe_round": probe_record.test_rmse,
               "final_seconds": time.perf_counter() - t0,
               **({"base_files": dict(res.files)} if res is not None else {})})
    keep = tuple(k for k in ("probe", "train") if k in probe_record.files)
    return store.write(ds, name, {"qualifying": qualifying}, record, keep=keep,
                       blobs=_model_blob(model, ds, name, round_, residuals_of, save_model))
