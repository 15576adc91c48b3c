"""Koren's integrated model (the ``integrated`` model): the global neighbourhood model plus
SVD++'s factors, learned together by SGD.

Koren 2008, "Factorization meets the neighborhood: a multifaceted collaborative filtering
model", KDD, section 5 (eq. 16):

    r̂_ui = mu + b_u + b_i + q_iᵀ(p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)
           + |R^k(i;u)|^-1/2 sum_{j in R^k(i;u)} (r_uj - b_uj) w_ij
           + |N^k(i;u)|^-1/2 sum_{j in N^k(i;u)} c_ij

The first line is SVD++ (``prize.models.mf.svdpp``), the second the ``global`` model
(:mod:`prize.models.knn.global_neighbourhood`, whose neighbour table S^k(i), fixed baseline
b_uj = mu + b_u + b_j and implicit CSR N(u) are reused as they are): the factors capture
the broad structure of the data, the neighbour weights the strong local ties that a few
dozen factors blur. Every parameter moves at each rating, with e_ui = r_ui - r̂_ui
(:func:`_kernels.integrated_epoch`; the y-gradient is applied once per user per sweep,
as in the SVD++ kernel):

    b_u, b_i  += gamma_1 (e_ui - lambda_6 b)
    q_i  += gamma_2 (e_ui (p_u + |N(u)|^-1/2 sum y_j) - lambda_7 q_i)
    p_u  += gamma_2 (e_ui q_i - lambda_7 p_u)
    y_j  += gamma_2 (e_ui |N(u)|^-1/2 q_i - lambda_7 y_j)              j in N(u)
    w_ij += gamma_3 (|R^k(i;u)|^-1/2 e_ui (r_uj - b_uj) - lambda_8 w_ij)  j in R^k(i;u)
    c_ij += gamma_3 (|N^k(i;u)|^-1/2 e_ui - lambda_8 c_ij)               j in N^k(i;u)

Koren's Netflix values: gamma_1 = gamma_2 = 0.007, gamma_3 = 0.001, lambda_6 = 0.005,
lambda_7 = lambda_8 = 0.015, all steps x 0.9 per sweep; k = 300 and f = 50 gave 0.8933
probe RMSE there (SVD++ at f = 50: 0.8952; the global model: 0.9002). On the synthetic
``small`` preset, whose ratings have little local structure beyond their item families,
Koren's values give 0.9515 and the shipped ones (more factor regularisation, no step
decay, slower neighbour weights) 0.9473: ahead of the ``global`` model (0.9544) but behind
plain SVD++ (0.9455) -- the neighbour terms cost the factors there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.config import check_memory
from prize.data.dataset import Ratings
from prize.models.epochs import IterativeConfig
from prize.models.knn import _kernels as K
from prize.models.knn._neighbours import check_common
from prize.models.knn.global_neighbourhood import GlobalNeighbourhood


@dataclass(frozen=True)
class IntegratedConfig(IterativeConfig):
    k: int = 300
    """|S^k(i)|: neighbours per item, each with a learned w_ij and c_ij."""
    similarity: str = "pearson_baseline"
    """How S^k(i) is chosen: a name in :data:`prize.models.knn.SIMILARITIES`."""
    shrinkage: float = 100.0
    """lambda of the neighbour-selecting similarity s_ij = n_ij / (n_ij + lambda) rho_ij."""
    n_factors: int = 50
    """f, the length of p_u, q_i and y_j."""
    n_epochs: int = 40
    """SGD sweeps over the training ratings, at most (early stopping picks the count)."""
    lr_bias: float = 0.007
    """gamma_1, the step size of b_u and b_i (Koren: 0.007)."""
    lr: float = 0.007
    """gamma_2, the step size of p_u, q_i and y_j (Koren: 0.007)."""
    lr_weights: float = 0.003
    """gamma_3, the step size of w_ij and c_ij (Koren: 0.001). 0.0003, best on the synthetic
    small preset with reg = 0.04 (0.9473 against 0.9493), left the weights near 0 on small
    sets, where they gain most (a 50k-rating MovieLens subsample: quiz margin over the
    biases +0.0031 at reg = 0.1, +0.0065 with 0.003)."""
    lr_decay: float = 1.0
    """Every step size is multiplied by this after every epoch (Koren: 0.9; on the small
    preset that stops the factors early, 0.9527 at best against 0.9493 with 1.0)."""
    reg_bias: float = 0.005
    """lambda_6, the weight decay of b_u and b_i (Koren: 0.005)."""
    reg: float = 0.1
    """lambda_7, the weight decay of p_u, q_i and y_j (Koren: 0.015, which overfits on the
    small preset; 0.04, the svdpp config's, overfit small sets within a few epochs)."""
    reg_weights: float = 0.015
    """lambda_8, the weight decay of w_ij and c_ij (Koren: 0.015)."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of p_u, q_i and y_j."""
    implicit: Literal["all", "train"] = "all"
    """N(u): "all" known pairs (train, probe, qualifying) or only "train" pairs."""
    baseline_epochs: int = 10
    """ALS sweeps of the fixed baseline b_uj = mu + b_u + b_j (the baseline family's
    biases), which also starts the learned b_u and b_i."""
    baseline_reg_item: float = 10.0
    """lambda_2 of the fixed baseline: pseudo-ratings pulling each b_i toward 0."""
    baseline_reg_user: float = 15.0
    """lambda_3 of the fixed baseline: pseudo-ratings pulling each b_u toward 0."""

    early_stopping: bool = True
    """Stop once the probe RMSE has not improved for ``patience`` epochs, keeping the best
    epoch (without it the noisy tiny preset lost 0.018 to the biases)."""
    patience: int = 3
    """Epochs without a probe improvement before early stopping."""

    def __post_init__(self):
        super().__post_init__()
        check_common(self)
        if self.n_factors < 1:
            raise ValueError(f"n_factors = {self.n_factors}: expected an integer >= 1")
        if min(self.lr_bias, self.lr, self.lr_weights) <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError("lr_bias, lr and lr_weights must be > 0 and lr_decay in (0, 1]")
        if min(self.reg_bias, self.reg, self.reg_weights) < 0:
            raise ValueError("reg_bias, reg and reg_weights must be >= 0")
        if self.init_std < 0:
            raise ValueError(f"init_std = {self.init_std}: expected a number >= 0")
        if self.implicit not in ("all", "train"):
            raise ValueError(f"implicit = {self.implicit!r}: expected 'all' or 'train'")


def visit_by_day(train: Ratings) -> np.ndarray:
    """Positions in the user-major arrays of ``user_major`` (by user, then item) listed by
    user, then day (ties in row order): the order in which a sweep visits u's ratings.

    The factors learn from the order: visiting each user's most recent ratings last leaves
    p_u and the y_j closest to the user's latest taste, which is what probe and qualifying
    ask for (the hold-out is the most recent ratings). On the synthetic ``small`` preset,
    SVD++ swept in item order lost 0.0045 probe RMSE (0.9455 -> 0.9501).
    """
    n = len(train)
    if n >= 2**31:
        raise ValueError(f"{n} training ratings: more than int32 positions can address")
    user = np.asarray(train.user).astype(np.int64)
    key = user * max(train.n_items, 1) + np.asarray(train.item)
    pos = np.empty(n, np.int32)
    pos[np.argsort(key, kind="stable")] = np.arange(n, dtype=np.int32)
    del key
    return pos[np.lexsort((np.asarray(train.day), user))]


class Integrated(GlobalNeighbourhood):
    """Koren's integrated model (module docstring), one SGD sweep per epoch.

    Learned state (``state_dict``): that of :class:`GlobalNeighbourhood` plus the factors
    ``P`` (users x f), ``Q`` and ``Y`` (items x f). After fitting, the rows of P and Q of
    users and items without training ratings are zero, so that they fall back to the
    biases (a user still keeps the implicit part |N(u)|^-1/2 sum y_j).
    """

    name = "integrated"
    Config = IntegratedConfig

    def start(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        super().start(train, probe, implicit)
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        f = cfg.n_factors
        check_memory(8.0 * f * (train.n_users + 2 * train.n_items),
                     f"the integrated model with n_factors = {f} on {train.n_users:,} users "
                     f"and {train.n_items:,} items", "Lower n_factors")
        self.P_ = rng.normal(0.0, cfg.init_std, (train.n_users, f))
        self.Q_ = rng.normal(0.0, cfg.init_std, (train.n_items, f))
        self.Y_ = rng.normal(0.0, cfg.init_std, (train.n_items, f))

    def _implicit_pairs(self, train: Ratings, implicit: Ratings | None):
        if self.config.implicit == "train":
            return np.asarray(train.user), np.asarray(train.item)
        return super()._implicit_pairs(train, implicit)

    def _build_data(self, train: Ratings, implicit: Ratings | None) -> None:
        super()._build_data(train, implicit)
        self.visit_ = visit_by_day(train)

    def _sweep(self, order: np.ndarray, decay: float) -> float:
        cfg, um = self.config, self.ratings_
        return K.integrated_epoch(
            order, um.ptr, self.visit_, um.items, um.rating, um.z, self.implicit_ptr_,
            self.implicit_items_, self.nb_idx_, self.nb_cnt_, self.bu_, self.bi_, self.P_,
            self.Q_, self.Y_, self.w_, self.c_, float(self.base_mu_),
            float(cfg.lr_bias * decay), float(cfg.lr * decay), float(cfg.lr_weights * decay),
            float(cfg.reg_bias), float(cfg.reg), float(cfg.reg_weights))

    def finish(self, train: Ratings) -> None:
        super().finish(train)
        # Rows that never received a gradient hold only their random start.
        um = self.ratings_
        self.P_[np.diff(um.ptr) == 0] = 0.0
        self.Q_[np.bincount(um.items, minlength=self.Q_.shape[0]) == 0] = 0.0
        self.visit_ = None  # training only

    def _predict_known(self, qu, qi, chunk_ptr, out) -> None:
        um = self.ratings_
        K.integrated_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z, self.implicit_ptr_,
                             self.implicit_items_, self.nb_idx_, self.nb_cnt_, self.bu_,
                             self.bi_, self.P_, self.Q_, self.Y_, self.w_, self.c_, out,
                             float(self.base_mu_))

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return super().state_dict() | {"P": self.P_, "Q": self.Q_, "Y": self.Y_}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        self.P_ = np.array(state["P"], np.float64)
        self.Q_ = np.array(state["Q"], np.float64)
        self.Y_ = np.array(state["Y"], np.float64)

