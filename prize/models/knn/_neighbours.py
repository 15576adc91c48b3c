"""What the neighbourhood models share: the baseline, the CSR views of the ratings, the
similarity registry and the neighbour tables built by :func:`_kernels.similarities`.

The baseline b_ui = mu + b_u + b_i is the baseline family's ``biases`` model (reused, not
copied); every model here works on the residuals z_ui = r_ui - b_ui, so it runs unchanged
on the residuals of another predictor (``prize train knn --residuals-of NAME``), where
``train.scale`` is the span (lo - hi, hi - lo) and mu is near 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from prize.config import at_least
from prize.data.dataset import Ratings
from prize.models.base import Predictor, in_batches, take
from prize.models.baseline import Biases
from prize.models.baseline.simple import BiasesConfig
from prize.models.knn import _kernels as K

EMPTY_F32 = np.zeros((0, 0), np.float32)
EMPTY_I32 = np.zeros((0, 0), np.int32)


@dataclass(frozen=True)
class Similarity:
    """How s_ij is computed: on which values x_ui, and whether centred over U(i, j)."""

    on_residuals: bool
    """x_ui = r_ui - b_ui (the baseline residual) if true, else the rating r_ui itself."""
    centred: bool
    """Subtract the means of x_ui and x_uj over the common raters U(i, j) (Pearson)."""
    description: str


#: Item-item similarities, all shrunk by n_ij / (n_ij + lambda) (Koren 2010, eq. 3).
SIMILARITIES: dict[str, Similarity] = {
    "pearson_baseline": Similarity(
        on_residuals=True, centred=False,
        description="Pearson correlation of the baseline residuals r - b over the common "
                    "raters, centred by the baseline rather than by means (Koren 2010, "
                    "eq. 3; Surprise's pearson_baseline)"),
    "pearson": Similarity(
        on_residuals=False, centred=True,
        description="plain Pearson correlation of the ratings over the common raters, "
                    "centred by their means over those raters (Surprise's pearson)"),
    "cosine": Similarity(
        on_residuals=False, centred=False,
        description="cosine of the raw ratings over the common raters (Surprise's cosine)"),
}


def check_similarity(name: str) -> Similarity:
    if name not in SIMILARITIES:
        raise ValueError(f"similarity = {name!r}: expected one of {', '.join(SIMILARITIES)}")
    return SIMILARITIES[name]


#: The normalisations b_ui whose residuals the stored-neighbour models work on.
BASELINES = ("biases", "global_effects")


def check_common(cfg) -> None:
    """Range checks shared by the configs (raised as ValueError, reported by the loader)."""
    check_similarity(cfg.similarity)
    if getattr(cfg, "baseline", "biases") not in BASELINES:
        raise ValueError(f"baseline = {cfg.baseline!r}: expected one of {', '.join(BASELINES)}")
    at_least(cfg, 1, "k", "baseline_epochs")
    at_least(cfg, 0, "shrinkage")
    if hasattr(cfg, "weight_shrinkage"):  # the item model's
        at_least(cfg, 0, "weight_shrinkage")
    if cfg.baseline_reg_item < 0 or cfg.baseline_reg_user < 0:
        raise ValueError("baseline_reg_item and baseline_reg_user must be >= 0")


# -- the baseline -----------------------------------------------------------------------------
def fit_baseline(train: Ratings, cfg):
    """The ``biases`` model of the baseline family with the config's ``baseline_*`` fields,
    or, with ``baseline = "global_effects"``, Bell & Koren's global effects (the baseline
    family's model with its shipped settings)."""
    if getattr(cfg, "baseline", "biases") == "global_effects":
        from prize.models.baseline.global_effects import GlobalEffects, GlobalEffectsConfig

        return GlobalEffects(GlobalEffectsConfig()).fit(train)
    return Biases(BiasesConfig(n_epochs=cfg.baseline_epochs, reg_item=cfg.baseline_reg_item,
                               reg_user=cfg.baseline_reg_user)).fit(train)


