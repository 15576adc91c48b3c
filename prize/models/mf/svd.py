"""``mf``: biased matrix factorization by SGD — Paterek's RSVD2, Koren's "SVD".

    r̂_ui = μ + b_u + b_i + p_uᵀ q_i

minimising Σ (r_ui − r̂_ui)² + λ_b (b_u² + b_i²) + λ (‖p_u‖² + ‖q_i‖²) by stochastic
gradient descent (Paterek, KDD Cup 2007, "Improving regularized singular value
decomposition for collaborative filtering"; Koren, Bell & Volinsky, IEEE Computer 2009).
Options: Funk's unbiased RSVD (``biased = false``: r̂ = p_uᵀq_i) and Funk's feature-at-a-time
training (``feature_at_a_time = true``; Simon Funk, "Netflix Update: Try This at Home",
2006): the baseline comes first and stays fixed -- μ + b_u + b_i with b_i the movie's mean
offset shrunk by K_i pseudo-ratings of 0 and b_u the user's mean offset from μ + b_i shrunk
by K_u (Funk's "blended" averages; μ alone with ``biased = false``), each K the ratio of
variances Funk derived it as (:func:`variance_ratio`) unless the config fixes it -- then
each epoch trains one feature f alone to convergence (:func:`feature_converged`) on

    r̂ = clip(c_ui + p_uf q_if),   c_ui = clip(...clip(clip(μ + b_u + b_i) + p_u0 q_i0)...
                                                 + p_u,f−1 q_i,f−1),

every feature starting at p = q = 0.1 and the prediction clipped to the scale after each
feature, as Funk clipped his cache. Prediction applies the same chain of clips.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.models.base import take
from prize.models.epochs import IterativeConfig
from prize.models.mf import _kernels
from prize.models.mf.common import FactorModel, Priors, f32


@dataclass(frozen=True)
class SVDConfig(IterativeConfig, Priors):
    n_factors: int = 50
    """f, the number of latent factors."""
    n_epochs: int = 20
    """Sweeps over the training ratings (the final round refits with the probe round's
    best epoch count)."""
    lr: float = 0.005
    """γ, learning rate of the factors p_u, q_i."""
    lr_bias: float | None = None
    """γ_b, learning rate of the biases (None: same as ``lr``)."""
    lr_decay: float = 1.0
    """Multiplies the learning rates after every epoch (0.9 is Koren's usual choice)."""
    reg: float = 0.05
    """λ, regularisation of the factors."""
    reg_bias: float | None = None
    """λ_b, regularisation of the biases (None: same as ``reg``)."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of p_u and q_i."""
    biased: bool = True
    """False: Funk's unbiased RSVD, r̂ = p_uᵀq_i."""
    feature_at_a_time: bool = False
    """True: Funk's training of one feature at a time, each to convergence; an epoch is
    one feature (``n_epochs`` <= ``n_factors``; early stopping keeps the best count)."""
    feature_min_sweeps: int = 120
    """With ``feature_at_a_time``: sweeps each feature gets at least (Funk: 120)."""
    feature_max_sweeps: int = 10_000
    """With ``feature_at_a_time``: sweeps each feature gets at most (Funk: 200, with his
    one-sweep rule; see :func:`feature_converged`)."""
    feature_min_improvement: float = 1e-4
    """With ``feature_at_a_time``: a feature is done once the training RMSE it has still
    to gain is less than this (Funk: 0.0001 for the gain of one sweep; see
    :func:`feature_converged`)."""
    feature_stop: Literal["remaining", "sweep"] = "remaining"
    """With ``feature_at_a_time``: the rule of :func:`feature_converged` that ends a
    feature: "remaining", the gain still to come is measured against
    ``feature_min_improvement``; "sweep", Funk's rule as he ran it: the last sweep's gain."""
    baseline_k_item: float = 0.0
    """With ``feature_at_a_time``: K_i, the pseudo-ratings of 0 that shrink a movie's mean
    offset (Funk used 25 on Netflix). 0: from the data by :func:`variance_ratio`, as Funk
    derived K; the value used is recorded in the probe store as ``resolved`` and reused
    by the final round."""
    baseline_k_user: float = 0.0
    """With ``feature_at_a_time``: K_u, likewise for a user's mean offset (0: from the
    data)."""
    shuffle: bool = True
    """Visit users in a new random order every epoch (each user's ratings stay together)."""
    threads: int = 0
    """T > 1: parallel SGD over T×T disjoint (user block, item block) pairs, T at a time
    (DSGD, Gemulla et al. KDD 2011). No two threads share a parameter, so a run is
    deterministic for a given T; each user's ratings are visited grouped by item block.
    0 (the default): one block per core this process may use, at most 8, and 1 with
    ``feature_at_a_time``; the config records the T it resolved to. 1: the plain
    sequential order, in which each user's ratings are visited in date order: on data
    with drift that ends every epoch on a user's latest ratings, worth 0.001–0.002 probe
    RMSE over T = 2 on the small preset (none on MovieLens 100K). Uses up to T of
    numba's threads (``NUMBA_NUM_THREADS``); with fewer, the blocks run in turn and give
    the same result. See scripts/bench_mf.py for what it gains."""

    def __post_init__(self):
        super().__post_init__()
        if self.n_factors < 1 or self.n_epochs < 1:
            raise ValueError("n_factors and n_epochs must be at least 1")
        if self.threads < 0:
            raise ValueError("threads must be 0 (one per core) or at least 1")
        if self.threads == 0:
            # frozen dataclass: record the resolved count, so that the stored config says
            # which T (and so which visiting order) produced a run.
            object.__setattr__(self, "threads",
                               1 if self.feature_at_a_time else min(usable_cores(), 8))
        if self.threads > 1 and self.feature_at_a_time:
            raise ValueError("feature_at_a_time trains with threads = 1 only")
        if self.feature_at_a_time and self.n_epochs > self.n_factors:
            raise ValueError("feature_at_a_time needs n_epochs <= n_factors (an epoch "
                             "trains one feature to convergence)")
        if not 1 <= self.feature_min_sweeps <= self.feature_max_sweeps:
            raise ValueError("need 1 <= feature_min_sweeps <= feature_max_sweeps")
        if self.baseline_k_item < 0 or self.baseline_k_user < 0:
            raise ValueError("baseline_k_item and baseline_k_user must be >= 0 (0: from "
                             "the data)")


def variance_ratio(group: np.ndarray, dev: np.ndarray, n_groups: int) -> float:
    """Funk's K for a blended mean (Σ dev + K·0) / (n + K) of the values ``dev`` in each
    group: K = V_b / V_a, the mean variance of a group's values over the variance of the
    groups' true means (Funk: the ratio under which blending with the a-priori mean is
    optimal, for Gaussians). V_a is the variance of the observed means less their
    sampling variance, since a mean of few values scatters more than the true means do;
    groups with one value are left out. Where the groups' means differ no more than their
    sampling noise, K is 10⁶: every mean shrinks to 0."""
    counts = np.bincount(group, minlength=n_groups).astype(np.float64)
    sums = np.bincount(group, dev, n_groups)
    squares = np.bincount(group, dev * dev, n_groups)
    ok = counts >= 2
    if not ok.any():
        return 1e6
    n = counts[ok]
    mean = sums[ok] / n
    var = (squares[ok] / n - mean * mean) * n / (n - 1)
    v_b = float(var.mean())
    v_a = float(mean.var() - np.mean(var / n))
    return float(min(v_b / v_a, 1e6)) if v_a > 0 else 1e6


def funk_baseline(train, mu: float, k_item: float = 0.0, k_user: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(b_u, b_i, K_i, K_u): b_i = Σ (r − μ) / (K_i + n_i), then b_u = Σ (r − μ − b_i) /
    (K_u + n_u) (Funk's blended averages, one pass); a K of 0 is estimated from the data
    by :func:`variance_ratio`. On MovieLens 100K the ratios come out near 4 for movies and
    6 for users, where Funk's 25 (fit to Netflix's thousands of ratings a movie) shrinks
    the offsets of its few-rated movies too far: probe RMSE 0.9821 against 0.9978 on u1."""
    u, i = np.asarray(train.user), np.asarray(train.item)
    dev = np.asarray(train.rating, np.float64) - mu
    k_item = k_item or variance_ratio(i, dev, train.n_items)
    bi = np.bincount(i, dev, train.n_items) / (k_item + np.bincount(i, minlength=train.n_items))
    k_user = k_user or variance_ratio(u, dev - bi[i], train.n_users)
    bu = np.bincount(u, dev - bi[i], train.n_users) / (
        k_user + np.bincount(u, minlength=train.n_users))
    return bu.astype(np.float32), bi.astype(np.float32), k_item, k_user


def feature_converged(rmse: list[float], min_sweeps: int, tol: float,
                      rule: str = "remaining", window: int = 10) -> bool:
    """Whether a feature is trained out, from its sweeps' training RMSE so far, after at
    least ``min_sweeps``. ``rule`` "remaining": once the RMSE it has still to gain,
    extrapolated geometrically from the last ``2·window`` sweeps, is below ``tol`` (or it
    no longer falls); "sweep": Funk's rule as he ran it, once the last sweep gained less.

    Funk stopped a feature once one sweep gained less than 0.0001 (after at least 120,
    at most 200). On Netflix a movie gets thousands of updates a sweep and a feature
    settles fast, so the last sweep's gain is about all that is left. On MovieLens 100K
    a movie gets about 50, the gains shrink slowly, and the same rule stops each feature
    far from its optimum (u1..u5 final test 0.9346 with at most his 200 sweeps, 0.9154
    trained out). The gain still to come, g·ρ/(1 − ρ) for a last gain g shrinking by ρ a
    sweep, is about the same test where features settle fast and the right one where
    they settle slowly."""
    t = len(rmse)
    if rule == "sweep":
        return t >= max(min_sweeps, 2) and rmse[-2] - rmse[-1] < tol
    if t < max(min_sweeps, 2 * window + 1):
        return False
    before = rmse[-2 * window - 1] - rmse[-window - 1]
    last = rmse[-window - 1] - rmse[-1]
    if last <= 0:
        return True
    if before <= last:  # not slowing down (yet)
        return False
    rho = (last / before) ** (1.0 / window)
    return last / window * rho / (1.0 - rho) < tol


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask; os.cpu_count() elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SVD(FactorModel):
    family = "mf"
    name = "svd"
    Config = SVDConfig
    _param_names = ("bu_", "bi_", "P_", "Q_")

    def _init_params(self, train, rng, implicit):
        c = self.config
        self.bu_ = np.zeros(train.n_users, np.float32)
        self.bi_ = np.zeros(train.n_items, np.float32)
        if c.feature_at_a_time:
            # Funk: p starts at 0.1; q at 0 until its feature's turn (then 0.1), so that
            # features not yet trained add nothing.
            self.P_ = np.full((train.n_users, c.n_factors), 0.1, np.float32)
            self.Q_ = np.zeros((train.n_items, c.n_factors), np.float32)
            if c.biased:
                self.bu_, self.bi_ = self._funk_baseline(train)
            return
        self.P_ = self._normal(rng, (train.n_users, c.n_factors))
        self.Q_ = self._normal(rng, (train.n_items, c.n_factors))

    def _funk_baseline(self, train) -> tuple[np.ndarray, np.ndarray]:
        """Funk's (b_u, b_i); records in ``resolved_`` the K's estimated from the data."""
        c = self.config
        bu, bi, k_item, k_user = funk_baseline(train, float(self.mu_), c.baseline_k_item,
                                               c.baseline_k_user)
        self.resolved_ = {k: v for k, v, given in (
            ("baseline_k_item", k_item, c.baseline_k_item),
            ("baseline_k_user", k_user, c.baseline_k_user)) if not given}
        return bu, bi

    def resume(self, train, implicit, state) -> None:
        super().resume(train, implicit, state)
        if self.config.feature_at_a_time and self.config.biased:
            self._funk_baseline(train)  # b_u, b_i come from the state; the K's again

    def _epoch(self, csr, perm, decay, epoch):
        c = self.config
        lr_b = f32((c.lr_bias if c.lr_bias is not None else c.lr) * decay)
        lr_f = f32(c.lr * decay)
        if c.feature_at_a_time:  # threads = 1 is enforced
            return self._feature_epoch(csr, perm, epoch - 1)
        reg_bu, reg_bi, reg_pu, reg_qi = self._regs(csr)
        if c.threads > 1:
            blocks = self._blocks(csr)
            user_block = blocks["user_block"]
            uperm = perm[np.argsort(user_block[perm], kind="stable")]
            uoff = np.searchsorted(user_block[uperm], np.arange(c.threads + 1)).astype(np.int64)
            return _kernels.svd_epoch_blocks(blocks["bptr"], blocks["item"], blocks["rating"],
                                             uperm, uoff, self.mu_, self.bu_, self.bi_, self.P_,
                                             self.Q_, lr_b, lr_f, reg_bu, reg_bi, reg_pu,
                                             reg_qi, c.biased)
        return _kernels.svd_epoch(csr.indptr, csr.item, csr.rating, perm, self.mu_, self.bu_,
                                  self.bi_, self.P_, self.Q_, lr_b, lr_f, reg_bu, reg_bi,
                                  reg_pu, reg_qi, c.biased)

    def _feature_epoch(self, csr, perm, f: int) -> float:
        """Funk: train feature ``f`` alone to convergence on the clipped cache of the
        baseline and features 0..f−1 (rebuilt after a resume), then add it to the cache."""
        c = self.config
        lo, hi = f32(self.scale_[0]), f32(self.scale_[1])
        if getattr(self, "_cached_feature", None) != f:
            base = self.mu_ + self.bu_[csr.user] + self.bi_[csr.item]
            self._cache = np.clip(base, lo, hi).astype(np.float32)
            for g in range(f):
                _kernels.feature_commit(csr.indptr, csr.item,
                                        np.ascontiguousarray(self.P_[:, g]),
                                        np.ascontiguousarray(self.Q_[:, g]), lo, hi,
                                        self._cache)
        pf = np.full(len(self.P_), 0.1, np.float32)  # the feature's columns, contiguous
        qf = np.full(len(self.Q_), 0.1, np.float32)
        _, _, reg_u, reg_i = self._regs(csr)  # λ + prior / n per user and per item
        lr_f, n, scores = f32(c.lr), max(csr.n, 1), []
        for _ in range(c.feature_max_sweeps):
            se = _kernels.feature_epoch(csr.indptr, csr.item, csr.rating, perm, self._cache,
                                        pf, qf, lr_f, reg_u, reg_i, lo, hi)
            scores.append(np.sqrt(se / n))
            if feature_converged(scores, c.feature_min_sweeps, c.feature_min_improvement,
                                 c.feature_stop):
                break
        self._sweeps = len(scores)
        self.P_[:, f] = pf
        self.Q_[:, f] = qf
        _kernels.feature_commit(csr.indptr, csr.item, pf, qf, lo, hi, self._cache)
        self._cached_feature = f + 1
        return se

    def _predict(self, users, items, days):
        if not self.config.feature_at_a_time:
            return super()._predict(users, items, days)
        # Funk's chain: clip after the baseline and after each feature, as in training.
        lo, hi = self.scale_
        known_u = (users >= 0) & (users < len(self.P_))
        known_i = (items >= 0) & (items < len(self.Q_))
        base = self.mu_ + take(self.bu_, users) + take(self.bi_, items)
        out = np.clip(base, lo, hi).astype(np.float32)
        pu = np.where(known_u[:, None], self.P_[np.where(known_u, users, 0)], 0)
        qi = np.where(known_i[:, None], self.Q_[np.where(known_i, items, 0)], 0)
        for g in range(self.P_.shape[1]):
            out = np.clip(out + pu[:, g] * qi[:, g], lo, hi)
        return out.astype(np.float32)

    def _blocks(self, csr) -> dict:
        """The DSGD layout, built once per training set: users and items in T blocks of
        about equal rating counts, and each user's ratings regrouped by item block."""
        cached = getattr(self, "_block_cache", None)
        if cached is not None and cached["key"] == csr.key:
            return cached
        T = self.config.threads
        user_block = balanced_blocks(np.diff(csr.indptr), T)
        item_block = balanced_blocks(np.bincount(csr.item, minlength=len(self.bi_)), T)
        order, bptr = _kernels.block_layout(csr.indptr, csr.item, item_block, T)
        self._block_cache = {"key": csr.key, "user_block": user_block, "bptr": bptr,
                             "item": csr.item[order], "rating": csr.rating[order]}
        return self._block_cache

    def _biases(self, users, items, days):
        if self.config.biased:
            return super()._biases(users, items, days)
        # Unbiased RSVD predicts p_uᵀq_i; an unknown user or item falls back to the mean.
        known = ((take(getattr(self, "known_users_", np.ones(0, bool)), users) > 0)
                 & (take(getattr(self, "known_items_", np.ones(0, bool)), items) > 0))
        return np.where(known, np.float32(0.0), self.mu_).astype(np.float32)

    def finish(self, train):
        super().finish(train)
        self._cache = None
        self._block_cache = None
        self._cached_feature = None

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._cached_feature = None


def balanced_blocks(counts: np.ndarray, T: int, chunk: int = 64) -> np.ndarray:
    """Block (0..T−1) of each row: runs of ``chunk`` consecutive rows are dealt out by
    descending total count in a snake order (0, 1, …, T−1, T−1, …, 0, …), which balances
    the blocks' total counts.

    Runs rather than single rows: rows dealt one by one put neighbouring rows, which share
    cache lines (a 64-byte line holds 16 biases, and a 400-byte factor row straddles
    lines), in different blocks, and two threads writing one line slow each other down
    ("false sharing"). Runs of 64 leave one shared line per run boundary; measured on the
    small preset, two threads ran an epoch 10–15% faster than with rows dealt singly."""
    counts = np.asarray(counts)
    n_runs = -(-len(counts) // chunk)
    run_counts = np.bincount(np.arange(len(counts)) // chunk, weights=counts,
                             minlength=n_runs)
    order = np.argsort(-run_counts, kind="stable")
    j = np.arange(n_runs) % (2 * T)
    block = np.empty(n_runs, np.int64)
    block[order] = np.where(j < T, j, 2 * T - 1 - j)
    return np.repeat(block, chunk)[:len(counts)]
