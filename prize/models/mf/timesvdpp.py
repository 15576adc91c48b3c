"""``timesvdpp``: timeSVD++ (Koren, "Collaborative filtering with temporal dynamics",
KDD 2009), with the frequency-aware item biases of BellKor's 2009 Grand Prize paper.

    r̂_ui(t) = μ + b_u + α_u·dev_u(t) + b_{u,t} + (b_i + b_{i,Bin(t)})·(c_u + c_{u,t})
              + b_{i,f_ut} + q_iᵀ (p_u + α_u^p·dev_u(t) [+ p_{u,t}] + |N(u)|^-½ Σ_{j∈N(u)} y_j)

- dev_u(t) = sign(t − t_u)·|t − t_u|^β, t_u the mean date of u's ratings, β = 0.4;
- Bin(t): the data's date range in ``n_bins`` equal bins (30 on Netflix);
- b_{u,t}, c_{u,t}: day-specific user bias and scale, one per (user, day) pair known in
  any set (a day seen only in qualifying keeps its zero);
- f_ut = ⌊log_a F_ut⌋, F_ut the number of ratings u gave on day t (all known pairs, as
  BellKor counted them), a = 6.76 (Koren, "The BellKor Solution to the Netflix Grand
  Prize", 2009), capped at ``n_freq_bins`` − 1;
- p_{u,t}: optional day-specific user factors (memory: one f-vector per (user, day)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.models.base import take
from prize.models.epochs import IterativeConfig
from prize.models.mf import _kernels
from prize.models.mf.common import FactorModel

# Order of the per-parameter learning rates and regularisations given to the kernel.
PARAMS = ("bu", "alpha", "but", "cu", "cut", "bi", "bit", "bif", "p", "alpha_p", "q", "y",
          "put")


@dataclass(frozen=True)
class TimeSVDppConfig(IterativeConfig):
    n_factors: int = 20
    """f, the number of latent factors."""
    n_epochs: int = 20
    """Sweeps over the training ratings."""
    lr: float = 0.007
    """Learning rate of p_u, q_i, y_j."""
    reg: float = 0.02
    """Regularisation of p_u, q_i, y_j."""
    lr_bias: float = 0.005
    """Learning rate of b_u and b_i."""
    reg_bias: float = 0.005
    """Regularisation of b_u and b_i."""
    lr_alpha: float = 1e-5
    """Learning rate of α_u (dev_u(t) reaches ~20 on Netflix: it must be small)."""
    reg_alpha: float = 50.0
    """Regularisation of α_u (Koren: 50)."""
    lr_day: float = 0.0025
    """Learning rate of the day-specific user bias b_{u,t}."""
    reg_day: float = 0.005
    """Regularisation of b_{u,t}."""
    lr_day_scale: float = 0.002
    """Learning rate of the day-specific scale c_{u,t}."""
    reg_day_scale: float = 0.005
    """Regularisation of c_{u,t}."""
    lr_bin: float = 5e-5
    """Learning rate of the time-bin item biases b_{i,Bin(t)}."""
    reg_bin: float = 0.1
    """Regularisation of b_{i,Bin(t)}."""
    lr_scale: float = 0.008
    """Learning rate of the user scale c_u (regularised toward 1)."""
    reg_scale: float = 0.01
    """Regularisation of c_u."""
    lr_freq: float = 0.002
    """Learning rate of the frequency item biases b_{i,f}."""
    reg_freq: float = 0.02
    """Regularisation of b_{i,f}."""
    lr_alpha_p: float = 1e-5
    """Learning rate of the user-factor drift α_u^p."""
    reg_alpha_p: float = 50.0
    """Regularisation of α_u^p."""
    lr_decay: float = 0.95
    """Multiplies every learning rate after each epoch."""
    n_bins: int = 30
    """Number of item time bins."""
    beta: float = 0.4
    """Exponent of dev_u(t)."""
    frequency: bool = True
    """Use the frequency-aware item biases b_{i,f}."""
    freq_base: float = 6.76
    """a, the logarithm base of the frequency bins."""
    n_freq_bins: int = 8
    """Frequency bins (f_ut is capped at n_freq_bins − 1)."""
    day_factors: bool = False
    """Add day-specific user factors p_{u,t} (memory-heavy)."""
    init_std: float = 0.05
    """Standard deviation of the normal initialisation of the factors."""
    implicit: Literal["all", "train"] = "all"
    """N(u): "all" known pairs (train, probe, qualifying) or only "train" pairs."""
    shuffle: bool = True
    """Visit users in a new random order every epoch."""


class TimeSVDpp(FactorModel):
    family = "timesvdpp"
    name = "timesvdpp"
    Config = TimeSVDppConfig
    uses_implicit = True
    _param_names = ("bu_", "au_", "but_", "cu_", "cut_", "bi_", "bit_", "bif_", "P_", "AP_",
                    "Q_", "Y_", "PT_", "tu_")

    def _rates(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        lr = [c.lr_bias, c.lr_alpha, c.lr_day, c.lr_scale, c.lr_day_scale, c.lr_bias, c.lr_bin,
              c.lr_freq if c.frequency else 0.0, c.lr, c.lr_alpha_p, c.lr, c.lr, c.lr]
        reg = [c.reg_bias, c.reg_alpha, c.reg_day, c.reg_scale, c.reg_day_scale, c.reg_bias,
               c.reg_bin,
               c.reg_freq, c.reg, c.reg_alpha_p, c.reg, c.reg, c.reg]
        return np.array(lr, np.float32), np.array(reg, np.float32)

    # -- time features ------------------------------------------------------------------
    def _time_tables(self, train, implicit) -> None:
        """Per-user mean day t_u, the date range for bins, and the (user, day) slots and
        their rating counts over every known pair."""
        csr = self._csr
        n_users = train.n_users
        counts = np.diff(csr.indptr)
        sums = np.bincount(csr.user, weights=csr.day.astype(np.float64), minlength=n_users)
        self.tu_ = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).astype(np.float32)
        src = self._implicit_source(train, implicit)
        users = np.asarray(src.user, np.int64)
        days = np.asarray(src.day, np.int64)
        self.day0_ = int(min(days.min(), csr.day.min())) if len(days) else 0
        self.day1_ = int(max(days.max(), csr.day.max())) if len(days) else 1
        key = users * (1 << 20) + (days - self.day0_)
        self.slot_keys_, self.slot_count_ = np.unique(key, return_counts=True)

    def _features(self, users, days):
        """dev, time bin, slot (−1: a (user, day) never seen) and frequency bin per pair."""
        c = self.config
        users = np.asarray(users, np.int64)
        days = np.asarray(days, np.int64)
        tu = take(self.tu_, users).astype(np.float64)
        diff = days - tu
        dev = (np.sign(diff) * np.abs(diff) ** c.beta).astype(np.float32)
        span = max(self.day1_ - self.day0_ + 1, 1)
        tbin = np.clip((days - self.day0_) * c.n_bins // span, 0, c.n_bins - 1).astype(np.int32)
        key = users * (1 << 20) + (days - self.day0_)
        pos = np.minimum(np.searchsorted(self.slot_keys_, key), len(self.slot_keys_) - 1)
        found = (len(self.slot_keys_) > 0) & (self.slot_keys_[pos] == key)
        slot = np.where(found, pos, -1).astype(np.int64)
        freq = np.where(found, self.slot_count_[pos], 1)
        fbin = np.minimum(np.floor(np.log(freq) / np.log(c.freq_base)), c.n_freq_bins - 1)
        return dev, tbin, slot, fbin.astype(np.int32)

    # -- training -----------------------------------------------------------------------
    def _init_params(self, train, rng, implicit):
        c = self.config
        self._time_tables(train, implicit)
        U, I, F, S = train.n_users, train.n_items, c.n_factors, len(self.slot_keys_)
        z = np.zeros
        self.bu_, self.au_, self.cu_ = z(U, np.float32), z(U, np.float32), np.ones(U, np.float32)
        self.but_, self.cut_ = z(S, np.float32), z(S, np.float32)
        self.bi_, self.bit_ = z(I, np.float32), z((I, c.n_bins), np.float32)
        self.bif_ = z((I, c.n_freq_bins), np.float32)
        self.P_ = self._normal(rng, (U, F))
        self.AP_ = z((U, F), np.float32)
        self.Q_ = self._normal(rng, (I, F))
        self.Y_ = self._normal(rng, (I, F))
        self.PT_ = z((S if c.day_factors else 0, F), np.float32)

    def state_dict(self):
        return super().state_dict() | {"day0": np.int64(self.day0_), "day1": np.int64(self.day1_),
                                       "slot_keys": self.slot_keys_,
                                       "slot_count": self.slot_count_}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.day0_, self.day1_ = int(state["day0"]), int(state["day1"])
        self.slot_keys_, self.slot_count_ = state["slot_keys"], state["slot_count"]
        self._rows = None

    def _epoch(self, csr, perm, decay, epoch):
        rows = getattr(self, "_rows", None)
        if rows is None or rows[0] is not csr:
            self._rows = (csr, *self._features(csr.user, csr.day))
        _, dev, tbin, slot, fbin = self._rows
        lr, reg = self._rates()
        return _kernels.timesvdpp_epoch(
            csr.indptr, csr.item, csr.rating, perm, self._nptr, self._nitem, dev, tbin, slot,
            fbin, self.mu_, self.bu_, self.au_, self.but_, self.cu_, self.cut_, self.bi_,
            self.bit_, self.bif_, self.P_, self.AP_, self.Q_, self.Y_, self.PT_,
            (lr * decay).astype(np.float32), reg)

    def finish(self, train):
        super().finish(train)
        self._rows = None

    # -- prediction ---------------------------------------------------------------------
    def _biases(self, users, items, days):
        dev, tbin, slot, fbin = self._features(users, days)
        known_i = (items >= 0) & (items < len(self.bi_))
        ii = np.where(known_i, items, 0)
        bit = np.where(known_i, self.bit_[ii, tbin], 0.0)
        bif = np.where(known_i, self.bif_[ii, fbin], 0.0) if self.config.frequency else 0.0
        but = take(self.but_, slot)
        cut = take(self.cut_, slot)
        cu = take(self.cu_, users, default=1.0)
        bi = take(self.bi_, items)
        return (self.mu_ + take(self.bu_, users) + take(self.au_, users) * dev + but
                + (bi + bit) * (cu + cut) + bif)

    def _predict(self, users, items, days):
        base = self._biases(users, items, days).astype(np.float32)
        dev = self._features(users, days)[0]
        out = np.empty(len(users), np.float32)
        _kernels.predict_factors(users, items, base, self._user_factors(), self.Q_, self.AP_,
                                 dev, out)
        if self.PT_.shape[0]:
            slot = self._features(users, days)[2]
            ok = (slot >= 0) & (items >= 0) & (items < len(self.Q_))
            out[ok] += np.einsum("kf,kf->k", self.PT_[slot[ok]], self.Q_[items[ok]])
        return out