def baseline_estimate(mu: float, bu: np.ndarray, bi: np.ndarray, users, items) -> np.ndarray:
    """b_ui = mu + b_u + b_i in float64; unknown users and items get a zero bias."""
    return mu + take(bu, users).astype(np.float64) + take(bi, items).astype(np.float64)


# -- CSR views --------------------------------------------------------------------------------
@dataclass
class UserMajor:
    """The training ratings by user, items sorted within each user."""

    ptr: np.ndarray  # int64, n_users + 1
    items: np.ndarray  # int32
    rating: np.ndarray  # float32 r_ui (empty where not needed)
    z: np.ndarray  # float32 r_ui - b_ui


def user_major(train: Ratings, mu: float, bu: np.ndarray, bi: np.ndarray, *,
               keep_rating: bool = True, block: int = 1 << 22,
               base: np.ndarray | None = None) -> UserMajor:
    """The ratings by user with their residuals z = r - (mu + b_u + b_i), or z = r - base
    with ``base`` the baseline of each rating of ``train``; without ``keep_rating`` the
    ``rating`` array is left empty (4 bytes per rating saved)."""
    # Memory matters at Netflix's size: one int64 sort key and one int64 order, freed as
    # soon as possible, then 8 or 12 bytes per rating kept (item, residual, rating).
    n_items = max(train.n_items, 1)
    key = np.asarray(train.user).astype(np.int64)
    key *= n_items
    key += np.asarray(train.item)
    order = np.argsort(key, kind="stable")
    del key
    item = np.asarray(train.item)[order].astype(np.int32, copy=False)
    rating = np.asarray(train.rating)[order].astype(np.float32, copy=False)
    user = np.asarray(train.user)[order]
    if base is not None:
        base = np.asarray(base)[order]
    del order
    z = np.empty(len(rating), np.float32)
    for lo in range(0, len(rating), block):
        sl = slice(lo, lo + block)
        # float64 before the subtraction: float32 - float would stay float32 under NumPy 2.
        if base is not None:
            z[sl] = rating[sl].astype(np.float64) - base[sl]
        else:
            z[sl] = rating[sl].astype(np.float64) - mu - bu[user[sl]] - bi[item[sl]]
    ptr = np.zeros(train.n_users + 1, np.int64)
    np.cumsum(np.bincount(user, minlength=train.n_users), out=ptr[1:])
    return UserMajor(ptr, item, rating if keep_rating else np.zeros(0, np.float32), z)


def item_major(um: UserMajor, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item_ptr, item_users, item_pos): each item's raters (ascending), and the position of
    each of those ratings in the user-major arrays (int32 below 2^31 ratings, to save 4
    bytes per rating)."""
    pos = np.argsort(um.items, kind="stable")  # by item, then by user (user-major order)
    users = np.repeat(np.arange(len(um.ptr) - 1, dtype=np.int32), np.diff(um.ptr))[pos]
    if len(pos) < 2 ** 31:
        pos = pos.astype(np.int32)
    ptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(um.items, minlength=n_items), out=ptr[1:])
    return ptr, users, pos


def pairs_by_user(users, items, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, items) of the distinct pairs with 0 <= user < n_users and 0 <= item < n_items."""
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    ok = (users >= 0) & (users < n_users) & (items >= 0) & (items < n_items)
    key = np.unique(users[ok] * max(n_items, 1) + items[ok])
    u = key // max(n_items, 1)
    ptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=ptr[1:])
    return ptr, (key % max(n_items, 1)).astype(np.int32)


