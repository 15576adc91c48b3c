"""EASE: an embarrassingly shallow autoencoder (Steck, "Embarrassingly Shallow Autoencoders
for Sparse Data", WWW 2019).

X is the binary users x items matrix of who rated what (1 where u rated i; the ratings'
values are not used). EASE learns the item-item weights B of the linear autoencoder X ≈ XB,

    min_B ||X - XB||_F^2 + λ ||B||_F^2    subject to  diag(B) = 0,

whose closed form (the paper's eq. 8) is

    P = (XᵀX + λI)^-1,     B = I - P · diag(1 / diag(P))     (B_ij = -P_ij / P_jj, B_jj = 0).

A user's score for item j is s_uj = X_u · B_:j, the sum of the weights from the items the
user rated -- a neighbourhood model whose weights are learned jointly, as a factor model's
are (the "linear autoencoder" view that unifies the two). The diagonal constraint keeps an
item from predicting itself.

**Memory.** B is a dense n_items x n_items matrix, computed in float64 up to 8,192 items and
in float32 above: at Netflix's 17,770 items B takes 17,770² x 4 B = 1.26 GB (at 8,192 items
in float64, 0.54 GB). Fitting holds that one matrix: the Gram matrix is built into it a
block of columns at a time, inverted in place through its Cholesky factor (LAPACK potrf and
potri) and turned into B in place; the sparse X (12 bytes a rating) comes on top. The
estimate is checked against ``max_items`` and the memory the system reports
available before anything is allocated; above either, fit refuses with the numbers.

**Ratings.** EASE's scores are not ratings; its job is ranking (:meth:`EASE.scores`,
:meth:`EASE.rank`). To meet the Predictor contract, ``predict`` maps them onto the scale
with the user and movie biases plus one scaled score,

    r̂_ui = mu + b_u + b_i + γ s_ui,    γ = Σ z_ui s_ui / Σ s_ui²  over the training ratings,

with z_ui = r_ui - mu - b_u - b_i (the ``biases`` baseline's residuals) and the training
scores s_ui computed with B's zero diagonal, so no rating predicts itself. Clipped to the
scale; unknown users and movies have s = 0 and fall back to the biases, then to mu.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prize.config import available_memory
from prize.data.dataset import Ratings
from prize.errors import ConfigError
from prize.models.base import Predictor, implicit_source
from prize.models.baseline.simple import Biases

#: Up to this many items B is computed in float64, above in float32.
FLOAT64_UP_TO = 8_192
#: Item columns of the Gram matrix (and rows mirrored) built at a time.
GRAM_BLOCK = 1_024
#: Users scored at a time: a (batch x n_items) float block (~150 MB at 17,770 items).
USER_BATCH = 2_048
#: Training ratings the rating calibration gamma is fitted on, at most.
GAMMA_SAMPLE = 1_000_000


@dataclass(frozen=True)
class EASEConfig:
    lambda_: float = 500.0
    """λ, the L2 penalty added to the diagonal of the Gram matrix XᵀX (Steck: hundreds to
    thousands). Not scaled with the data: NDCG@10 (2,000 users) at λ = 50 / 200 / 500 /
    2000 was 0.238 / 0.254 / 0.255 / 0.237 on MovieLens 100K (943 users), 0.319 / 0.325 /
    0.329 / 0.324 on the synthetic tiny preset (2,000) and 0.262 / 0.272 / 0.278 / 0.283 on
    small (20,000): the best λ grows far slower than the Gram diagonal (λ ∝ users would
    give 5 on MovieLens 100K), and 500 is within 0.005 of the best on all three."""
    implicit: bool = False
    """False: X is the training pairs. True: X is the who-rated-what pairs given to fit
    (under ``prize train``, train + probe + qualifying pairs, as SVD++ uses them). The
    ranking evaluation always passes only training pairs."""
    max_items: int = 20_000
    """Refuse a larger dense item-item matrix (n_items² x 4 bytes: 1.6 GB at 20,000)."""

    def __post_init__(self):
        if self.lambda_ <= 0:
            raise ValueError(f"lambda_ = {self.lambda_}: expected a number > 0")
        if self.max_items < 1:
            raise ValueError(f"max_items = {self.max_items}: expected an integer >= 1")


def gram_dtype(n_items: int):
    return np.float64 if n_items <= FLOAT64_UP_TO else np.float32


def fit_bytes(n_items: int) -> int:
    """Bytes of the dense matrix that holds XᵀX + λI, then its inverse, then B (in place)."""
    return n_items * n_items * np.dtype(gram_dtype(n_items)).itemsize


def check_memory(n_items: int, max_items: int) -> None:
    """Refuse, with the numbers, before allocating B for ``n_items`` items."""
    need = fit_bytes(n_items)
    if n_items > max_items:
        raise ConfigError(
            f"EASE on {n_items:,} items needs a dense {n_items:,}² item-item matrix "
            f"({need / 2**30:.1f} GiB to fit), above max_items = {max_items:,}. Raise it "
            f"with --set max_items={n_items} on a machine with the memory, or rank with "
            "item kNN, which keeps k neighbours per item")
    free = available_memory()
    if free is not None and need > free:
        raise ConfigError(
            f"EASE on {n_items:,} items needs {need / 2**30:.1f} GiB to fit; the system "
            f"reports {free / 2**30:.1f} GiB available. Free memory, or use a subset of the "
            "items")


def binary_matrix(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int):
    """X as a scipy CSR matrix of ones (a pair listed twice counts once)."""
    from scipy import sparse

    X = sparse.csr_matrix((np.ones(len(user), np.float32),
                           (np.asarray(user, np.int64), np.asarray(item, np.int64))),
                          shape=(n_users, n_items))
    X.sum_duplicates()
    X.data[:] = 1.0
    return X


def gram(X, dtype) -> np.ndarray:
    """XᵀX as a dense ``dtype`` matrix, built a block of item columns at a time so that the
    sparse intermediate never holds more than one block (a whole sparse Gram matrix of
    Netflix's who-rated-what would be nearly dense, and three times the dense size)."""
    n = X.shape[1]
    G = np.empty((n, n), dtype=dtype, order="F")
    Xt = X.T.tocsr()
    Xc = X.tocsc()
    for lo in range(0, n, GRAM_BLOCK):
        hi = min(lo + GRAM_BLOCK, n)
        G[:, lo:hi] = (Xt @ Xc[:, lo:hi]).toarray()
    return G


def ease_weights(X, lam: float) -> np.ndarray:
    """B = I - P diag(1/diag(P)), P = (XᵀX + λI)^-1 (Steck 2019, eq. 8); diag(B) = 0.

    XᵀX + λI is symmetric positive definite (λ > 0), so it is inverted through its
    Cholesky factor with LAPACK's potrf/potri, in place: the fit holds one dense n x n
    matrix, which becomes B.
    """
    from scipy.linalg import lapack

    n = X.shape[1]
    dtype = gram_dtype(n)
    G = gram(X, dtype)
    G[np.diag_indices(n)] += dtype(lam)
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    c, info = potrf(G, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ValueError(f"XᵀX + λI is not positive definite (potrf info {info}): raise λ")
    P, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError(f"inverting XᵀX + λI failed (potri info {info}): raise λ")
    del G, c
    # potri leaves the upper triangle: mirror it, a block of rows at a time.
    for lo in range(0, n, GRAM_BLOCK):
        hi = min(lo + GRAM_BLOCK, n)
        P[lo:hi, :lo] = P[:lo, lo:hi].T
        b = P[lo:hi, lo:hi]
        P[lo:hi, lo:hi] = np.triu(b) + np.triu(b, 1).T
    d = np.diag(P).copy()
    P /= -d[None, :]  # B_ij = -P_ij / P_jj
    P[np.diag_indices(n)] = 0.0
    return P  # Fortran order: a column B_:j is contiguous, as scoring reads it


class EASE(Predictor):
    """EASE (module docstring). Fitted: ``B_`` (items x items), ``X_`` (CSR, the users'
    rated items), ``biases_``, ``gamma_``."""

    family = "ease"
    name = "ease"
    Config = EASEConfig

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        check_memory(train.n_items, self.config.max_items)
        src = implicit_source(train, implicit) if self.config.implicit else train
        self.X_ = binary_matrix(src.user, src.item, train.n_users, train.n_items)
        self.B_ = ease_weights(self.X_, self.config.lambda_)
        self.biases_ = Biases().fit(train)
        # γ: least squares of the biases' residuals on the training scores. One scalar: a
        # fixed sample of GAMMA_SAMPLE ratings pins it (all of them below that), where the
        # whole training set would cost a users x items product (tens of minutes on Netflix).
        rows = np.arange(len(train))
        if len(rows) > GAMMA_SAMPLE:
            rows = np.sort(np.random.default_rng(0).choice(rows, GAMMA_SAMPLE, replace=False))
        user, item = np.asarray(train.user)[rows], np.asarray(train.item)[rows]
        s = self.pair_scores(user, item)
        z = np.asarray(train.rating)[rows] - self.biases_.predict(user, item).astype(np.float64)
        ss = float(np.dot(s, s))
        self.gamma_ = float(np.dot(z, s) / ss) if ss > 0 else 0.0

    # -- ranking ------------------------------------------------------------------------
    def scores(self, users) -> np.ndarray:
        """s_ui = X_u · B_:i for every user in ``users`` and every item: a (len(users),
        n_items) float32 matrix; 0 for users unknown or without ratings."""
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        out = np.zeros((len(users), self.B_.shape[1]), np.float32)
        known = (users >= 0) & (users < self.X_.shape[0])
        idx = np.flatnonzero(known)
        for lo in range(0, len(idx), USER_BATCH):
            part = idx[lo:lo + USER_BATCH]
            out[part] = self.X_[users[part]] @ self.B_
        return out

    def rank(self, users, n: int, exclude_rated: bool = True) -> np.ndarray:
        """The top ``n`` items of each user by score, best first (rated items left out)."""
        s = self.scores(users)
        if exclude_rated:
            users = np.asarray(users, np.int64)
            for r, u in enumerate(users):
                if 0 <= u < self.X_.shape[0]:
                    s[r, self.X_.indices[self.X_.indptr[u]:self.X_.indptr[u + 1]]] = -np.inf
        top = np.argpartition(-s, min(n, s.shape[1] - 1), axis=1)[:, :n]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1)

    def pair_scores(self, users, items) -> np.ndarray:
        """s_ui for the pairs (users[k], items[k]), float64; 0 for unknown ids."""
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        out = np.zeros(len(users), np.float64)
        ok = (users >= 0) & (users < self.X_.shape[0]) & (items >= 0) & (
            items < self.B_.shape[0])
        idx = np.flatnonzero(ok)
        if not len(idx):
            return out
        # Users in blocks: one sparse-dense product per block, then pick the pairs' cells.
        order = idx[np.argsort(users[idx], kind="stable")]
        u_sorted = users[order]
        uniq, first = np.unique(u_sorted, return_index=True)
        bounds = np.r_[first, len(order)]
        for lo in range(0, len(uniq), USER_BATCH):
            hi = min(lo + USER_BATCH, len(uniq))
            block = np.asarray(self.X_[uniq[lo:hi]] @ self.B_)
            rows = order[bounds[lo]:bounds[hi]]
            local = np.searchsorted(uniq[lo:hi], users[rows])
            out[rows] = block[local, items[rows]]
        return out

    # -- the rating contract --------------------------------------------------------------
    def _predict(self, users, items, days):
        base = self.biases_.predict(users, items, days).astype(np.float64)
        return base + self.gamma_ * self.pair_scores(users, items)

