"""The shared epoch loop: early stopping, divergence, checkpoints and exact resume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from planted import planted

from prize.errors import DataError
from prize.models.base import take
from prize.models.epochs import (
    DivergenceError,
    IterativeConfig,
    IterativePredictor,
    Trainer,
    epoch_rng,
    load_checkpoint,
    train,
)


@dataclass(frozen=True)
class ToyConfig(IterativeConfig):
    lr: float = 0.02
    reg: float = 0.02


class ToySGD(IterativePredictor):
    """Biases by SGD in a shuffled order: enough state and randomness to test the loop."""

    family, name, Config = "toy", "toy", ToyConfig

    def start(self, train, probe, implicit):
        self.mu_ = float(np.mean(train.rating))
        rng = np.random.default_rng(self.config.seed)
        self.bu_ = rng.normal(0, 0.01, train.n_users)
        self.bi_ = rng.normal(0, 0.01, train.n_items)

    def run_epoch(self, epoch, train):
        c = self.config
        order = epoch_rng(c.seed, epoch).permutation(len(train))
        se = 0.0
        for k in order[:2000]:
            u, i = train.user[k], train.item[k]
            e = train.rating[k] - self.mu_ - self.bu_[u] - self.bi_[i]
            se += e * e
            self.bu_[u] += c.lr * (e - c.reg * self.bu_[u])
            self.bi_[i] += c.lr * (e - c.reg * self.bi_[i])
        return float(np.sqrt(se / 2000)), 2000

    def state_dict(self):
        return {"mu": np.array(self.mu_), "bu": self.bu_, "bi": self.bi_}

    def load_state_dict(self, s):
        self.mu_, self.bu_, self.bi_ = float(s["mu"]), s["bu"].copy(), s["bi"].copy()

    def _predict(self, users, items, days):
        return self.mu_ + take(self.bu_, users) + take(self.bi_, items)


@pytest.fixture(scope="module")
def data():
    return planted(seed=3)


def fitted(cfg, data, **kw):
    m = ToySGD(cfg)
    m.scale_ = (1.0, 5.0)
    reports = train(m, data[0], probe=data[1], **kw)
    return m, reports


def test_fit_runs_all_epochs_and_records_history(data):
    m = ToySGD(ToyConfig(n_epochs=4)).fit(data[0], probe=data[1])
    assert m.epochs_run_ == 4 and len(m.history_) == 4
    assert all(h["probe_rmse"] is not None for h in m.history_)


def test_early_stopping_restores_the_best_epoch(data):
    # A learning rate so large that probe RMSE gets worse after a few epochs.
    cfg = ToyConfig(n_epochs=30, lr=0.3, reg=0.0, early_stopping=True, patience=2)
    m, reports = fitted(cfg, data)
    best = min(r.probe_rmse for r in reports)
    assert m.epochs_run_ < 30
    assert m.best_epoch_ == 1 + int(np.argmin([r.probe_rmse for r in reports]))
    pr = data[1]
    from prize.metrics import rmse
    assert rmse(m.predict(pr.user, pr.item, pr.day), pr.rating) == pytest.approx(best, abs=1e-6)


def test_min_epochs_holds_early_stopping_back(data):
    # The same run as above, told not to stop before epoch 12: it runs at least that long,
    # and still keeps (and restores) its best epoch, which comes early.
    cfg = ToyConfig(n_epochs=30, lr=0.3, reg=0.0, early_stopping=True, patience=2)
    early, _ = fitted(cfg, data)
    held, reports = fitted(ToyConfig(**{**cfg.__dict__, "min_epochs": 12}), data)
    assert early.epochs_run_ < 12 <= held.epochs_run_ < 30
    assert held.best_epoch_ == 1 + int(np.argmin([r.probe_rmse for r in reports]))
    assert held.best_epoch_ < 12


def test_divergence_stops_with_advice(data):
    with pytest.raises(DivergenceError, match="lower the learning rate|Lower the learning rate"):
        fitted(ToyConfig(n_epochs=5, lr=50.0), data)


def test_checkpoint_resume_repeats_the_uninterrupted_run(data, tmp_path):
    cfg = ToyConfig(n_epochs=6)
    full, _ = fitted(cfg, data)
    # Interrupted after 3 epochs: checkpoint, then a fresh process-like restart.
    m = ToySGD(cfg)
    m.scale_ = (1.0, 5.0)
    t = Trainer(m, data[0], data[1])
    run = t.run()
    for _ in range(3):
        next(run)
    t.save_checkpoint(tmp_path / "ckpt.npz")
    m2 = ToySGD(cfg)
    m2.scale_ = (1.0, 5.0)
    t2 = Trainer(m2, data[0], data[1])
    t2.restore(load_checkpoint(tmp_path / "ckpt.npz"))
    list(t2.run())
    assert m2.epochs_run_ == 6
    np.testing.assert_array_equal(m2.bu_, full.bu_)
    np.testing.assert_array_equal(m2.bi_, full.bi_)


def test_crafted_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([Evil()], dtype=object))
    with pytest.raises(DataError, match="pickled objects"):
        load_checkpoint(path)
    assert not marker.exists()