# -- neighbour tables -------------------------------------------------------------------------
@dataclass
class Neighbours:
    """Item-item similarities, dense or as each item's top-K; optionally Bell & Koren's Â."""

    dense_s: np.ndarray  # (n, n) float32 s_ij, or empty
    dense_a: np.ndarray  # (n, n) float32 Â_ij, or empty
    idx: np.ndarray  # (n, K) int32 neighbours of each item sorted by index, or empty
    s: np.ndarray  # (n, K) float32 s_ij alongside idx
    a: np.ndarray  # (n, K) float32 Â_ij alongside idx, or empty
    cnt: np.ndarray  # (n,) int32 neighbours stored per item (top-K layout)
    diag_a: np.ndarray  # (n,) float64 Â_jj, or zeros
    avg_off: float  # avg of the off-diagonal average products (the prior of Â)
    sums: ProductSums | None = None  # what Â is made of, while β is being chosen

    @property
    def dense(self) -> bool:
        return self.dense_s.shape[0] > 0


def layout(um: UserMajor, n_items: int, dense_max_items: int, max_neighbours: int
           ) -> tuple[bool, int]:
    """(dense, K): how to store the similarities.

    Up to ``dense_max_items`` items, exactly: one dense matrix, or, when every item has few
    co-rated items (at most ``K`` = max_i sum_{u in U(i)} (|R(u)| - 1), a bound, under a
    quarter of the items), each item's list of all of them, which takes less memory than
    the mostly empty matrix and no more time. Above ``dense_max_items``: each item's best
    ``max_neighbours``, an approximation.
    """
    n_u = np.diff(um.ptr)
    bound = np.bincount(um.items, weights=np.repeat(n_u - 1, n_u), minlength=n_items)
    k_exact = int(min(bound.max(initial=0), max(n_items - 1, 0)))
    if n_items <= dense_max_items:
        if k_exact <= n_items / 4:
            return False, max(k_exact, 1)
        return True, 0
    return False, max_neighbours


def n_chunks(n: int, per_thread: int = 32) -> int:
    """Tasks for a parallel kernel: many per thread, handed out one at a time
    (:data:`DYNAMIC`), so that a thread slowed by other work on the machine takes fewer."""
    return max(1, min(n, numba.get_num_threads() * per_thread))


#: Dynamic scheduling of prange iterations (numba's default splits them evenly up front).
DYNAMIC = 1


