"""Koren's global neighbourhood model (the ``global`` model), learned by SGD.

Koren 2008, "Factorization meets the neighborhood: a multifaceted collaborative filtering
model", KDD, section 3 (eq. 10 with the neighbourhood restricted to S^k(i)):

    r̂_ui = mu + b_u + b_i + |R^k(i;u)|^-1/2 sum_{j in R^k(i;u)} (r_uj - b_uj) w_ij
                          + |N^k(i;u)|^-1/2 sum_{j in N^k(i;u)} c_ij

S^k(i) is the k items most similar to i (shrunk correlation, as in the ``item`` model),
R^k(i;u) = R(u) ∩ S^k(i) the neighbours u rated in training, N^k(i;u) = N(u) ∩ S^k(i) the
neighbours u is known to have rated at all (training, probe and qualifying pairs: the
implicit "who rated what" signal, :func:`prize.models.base.implicit_pairs`). Unlike the
interpolation weights of ``interp``, the w_ij and c_ij are global (not user-specific) and
learned from the data together with b_u and b_i; the b_uj inside the sum are the fixed baseline (the
baseline family's ``biases``), which also initialises b_u and b_i. Each rating's SGD step
(:func:`_kernels.global_epoch`) is, with e_ui = r_ui - r̂_ui:

    b_u  += gamma (e_ui - lambda_b b_u)                 b_i  += gamma (e_ui - lambda_b b_i)
    w_ij += gamma (|R^k(i;u)|^-1/2 e_ui (r_uj - b_uj) - lambda w_ij)
    c_ij += gamma (|N^k(i;u)|^-1/2 e_ui - lambda c_ij)

Koren's Netflix values: gamma = 0.005, lambda = 0.002, about 15 epochs, accuracy growing
with k (about 0.900 probe RMSE with every item a neighbour), ahead of both correlation and
interpolation weights there. The "integrated model" that adds SVD++'s factors is
:mod:`prize.models.knn.integrated`, a subclass of this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from prize.data.dataset import Ratings
from prize.models.base import implicit_pairs, take
from prize.models.epochs import IterativeConfig, IterativePredictor, epoch_rng
from prize.models.knn import _kernels as K
from prize.models.knn._neighbours import (
    DYNAMIC,
    by_user,
    check_common,
    compute_neighbours,
    fit_baseline,
    pairs_by_user,
    user_major,
)


@dataclass(frozen=True)
class GlobalNeighbourhoodConfig(IterativeConfig):
    k: int = 300
    """|S^k(i)|: neighbours per item, each with a learned w_ij and c_ij (more is better but
    slower: on the small preset 50, 100, 200, 300 gave 0.9255, 0.9215, 0.9187, 0.9176)."""
    similarity: str = "pearson_baseline"
    """How S^k(i) is chosen: a name in :data:`prize.models.knn.SIMILARITIES`."""
    shrinkage: float = 100.0
    """lambda of the neighbour-selecting similarity s_ij = n_ij / (n_ij + lambda) rho_ij."""
    n_epochs: int = 15
    """SGD sweeps over the training ratings (Koren: about 15)."""
    lr: float = 0.005
    """gamma, the SGD step size (Koren: 0.005)."""
    lr_decay: float = 0.9
    """gamma is multiplied by this after every epoch."""
    reg: float = 0.01
    """lambda, the weight decay of w_ij and c_ij (Koren: 0.002; 0.01 did better on the
    synthetic small preset, 0.9163 against 0.9176 at k = 300)."""
    reg_bias: float = 0.002
    """lambda_b, the weight decay of the learned b_u and b_i."""
    baseline_epochs: int = 10
    """ALS sweeps of the fixed baseline b_uj = mu + b_u + b_j (the baseline family's
    biases)."""
    baseline_reg_item: float = 10.0
    """lambda_2 of the fixed baseline: pseudo-ratings pulling each b_i toward 0."""
    baseline_reg_user: float = 15.0
    """lambda_3 of the fixed baseline: pseudo-ratings pulling each b_u toward 0."""

    early_stopping: bool = True
    """Stop once the probe RMSE has not improved for ``patience`` epochs, keeping the best
    epoch (without it the noisy tiny preset lost 0.018 to the biases)."""

    def __post_init__(self):
        super().__post_init__()
        check_common(self)
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError("lr must be > 0 and lr_decay in (0, 1]")
        if self.reg < 0 or self.reg_bias < 0:
            raise ValueError("reg and reg_bias must be >= 0")


class GlobalNeighbourhood(IterativePredictor):
    """Koren's global neighbourhood model (module docstring), one SGD sweep per epoch.

    Learned state (``state_dict``): ``bu``, ``bi``, ``w``, ``c``, the neighbour lists
    ``nb_idx``/``nb_cnt`` and the fixed baseline ``base_mu``/``base_bu``/``base_bi``. The
    residuals by user (``ratings_``) and the implicit pairs (``implicit_ptr_``,
    ``implicit_items_``) are rebuilt from the data when an epoch finds them missing.
    """

    family = "knn"
    name = "global"
    Config = GlobalNeighbourhoodConfig

    def start(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        cfg = self.config
        base = fit_baseline(train, cfg)
        self.base_mu_, self.base_bu_, self.base_bi_ = base.mu_, base.bu_, base.bi_
        self._build_data(train, implicit)
        nb = compute_neighbours(self.ratings_, train.n_items, similarity=cfg.similarity,
                                shrinkage=cfg.shrinkage, dense=False, top=cfg.k)
        self.nb_idx_, self.nb_cnt_ = nb.idx, nb.cnt
        self.bu_ = self.base_bu_.copy()
        self.bi_ = self.base_bi_.copy()
        self.w_ = np.zeros((train.n_items, cfg.k))
        self.c_ = np.zeros((train.n_items, cfg.k))

    def resume(self, train: Ratings, implicit: Ratings | None, state) -> None:
        self.load_state_dict(state)
        self._build_data(train, implicit)

    def _implicit_pairs(self, train: Ratings, implicit: Ratings | None):
        return implicit_pairs(train, implicit)

    def _build_data(self, train: Ratings, implicit: Ratings | None) -> None:
        self.ratings_ = user_major(train, self.base_mu_, self.base_bu_, self.base_bi_)
        self.implicit_ptr_, self.implicit_items_ = pairs_by_user(
            *self._implicit_pairs(train, implicit), train.n_users, train.n_items)

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        cfg = self.config
        um = self.ratings_
        order = epoch_rng(cfg.seed, epoch).permutation(train.n_users).astype(np.int64)
        sse = self._sweep(order, cfg.lr_decay ** (epoch - 1))
        n = len(um.items)
        return float(np.sqrt(sse / max(n, 1))), n

    def _sweep(self, order: np.ndarray, decay: float) -> float:
        """One SGD sweep over the users in ``order`` with the step size times ``decay``;
        returns the sum of squared errors."""
        cfg, um = self.config, self.ratings_
        return K.global_epoch(order, um.ptr, um.items, um.rating, um.z, self.implicit_ptr_,
                              self.implicit_items_, self.nb_idx_, self.nb_cnt_, self.bu_,
                              self.bi_, self.w_, self.c_, float(self.base_mu_),
                              float(cfg.lr * decay), float(cfg.reg_bias), float(cfg.reg))

    def _predict(self, users, items, days):
        est = self.base_mu_ + take(self.bu_, users) + take(self.bi_, items)
        known = (users >= 0) & (users < self.n_users_) & (items >= 0) & (items < self.n_items_)
        rows = np.flatnonzero(known)
        if len(rows):
            order, qu, qi, chunk_ptr = by_user(users[rows], items[rows])
            out = np.empty(len(rows))
            with numba.parallel_chunksize(DYNAMIC):
                self._predict_known(qu, qi, chunk_ptr, out)
            est[rows[order]] = out
        return est

    def _predict_known(self, qu, qi, chunk_ptr, out) -> None:
        """r̂_ui into ``out`` for known (user, item) queries sorted by user (chunked)."""
        um = self.ratings_
        K.global_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z, self.implicit_ptr_,
                         self.implicit_items_, self.nb_idx_, self.nb_cnt_, self.bu_, self.bi_,
                         self.w_, self.c_, out, float(self.base_mu_))

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {"bu": self.bu_, "bi": self.bi_, "w": self.w_, "c": self.c_,
                "nb_idx": self.nb_idx_, "nb_cnt": self.nb_cnt_,
                "base_mu": np.float64(self.base_mu_), "base_bu": self.base_bu_,
                "base_bi": self.base_bi_}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.bu_ = np.array(state["bu"], np.float64)
        self.bi_ = np.array(state["bi"], np.float64)
        self.w_ = np.array(state["w"], np.float64)
        self.c_ = np.array(state["c"], np.float64)
        self.nb_idx_ = np.array(state["nb_idx"], np.int32)
        self.nb_cnt_ = np.array(state["nb_cnt"], np.int32)
        self.base_mu_ = float(state["base_mu"])
        self.base_bu_ = np.array(state["base_bu"], np.float64)
        self.base_bi_ = np.array(state["base_bi"], np.float64)
