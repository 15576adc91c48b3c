"""What the factor models share: the user-ordered CSR of the ratings, the implicit-feedback
CSR N(u), initialisation, per-epoch user order and learning-rate decay, and prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prize.config import check_memory
from prize.data.dataset import Ratings, release_pages
from prize.models.base import implicit_source, take
from prize.models.epochs import IterativePredictor, epoch_rng
from prize.models.mf import _kernels


class UserCSR:
    """Training ratings grouped by user (rows already in user order are not copied)."""

    def __init__(self, r: Ratings):
        user = np.asarray(r.user)
        if len(user) > 1 and (np.diff(user) < 0).any():
            order = np.argsort(user, kind="stable")
        else:
            order = None
        pick = (lambda a: np.ascontiguousarray(a[order])) if order is not None else (
            lambda a: np.ascontiguousarray(a))
        self.user = pick(user).astype(np.int32, copy=False)
        self.item = pick(np.asarray(r.item)).astype(np.int32, copy=False)
        self.rating = pick(np.asarray(r.rating)).astype(np.float32, copy=False)
        self.day = pick(np.asarray(r.day)).astype(np.int32, copy=False)
        self.indptr = np.searchsorted(self.user, np.arange(r.n_users + 1)).astype(np.int64)
        self.n = len(self.user)
        self.key = (id(r), len(r))


def implicit_csr(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
    """N(u) as CSR (indptr, items), each pair once; pairs out of range are skipped."""
    return _kernels.group_by_user(np.asarray(users), np.asarray(items), int(n_users),
                                  int(n_items))


@dataclass(frozen=True)
class Priors:
    """Regularisation per user and per item, mixed into the configs of ``mf``, ``svdpp``
    and ``nsvd`` (:meth:`FactorModel._regs`)."""

    reg_prior: float = 0.0
    """A penalty ``reg_prior`` ‖p_u‖² counted once per user (and ‖q_i‖² once per item), on
    top of λ's, which counts once per rating: a Gaussian prior, spread over the user's n_u
    ratings as λ + reg_prior / n_u in each step. It shrinks the factors of users and items
    with few ratings harder than λ alone, which weighs the same against every rating."""
    reg_bias_prior: float = 0.0
    """The same for the biases: λ_b + reg_bias_prior / n in each step, so that b_u comes out
    near Σ e / (n_u + reg_bias_prior), the pseudo-ratings of the biases baseline."""


class FactorModel(IterativePredictor):
    """Base of the SGD factor models: subclasses define ``_init_params`` and ``_epoch``."""

    uses_implicit = False

    # -- state -----------------------------------------------------------------------------
    def __getstate__(self):
        # Training-time caches (ratings CSR, implicit CSR) never travel with the model.
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_csr", "_nptr", "_nitem", "_block_cache", "_reg_cache")}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self._param_names} | {"mu": np.float32(self.mu_)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.mu_ = np.float32(state["mu"])
        for k in self._param_names:
            setattr(self, k, np.array(state[k], copy=True))
        self._stale = True

    # -- training --------------------------------------------------------------------------
    def _data(self, train: Ratings) -> UserCSR:
        csr = getattr(self, "_csr", None)
        if csr is None or csr.key != (id(train), len(train)):
            csr = self._csr = UserCSR(train)
        return csr

    def _prepare_data(self, train: Ratings, implicit: Ratings | None) -> UserCSR:
        """The ratings by user and, for implicit models, N(u) as CSR (training caches)."""
        csr = self._data(train)
        if self.uses_implicit:
            src = self._implicit_source(train, implicit)
            self._nptr, self._nitem = implicit_csr(src.user, src.item, train.n_users,
                                                   train.n_items)
            release_pages(src.user, src.item)
        return csr

    def _implicit_source(self, train: Ratings, implicit: Ratings | None) -> Ratings:
        if getattr(self.config, "implicit", "all") == "train":
            return train
        return implicit_source(train, implicit)

    def start(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        f = int(self.config.n_factors)
        # P, Q (and Y, or the time factors) as float32, and a copy of each for early
        # stopping's best epoch and for the checkpoint being written: ~ 4 copies.
        need = 4 * 4.0 * f * (train.n_users + 2 * train.n_items)
        check_memory(need, f"{self.family} with n_factors = {f} on {train.n_users:,} users "
                           f"and {train.n_items:,} items",
                     "Lower n_factors (--set n_factors=...)")
        csr = self._prepare_data(train, implicit)
        self.mu_ = np.float32(np.mean(csr.rating, dtype=np.float64)) if csr.n else np.float32(0)
        rng = np.random.default_rng(self.config.seed)
        self._init_params(train, rng, implicit)
        self.known_users_ = np.diff(csr.indptr) > 0
        self.known_items_ = np.bincount(csr.item, minlength=train.n_items) > 0
        self._stale = True

    def resume(self, train: Ratings, implicit: Ratings | None, state) -> None:
        self.load_state_dict(state)
        self._prepare_data(train, implicit)

    def _regs(self, csr):
        """(λ of b_u, of b_i, of p_u, of q_i) per user and per item, float32: λ + prior / n
        (see :class:`Priors`, which the config must mix in), computed once per training
        set."""
        key = (csr.key, self.config)
        cached = getattr(self, "_reg_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        c = self.config
        reg_b = c.reg_bias if c.reg_bias is not None else c.reg
        n_u = np.maximum(np.diff(csr.indptr), 1).astype(np.float64)
        n_i = np.maximum(np.bincount(csr.item, minlength=len(self.bi_)), 1).astype(np.float64)
        regs = tuple(np.ascontiguousarray(reg + prior / n, np.float32) for reg, prior, n in (
            (reg_b, c.reg_bias_prior, n_u), (reg_b, c.reg_bias_prior, n_i),
            (c.reg, c.reg_prior, n_u), (c.reg, c.reg_prior, n_i)))
        self._reg_cache = (key, regs)
        return regs

    def _normal(self, rng, shape) -> np.ndarray:
        return rng.normal(0.0, self.config.init_std, shape).astype(np.float32)

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        csr = self._data(train)
        c = self.config
        if getattr(c, "shuffle", True):
            perm = epoch_rng(c.seed, epoch).permutation(train.n_users).astype(np.int64)
        else:
            perm = np.arange(train.n_users, dtype=np.int64)
        decay = np.float32(c.lr_decay ** (epoch - 1))
        self._sweeps = 1  # passes over the ratings this epoch (Funk's: one per sweep)
        se = self._epoch(csr, perm, decay, epoch)
        self._stale = True
        n = max(csr.n, 1)
        return float(np.sqrt(se / n)), csr.n * self._sweeps

    def finish(self, train: Ratings) -> None:
        csr = self._data(train)
        # Rows of users and items without training ratings never received a gradient:
        # they hold only their random initialisation. Zero them, so that such users and
        # items fall back to the biases (and SVD++ users to their implicit feedback).
        self.known_users_ = np.diff(csr.indptr) > 0
        self.known_items_ = np.bincount(csr.item, minlength=train.n_items) > 0
        self.P_[~self.known_users_] = 0.0
        self.Q_[~self.known_items_] = 0.0
        self._refresh()
        self._csr = None
        self._nptr = self._nitem = None

    # -- prediction ------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Prediction-time user factors: p_u, plus |N(u)|^-½ Σ y_j for implicit models."""
        nptr = getattr(self, "_nptr", None)
        if self.uses_implicit and nptr is not None:
            self.PU_ = None  # free the old one first
            z = np.empty_like(self.P_)
            _kernels.implicit_sums(nptr, self._nitem, self.Y_, z)
            z += self.P_  # in place: at f=200 on Netflix each copy is 384 MB
            self.PU_ = z
        self._stale = False

    def _user_factors(self) -> np.ndarray:
        if not self.uses_implicit:
            return self.P_
        if getattr(self, "_stale", False) or not hasattr(self, "PU_"):
            self._refresh()
        return self.PU_

    def _biases(self, users, items, days) -> np.ndarray:
        return self.mu_ + take(self.bu_, users) + take(self.bi_, items)

    def _predict(self, users, items, days):
        base = self._biases(users, items, days).astype(np.float32)
        out = np.empty(len(users), np.float32)
        empty = np.zeros((0, self.Q_.shape[1]), np.float32)
        _kernels.predict_factors(users, items, base, self._user_factors(), self.Q_, empty,
                                 np.zeros(0, np.float32), out)
        return out


def f32(x) -> np.float32:
    return np.float32(x)