def mirror_upper(a: np.ndarray, block: int = 1024) -> None:
    """Copy the strict upper triangle of a square matrix (zero below) onto the lower one,
    in place, a tile at a time (row-wise reads and writes, no n x n temporary)."""
    n = a.shape[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        diag = a[lo:hi, lo:hi]
        diag += diag.T.copy()  # its lower part is zero, and so is the diagonal
        for lo2 in range(hi, n, block):
            a[lo2:lo2 + block, lo:hi] = a[lo:hi, lo2:lo2 + block].T


def compute_neighbours(um: UserMajor, n_items: int, *, similarity: str, shrinkage: float,
                       dense: bool, top: int = 0, beta: float | None = None,
                       keep_sums: bool = False) -> Neighbours:
    """Similarities of every co-rated item pair, stored dense or as each item's ``top``.

    With ``beta`` (the interpolation model), also Bell & Koren's (2007, section 4) shrunk
    estimates of the average products of residuals over common raters:

        Â_jk = (sum_{u in U(j,k)} z_uj z_uk + beta avg) / (|U(j,k)| + beta)

    with avg the mean over all co-rated pairs of the average product (off the diagonal)
    and over all items of the mean square (on it); pairs with no common rater get avg.
    ``keep_sums``: also keep the sums Â is made of (``nb.sums``), so that
    :func:`shrink_products` can set Â for another β.
    """
    sim = check_similarity(similarity)
    x = um.z if sim.on_residuals else um.rating
    products = beta is not None
    if products and not sim.on_residuals:
        raise ValueError(f"similarity {similarity!r} is not computed on residuals; the "
                         "interpolation weights need one that is (pearson_baseline)")
    item_ptr, item_users, item_pos = item_major(um, n_items)
    row_avg = np.zeros((n_items, 2))
    if dense:
        dense_s = np.zeros((n_items, n_items), np.float32)
        dense_p = np.zeros((n_items, n_items), np.float32) if products else EMPTY_F32
        dense_n = np.zeros((n_items, n_items), np.float32) if products else EMPTY_F32
        idx, s, p, cnt_n = EMPTY_I32, EMPTY_F32, EMPTY_F32, EMPTY_F32
        cnt = np.zeros(0, np.int32)
    else:
        dense_s = dense_p = dense_n = EMPTY_F32
        idx = np.full((n_items, top), -1, np.int32)
        s = np.zeros((n_items, top), np.float32)
        p = np.zeros((n_items, top), np.float32) if products else EMPTY_F32
        cnt_n = np.zeros((n_items, top), np.float32) if products else EMPTY_F32
        cnt = np.zeros(n_items, np.int32)
    with numba.parallel_chunksize(DYNAMIC):
        K.similarities(item_ptr, item_users, item_pos, um.ptr, um.items, x, dense_s, dense_p,
                       dense_n, idx, s, p, cnt_n, cnt, row_avg, sim.centred, float(shrinkage),
                       n_chunks(n_items))
    del item_ptr, item_users, item_pos
    for m in (dense_s, dense_p, dense_n):
        if m.shape[0] > 0:
            mirror_upper(m)
    nb = Neighbours(dense_s, EMPTY_F32, idx, s, EMPTY_F32, cnt, np.zeros(n_items), 0.0)
    if not products:
        return nb
    pairs = row_avg[:, 1].sum()
    z = um.z.astype(np.float64)
    sq = np.bincount(um.items, weights=z * z, minlength=n_items)
    n_i = np.bincount(um.items, minlength=n_items).astype(np.float64)
    rated = n_i > 0
    sums = ProductSums(dense_p if dense else p, dense_n if dense else cnt_n, sq, n_i,
                       float(row_avg[:, 0].sum() / pairs) if pairs > 0 else 0.0,
                       float(np.mean(sq[rated] / n_i[rated])) if rated.any() else 0.0)
    if keep_sums:
        nb.sums = sums
        shrink_products(nb, sums, beta, in_place=False)
    else:
        shrink_products(nb, sums, beta, in_place=True)
    return nb


@dataclass
class ProductSums:
    """What Â is shrunk from: the sums of residual products over each pair's common raters
    and their counts (dense, or alongside ``idx``), each item's sum of squares and count,
    and the two means the shrinkage pulls toward."""

    p: np.ndarray
    n: np.ndarray
    sq: np.ndarray
    n_i: np.ndarray
    avg_off: float
    avg_diag: float


def shrink_products(nb: Neighbours, sums: ProductSums, beta: float, *, in_place: bool) -> None:
    """Set ``nb``'s Â for ``beta``: Â_jk = (Σ z_uj z_uk + β avg) / (|U(j,k)| + β), on the
    diagonal (Σ z_uj² + β avg_diag) / (n_j + β). ``in_place`` overwrites the sums (one
    matrix fewer in memory; then no other β can follow), else Â is a new array."""
    nb.avg_off = sums.avg_off
    nb.diag_a = (sums.sq + beta * sums.avg_diag) / (sums.n_i + beta)
    a = sums.p if in_place else np.empty_like(sums.p)
    for lo in range(0, len(a), 1024):  # a block of rows at a time: no full-size temporary
        blk = a[lo:lo + 1024]
        np.add(sums.p[lo:lo + 1024], np.float32(beta * sums.avg_off), out=blk)
        blk /= sums.n[lo:lo + 1024] + np.float32(beta)
    if nb.dense:
        nb.dense_a = a
    else:
        nb.a = a


# -- queries ----------------------------------------------------------------------------------
def by_user(users: np.ndarray, items: np.ndarray, chunk: int = 2048):
    """(order, users, items, chunk_ptr): queries sorted by user, cut into chunks of about
    ``chunk`` rows (several per thread for small batches) for the parallel kernels."""
    order = np.argsort(users, kind="stable")
    n = len(order)
    n_parts = max(1, min(max(n // chunk, numba.get_num_threads() * 8), n))
    chunk_ptr = np.linspace(0, n, n_parts + 1).astype(np.int64)
    return order, users[order].astype(np.int64), items[order].astype(np.int64), chunk_ptr


# -- the two stored-neighbour models ----------------------------------------------------------
class StoredNeighbours(Predictor):
    """Fit: baseline, residuals, neighbour table. Predict: b_ui plus the kernel's term.

    Subclasses set ``interpolate`` and the kernel's interpolation parameters. Fitted:
    ``mu_``, ``bu_``, ``bi_`` (the biases baseline) or ``baseline_`` (a fitted global-effects
    model), ``ratings_`` (:class:`UserMajor`), ``neighbours_`` (:class:`Neighbours`).
    """

    family = "knn"
    interpolate = False

    def _beta(self) -> float | None:
        return None

    def _keep_sums(self, probe: Ratings | None) -> bool:
        """Whether to keep what Â is made of after the fit (to choose β on ``probe``)."""
        return False

    def _solver(self) -> tuple[int, float]:
        return 0, 0.0

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        cfg = self.config
        base = fit_baseline(train, cfg)
        # Predictions need only the residuals; raw ratings only feed some similarities.
        raw = not SIMILARITIES[cfg.similarity].on_residuals
        if cfg.baseline == "global_effects":
            self.baseline_ = base
            self.mu_, self.bu_, self.bi_ = base.mu_, None, None
            b = in_batches(len(train), lambda sl: base._predict(
                np.asarray(train.user[sl], np.int64), np.asarray(train.item[sl], np.int64),
                np.asarray(train.day[sl], np.int32)))
            self.ratings_ = user_major(train, self.mu_, None, None, keep_rating=raw, base=b)
            del b
        else:
            self.baseline_ = None
            self.mu_, self.bu_, self.bi_ = base.mu_, base.bu_, base.bi_
            self.ratings_ = user_major(train, self.mu_, self.bu_, self.bi_, keep_rating=raw)
        dense, top = layout(self.ratings_, train.n_items, cfg.dense_max_items,
                            max(cfg.max_neighbours, cfg.k))
        self.neighbours_ = compute_neighbours(
            self.ratings_, train.n_items, similarity=cfg.similarity, shrinkage=cfg.shrinkage,
            dense=dense, top=top, beta=self._beta(), keep_sums=self._keep_sums(probe))
        if raw:
            self.ratings_.rating = np.zeros(0, np.float32)

    def _predict(self, users, items, days):
        if self.baseline_ is not None:
            est = np.asarray(self.baseline_._predict(users, items, days), np.float64)
        else:
            est = baseline_estimate(self.mu_, self.bu_, self.bi_, users, items)
        known = (users >= 0) & (users < self.n_users_) & (items >= 0) & (items < self.n_items_)
        rows = np.flatnonzero(known)
        if len(rows):
            order, qu, qi, chunk_ptr = by_user(users[rows], items[rows])
            term = np.zeros(len(rows))
            nb, um, cfg = self.neighbours_, self.ratings_, self.config
            sweeps, tol = self._solver()
            with numba.parallel_chunksize(DYNAMIC):
                K.neighbourhood_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z,
                                        nb.dense_s, nb.dense_a, nb.idx, nb.s, nb.a, nb.cnt,
                                        nb.diag_a, term, int(cfg.k),
                                        float(cfg.min_similarity), self.interpolate,
                                        float(nb.avg_off), int(sweeps), float(tol),
                                        float(getattr(cfg, "weight_shrinkage", 0.0)))
            est[rows[order]] += term
        return est
