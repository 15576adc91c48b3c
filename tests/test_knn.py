"""The kNN family: the contract, each kernel against a slow pure-Python twin, hand-computed
values, configs, and training on another predictor's residuals through the CLI.

Accuracy on real and synthetic data is in ``test_knn_accuracy.py``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
from functools import partial

import numpy as np
import pytest
from conftest import make_toy_dataset, run_prize
from contract import PredictorContract, rmse
from scipy.optimize import nnls as scipy_nnls

from prize.config import load_toml, resolve_config_path
from prize.data.dataset import Ratings
from prize.errors import ConfigError
from prize.models import family_module, make_predictor
from prize.models.knn import SIMILARITIES
from prize.models.knn import _kernels as K
from prize.models.knn._neighbours import (
    EMPTY_F32,
    EMPTY_I32,
    by_user,
    compute_neighbours,
    item_major,
    mirror_upper,
    pairs_by_user,
    user_major,
)


# -- the contract, for every model and both storage layouts ---------------------------------
class TestItem(PredictorContract):
    family, model, overrides = "knn", "item", {}
    margin = 0.3  # planted: 0.60 against the mean's 0.956 (biases: 0.66)


class TestItemTopK(PredictorContract):
    # dense_max_items = 0 forces the top-K layout.
    family, model, overrides = "knn", "item", {"dense_max_items": 0, "max_neighbours": 60}
    margin = 0.3  # planted: 0.604


class TestItemCosine(PredictorContract):
    family, model, overrides = "knn", "item", {"similarity": "cosine", "k": 20}
    margin = 0.3  # planted: 0.599


class TestItemPearson(PredictorContract):
    family, model, overrides = "knn", "item", {"similarity": "pearson", "k": 20}
    margin = 0.3  # planted: 0.592


class TestCinematchProxy(PredictorContract):
    family, model, overrides = "knn", "cinematch-proxy", {}
    margin = 0.3  # planted: 0.602

    def test_built_from_its_config(self, fitted):
        assert fitted.family == "knn" and fitted.name == "item"
        assert fitted.config.k == 35 and fitted.config.similarity == "pearson_baseline"


class TestInterp(PredictorContract):
    family, model, overrides = "knn", "interp", {}
    margin = 0.3  # planted: 0.621 (400 users: too few for the k x k systems to shine)


class TestInterpGlobalEffects(PredictorContract):
    family, model, overrides = "knn", "interp", {"baseline": "global_effects"}
    margin = 0.3  # planted: 0.621

    def test_residuals_are_those_of_the_global_effects(self, fitted, data):
        train = data[0]
        ge = fitted.baseline_
        assert type(ge).__name__ == "GlobalEffects" and fitted.bu_ is None
        um = fitted.ratings_
        user = np.repeat(np.arange(len(um.ptr) - 1), np.diff(um.ptr))
        day = {(int(u), int(i)): int(d) for u, i, d in zip(train.user, train.item, train.day,
                                                           strict=True)}
        days = np.array([day[int(u), int(i)] for u, i in zip(user, um.items, strict=True)])
        rating = {(int(u), int(i)): float(r)
                  for u, i, r in zip(train.user, train.item, train.rating, strict=True)}
        r = np.array([rating[int(u), int(i)] for u, i in zip(user, um.items, strict=True)])
        np.testing.assert_allclose(um.z, r - ge._predict(user, um.items.astype(np.int64),
                                                         days.astype(np.int32)), atol=1e-5)
        # an unknown item has no neighbours: the prediction is the baseline's
        u, i = np.array([0, 1]), np.array([fitted.n_items_ + 3, fitted.n_items_ + 4])
        want = np.clip(ge._predict(u, i, np.zeros(2, np.int32)), *fitted.scale_)
        np.testing.assert_allclose(fitted.predict(u, i), want, atol=1e-6)


class TestInterpTopK(PredictorContract):
    family, model, overrides = "knn", "interp", {"dense_max_items": 0, "max_neighbours": 40}
    margin = 0.3  # planted: 0.628


class TestGlobal(PredictorContract):
    family, model, overrides = "knn", "global", {"n_epochs": 8}
    margin = 0.3  # planted: 0.622


# -- a tiny matrix for the twins --------------------------------------------------------------
#   7 users x 8 items, 31 ratings. Item 6 is rated only by user 6, who rated nothing else
#   (no co-raters); user 2 gives every item a 3; item 7 has no ratings at all.
TINY = [
    (0, 0, 5), (0, 1, 4), (0, 2, 1), (0, 3, 4), (0, 5, 2),
    (1, 0, 4), (1, 1, 5), (1, 3, 3), (1, 4, 1), (1, 5, 1),
    (2, 0, 3), (2, 1, 3), (2, 2, 3), (2, 3, 3), (2, 4, 3),
    (3, 1, 2), (3, 2, 5), (3, 4, 4), (3, 5, 5),
    (4, 0, 1), (4, 2, 4), (4, 3, 2), (4, 4, 5), (4, 5, 4),
    (5, 0, 5), (5, 1, 5), (5, 2, 2), (5, 3, 5), (5, 4, 1), (5, 5, 1),
    (6, 6, 4),
]
N_USERS, N_ITEMS = 7, 8


def tiny_ratings() -> Ratings:
    u, i, r = (np.array(c) for c in zip(*TINY, strict=True))
    return Ratings(u.astype(np.int32), i.astype(np.int32), r.astype(np.float32),
                   np.full(len(u), 12_000, np.int32), N_USERS, N_ITEMS)


def tiny_user_major():
    """Residuals of a simple baseline (any would do: the twins see the same numbers)."""
    train = tiny_ratings()
    mu = float(np.mean(train.rating, dtype=np.float64))
    rng = np.random.default_rng(3)
    bu, bi = rng.normal(0, 0.3, N_USERS), rng.normal(0, 0.3, N_ITEMS)
    return user_major(train, mu, bu, bi), mu, bu, bi


def by_item_dict(um, values) -> dict[int, dict[int, float]]:
    """item -> {user: value}, from the user-major arrays."""
    out: dict[int, dict[int, float]] = {i: {} for i in range(N_ITEMS)}
    for u in range(N_USERS):
        for r in range(um.ptr[u], um.ptr[u + 1]):
            out[int(um.items[r])][u] = float(values[r])
    return out


# -- twin: similarities -----------------------------------------------------------------------
def similarity_twin(cols, centred, shrinkage):
    """Every pair the slow way: common raters, (centred) sums, shrunk correlation."""
    S = np.zeros((N_ITEMS, N_ITEMS))
    P = np.zeros((N_ITEMS, N_ITEMS))
    C = np.zeros((N_ITEMS, N_ITEMS))
    for i in range(N_ITEMS):
        for j in range(N_ITEMS):
            common = sorted(set(cols[i]) & set(cols[j]))
            if i == j or not common:
                continue
            xs = [cols[i][u] for u in common]
            ys = [cols[j][u] for u in common]
            n = len(common)
            P[i, j] = sum(a * b for a, b in zip(xs, ys, strict=True))
            C[i, j] = n
            if centred:
                mx, my = sum(xs) / n, sum(ys) / n
                xs = [a - mx for a in xs]
                ys = [b - my for b in ys]
            vx = sum(a * a for a in xs)
            vy = sum(b * b for b in ys)
            if vx > 1e-9 and vy > 1e-9:
                rho = sum(a * b for a, b in zip(xs, ys, strict=True)) / math.sqrt(vx * vy)
                S[i, j] = n / (n + shrinkage) * rho
    return S, P, C


def top_twin(S, C, top):
    """Each row's ``top`` largest non-zero s_ij among co-rated j (ties: lower j), by j."""
    rows = []
    for i in range(N_ITEMS):
        cands = [(S[i, j], j) for j in range(N_ITEMS) if C[i, j] > 0 and S[i, j] != 0]
        cands.sort(key=lambda t: (-t[0], t[1]))
        rows.append(sorted(j for _, j in cands[:top]))
    return rows


def run_similarities(um, x, centred, shrinkage, dense, top=3, products=True):
    ip, iu, ipos = item_major(um, N_ITEMS)
    row_avg = np.zeros((N_ITEMS, 2))
    if dense:
        S = np.zeros((N_ITEMS, N_ITEMS), np.float32)
        P = np.zeros_like(S) if products else EMPTY_F32
        C = np.zeros_like(S) if products else EMPTY_F32
        K.similarities(ip, iu, ipos, um.ptr, um.items, x, S, P, C, EMPTY_I32, EMPTY_F32,
                       EMPTY_F32, EMPTY_F32, np.zeros(0, np.int32), row_avg, centred,
                       shrinkage, 3)
        for m in (S, P, C):  # the kernel writes the upper triangle, the caller mirrors it
            assert not np.tril(m).any()
            mirror_upper(m)
        return S, P, C, row_avg
    idx = np.full((N_ITEMS, top), -1, np.int32)
    s, p, c = (np.zeros((N_ITEMS, top), np.float32) for _ in range(3))
    cnt = np.zeros(N_ITEMS, np.int32)
    K.similarities(ip, iu, ipos, um.ptr, um.items, x, EMPTY_F32, EMPTY_F32, EMPTY_F32, idx, s,
                   p, c, cnt, row_avg, centred, shrinkage, 3)
    return idx, s, p, c, cnt, row_avg


@pytest.mark.parametrize("name", list(SIMILARITIES))
def test_similarities_match_the_twin(name):
    um, *_ = tiny_user_major()
    sim = SIMILARITIES[name]
    x = um.z if sim.on_residuals else um.rating
    S_t, P_t, C_t = similarity_twin(by_item_dict(um, x), sim.centred, 2.0)
    S, P, C, row_avg = run_similarities(um, x, sim.centred, 2.0, dense=True)
    np.testing.assert_allclose(S, S_t, atol=1e-6)
    np.testing.assert_allclose(P, P_t, atol=1e-5)
    np.testing.assert_array_equal(C, C_t)
    assert not S[6].any() and not S[:, 6].any()  # no co-raters
    assert not S[7].any()  # no ratings
    upper = np.triu(C_t, 1) > 0
    np.testing.assert_allclose(row_avg[:, 1].sum(), upper.sum())
    np.testing.assert_allclose(row_avg[:, 0].sum(), (P_t[upper] / C_t[upper]).sum())
    # The top-K layout keeps the best 3 of each row, sorted by item, with the same values.
    idx, s, p, c, cnt, _ = run_similarities(um, x, sim.centred, 2.0, dense=False, top=3)
    for i, want in enumerate(top_twin(S_t, C_t, 3)):
        assert idx[i, :cnt[i]].tolist() == want
        np.testing.assert_allclose(s[i, :cnt[i]], S_t[i, want], atol=1e-6)
        np.testing.assert_allclose(p[i, :cnt[i]], P_t[i, want], atol=1e-5)
        np.testing.assert_array_equal(c[i, :cnt[i]], C_t[i, want])
    assert cnt[6] == 0 and cnt[7] == 0


def test_mirror_upper():
    rng = np.random.default_rng(2)
    for n in (1, 5, 7, 20):
        a = np.triu(rng.normal(size=(n, n)), 1).astype(np.float32)
        want = a + a.T
        mirror_upper(a, block=3)
        np.testing.assert_array_equal(a, want)


def test_shrunk_correlation_by_hand():
    # x_i = (1, 2, -1), x_j = (2, 1, -1) over three common raters: rho = 5 / 6; shrunk
    # with lambda = 3 by 3 / (3 + 3).
    s = K.shrunk_correlation(3.0, 5.0, 6.0, 6.0, 0.0, 0.0, False, 3.0)
    assert s == pytest.approx(0.5 * 5 / 6)
    # Centred: means 2/3 and 2/3; cov = 5 - 4/3, var = 6 - 4/3 each.
    s = K.shrunk_correlation(3.0, 5.0, 6.0, 6.0, 2.0, 2.0, True, 0.0)
    assert s == pytest.approx((5 - 4 / 3) / (6 - 4 / 3))
    # Equal values have no variance: no correlation, not 0/0.
    assert K.shrunk_correlation(3.0, 27.0, 27.0, 12.0, 9.0, 6.0, True, 0.0) == 0.0


# -- twin: correlation and interpolation predictions ------------------------------------------
def nnls_twin(A, b, sweeps=500, tol=1e-12):
    """Projected coordinate descent on 1/2 w'Aw - b'w, w >= 0, written out plainly."""
    m = len(b)
    w = [0.0] * m
    for _ in range(sweeps):
        moved = 0.0
        for a in range(m):
            if A[a][a] <= 0:
                continue
            grad = sum(A[a][c] * w[c] for c in range(m)) - b[a]
            new = max(0.0, w[a] - grad / A[a][a])
            moved = max(moved, abs(new - w[a]))
            w[a] = new
        if moved <= tol:
            break
    return w


def predict_twin(um, u, i, sim, k, min_sim, interpolate, A=None, diag=None, lam=0.0):
    """The neighbourhood term for (u, i), every step spelled out."""
    cands = []
    for r in range(um.ptr[u], um.ptr[u + 1]):
        j = int(um.items[r])
        s = sim(i, j)
        if j != i and s != 0 and s > min_sim:
            cands.append((s, j, float(um.z[r])))
    cands.sort(key=lambda t: (-t[0], t[1]))
    chosen = sorted(cands[:k], key=lambda t: t[1])
    if not interpolate:
        den = lam + sum(abs(s) for s, _, _ in chosen)
        return sum(s * z for s, _, z in chosen) / den if den > 0 else 0.0
    js = [j for _, j, _ in chosen]
    mat = [[diag[a] if a == b else A(a, b) for b in js] for a in js]
    w = nnls_twin(mat, [A(i, j) for j in js])
    return sum(wa * z for wa, (_, _, z) in zip(w, chosen, strict=True))


def run_predict(um, nb, users, items, k, min_sim, interpolate, lam=0.0):
    order, qu, qi, chunk_ptr = by_user(np.asarray(users), np.asarray(items))
    out = np.zeros(len(qu))
    K.neighbourhood_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z, nb.dense_s, nb.dense_a,
                            nb.idx, nb.s, nb.a, nb.cnt, nb.diag_a, out, k, min_sim,
                            interpolate, nb.avg_off, 1000, 1e-12, lam)
    result = np.empty(len(qu))
    result[order] = out
    return result


def all_pairs():
    users, items = np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij")
    return users.ravel(), items.ravel()


def stored_sim(nb, dense, i, j):
    """s_ij as the neighbour structure holds it (0 where top-K storage dropped the pair)."""
    if dense:
        return float(nb.dense_s[i, j])
    row = nb.idx[i, :nb.cnt[i]].tolist()
    return float(nb.s[i, row.index(j)]) if j in row else 0.0


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("k, min_sim, lam", [(2, 0.0, 0.0), (3, -1.0, 0.0), (10, 0.0, 0.0),
                                             (3, -1.0, 0.7), (10, 0.0, 0.7)])
def test_correlation_prediction_matches_the_twin(dense, k, min_sim, lam):
    um, *_ = tiny_user_major()
    nb = compute_neighbours(um, N_ITEMS, similarity="pearson_baseline", shrinkage=1.0,
                            dense=dense, top=4)

    sim = partial(stored_sim, nb, dense)

    users, items = all_pairs()
    got = run_predict(um, nb, users, items, k, min_sim, False, lam)
    want = [predict_twin(um, u, i, sim, k, min_sim, False, lam=lam)
            for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.count_nonzero(got) > 10  # not trivially zero
    assert not got[items == 6].any() and not got[users == 6].any()


@pytest.mark.parametrize("dense", [True, False])
def test_interpolation_prediction_matches_the_twin(dense):
    um, *_ = tiny_user_major()
    beta = 2.0
    nb = compute_neighbours(um, N_ITEMS, similarity="pearson_baseline", shrinkage=1.0,
                            dense=dense, top=4, beta=beta)
    # Â from its definition, on the twin's raw sums.
    cols = by_item_dict(um, um.z)
    _, P, C = similarity_twin(cols, False, 1.0)
    upper = np.triu(C, 1) > 0
    avg_off = float(np.mean(P[upper] / C[upper]))
    assert nb.avg_off == pytest.approx(avg_off)
    sq = [sum(v * v for v in cols[j].values()) for j in range(N_ITEMS)]
    n = [len(cols[j]) for j in range(N_ITEMS)]
    avg_diag = np.mean([sq[j] / n[j] for j in range(N_ITEMS) if n[j]])
    diag = [(sq[j] + beta * avg_diag) / (n[j] + beta) for j in range(N_ITEMS)]
    np.testing.assert_allclose(nb.diag_a, diag, rtol=1e-6)

    def kept(i, j):
        """Whether the pair is stored (dense: all; top-K: j among i's best or i among j's)."""
        if dense:
            return True
        return j in nb.idx[i, :nb.cnt[i]].tolist() or i in nb.idx[j, :nb.cnt[j]].tolist()

    def A(j, l):
        if not kept(j, l):
            return avg_off
        return (P[j, l] + beta * avg_off) / (C[j, l] + beta)

    sim = partial(stored_sim, nb, dense)

    users, items = all_pairs()
    for k in (2, 5):
        got = run_predict(um, nb, users, items, k, 0.0, True)
        want = [predict_twin(um, u, i, sim, k, 0.0, True, A, diag)
                for u, i in zip(users, items, strict=True)]
        np.testing.assert_allclose(got, want, atol=2e-5)
        assert np.count_nonzero(got) > 10


@pytest.mark.parametrize("model", ["item", "interp"])
def test_sparse_data_keeps_exact_lists(model):
    # 400 items, 300 users with 2..6 ratings each: items have few co-rated items, so the
    # similarities are stored as full per-item lists, and predict exactly as the dense
    # matrix does.
    rng = np.random.default_rng(5)
    n_u = rng.integers(2, 7, 300)
    users = np.repeat(np.arange(300), n_u).astype(np.int32)
    items = np.concatenate([rng.choice(400, n, replace=False) for n in n_u]).astype(np.int32)
    # Two tastes: r = 3 +- 1.5 as user and item agree or not, so residuals correlate.
    taste_u, taste_i = rng.choice([-1.0, 1.0], 300), rng.choice([-1.0, 1.0], 400)
    rating = np.rint(3 + 1.5 * taste_u[users] * taste_i[items]).astype(np.float32)
    train = Ratings(users, items, rating, np.zeros(len(users), np.int32), 300, 400)
    # (beta = 1: with one or two common raters per pair the default prior would win.)
    fitted, _ = make_predictor("knn", model, ["beta=1.0"] if model == "interp" else [])
    fitted.fit(train)
    nb = fitted.neighbours_
    assert not nb.dense and nb.idx.shape[1] < 100
    dense = compute_neighbours(fitted.ratings_, 400, similarity="pearson_baseline",
                               shrinkage=100.0, dense=True,
                               beta=fitted.config.beta if model == "interp" else None)
    qu, qi = rng.integers(0, 300, 3000), rng.integers(0, 400, 3000)
    k, interpolate = fitted.config.k, model == "interp"
    got = run_predict(fitted.ratings_, nb, qu, qi, k, 0.0, interpolate)
    want = run_predict(fitted.ratings_, dense, qu, qi, k, 0.0, interpolate)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.count_nonzero(got) > 100


def test_nnls_against_scipy():
    # min 1/2 w'Aw - b'w, w >= 0 is NNLS on ||L'w - L^-1 b|| with A = LL'.
    rng = np.random.default_rng(0)
    for m in (1, 3, 8, 30):
        M = rng.normal(size=(m + 5, m))
        A = M.T @ M / (m + 5) + 0.05 * np.eye(m)
        b = rng.normal(size=m)
        w, g = np.zeros(m), np.zeros(m)
        K.nnls(A, b, w, g, m, 10_000, 1e-13)
        L = np.linalg.cholesky(A)
        want, _ = scipy_nnls(L.T, np.linalg.solve(L, b))
        np.testing.assert_allclose(w, want, atol=1e-6)
        assert (w >= 0).all()
    # A coordinate without curvature stays at zero.
    w, g = np.zeros(2), np.zeros(2)
    K.nnls(np.array([[0.0, 0.0], [0.0, 2.0]]), np.array([1.0, 1.0]), w, g, 2, 10, 0.0)
    np.testing.assert_allclose(w, [0.0, 0.5])


# -- twin: the global neighbourhood model -----------------------------------------------------
def neighbour_sets(nb_idx, nb_cnt, i, rated_u: dict, known_u) -> tuple[list, list]:
    """R^k(i;u) as (position in S^k(i), z_uj) pairs and N^k(i;u) as positions."""
    nbrs = nb_idx[i, :nb_cnt[i]].tolist()
    return ([(a, rated_u[j]) for a, j in enumerate(nbrs) if j in rated_u],
            [a for a, j in enumerate(nbrs) if j in known_u])


def neighbour_term(w, c, i, R, N) -> float:
    """|R^k|^-1/2 sum w_ij z_uj + |N^k|^-1/2 sum c_ij (each part 0 when its set is empty)."""
    t = 0.0
    if R:
        t += sum(w[i, a] * z for a, z in R) / math.sqrt(len(R))
    if N:
        t += sum(c[i, a] for a in N) / math.sqrt(len(N))
    return t


def neighbour_step(w, c, i, R, N, e, lr, reg) -> None:
    """Koren's SGD step of the neighbour weights for a rating with error ``e``."""
    for a, z in R:
        w[i, a] += lr * (e * z / math.sqrt(len(R)) - reg * w[i, a])
    for a in N:
        c[i, a] += lr * (e / math.sqrt(len(N)) - reg * c[i, a])


def global_twin(um, implicit, nb_idx, nb_cnt, bu, bi, w, c, mu, lr, reg_bias, reg, order,
                queries):
    """One SGD epoch, then predictions, with sets and dicts (the arrays are updated)."""
    rated = {u: {int(um.items[r]): float(um.z[r]) for r in range(um.ptr[u], um.ptr[u + 1])}
             for u in range(N_USERS)}
    known = {u: set(implicit[1][implicit[0][u]:implicit[0][u + 1]].tolist())
             for u in range(N_USERS)}

    def terms(u, i):
        R, N = neighbour_sets(nb_idx, nb_cnt, i, rated[u], known[u])
        return mu + bu[u] + bi[i] + neighbour_term(w, c, i, R, N), R, N

    sse = 0.0
    for u in order:
        for r in range(um.ptr[u], um.ptr[u + 1]):
            i = int(um.items[r])
            est, R, N = terms(u, i)
            e = float(um.rating[r]) - est
            sse += e * e
            bu[u] += lr * (e - reg_bias * bu[u])
            bi[i] += lr * (e - reg_bias * bi[i])
            neighbour_step(w, c, i, R, N, e, lr, reg)
    return sse, [terms(u, i)[0] for u, i in queries]


def test_global_epoch_and_prediction_match_the_twin():
    um, mu, *_ = tiny_user_major()
    nb = compute_neighbours(um, N_ITEMS, similarity="pearson_baseline", shrinkage=1.0,
                            dense=False, top=3)
    # Implicit feedback: the training pairs plus a few more (user 6 "saw" items 0 and 1).
    tr = tiny_ratings()
    users = np.r_[tr.user, 6, 6, 2]
    items = np.r_[tr.item, 0, 1, 6]
    implicit = pairs_by_user(users, items, N_USERS, N_ITEMS)
    rng = np.random.default_rng(1)
    state = [rng.normal(0, 0.1, N_USERS), rng.normal(0, 0.1, N_ITEMS),
             rng.normal(0, 0.1, (N_ITEMS, 3)), rng.normal(0, 0.1, (N_ITEMS, 3))]
    twin_state = [a.copy() for a in state]
    order = np.array([3, 0, 6, 1, 5, 2, 4], np.int64)
    args = (0.05, 0.1, 0.2)  # lr, reg_bias, reg
    sse = K.global_epoch(order, um.ptr, um.items, um.rating, um.z, *implicit, nb.idx, nb.cnt,
                         *state, mu, *args)
    users_q, items_q = all_pairs()
    queries = list(zip(users_q.tolist(), items_q.tolist(), strict=True))
    sse_t, pred_t = global_twin(um, implicit, nb.idx, nb.cnt, *twin_state, mu, *args,
                                order.tolist(), queries)
    assert sse == pytest.approx(sse_t, rel=1e-10)
    for got, want in zip(state, twin_state, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    q_order, qu, qi, chunk_ptr = by_user(users_q, items_q)
    out = np.zeros(len(qu))
    K.global_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z, *implicit, nb.idx, nb.cnt,
                     *state, out, mu)
    got = np.empty(len(out))
    got[q_order] = out
    np.testing.assert_allclose(got, pred_t, atol=1e-12)


# -- hand-computed item kNN --------------------------------------------------------------------
def test_item_prediction_by_hand():
    # Biases with huge regularization are ~0, so z = r - mu. Users 0..2 give items 0 and 1
    # the same stars, so over their common raters the two residual vectors are equal and,
    # with lambda = 0, s = rho = 1. User 3 rated item 1 only: the prediction for (3, 0) is
    # mu + z_31 = 2, its one neighbour's residual added to the baseline.
    train = Ratings(np.array([0, 0, 1, 1, 2, 2, 3], np.int32),
                    np.array([0, 1, 0, 1, 0, 1, 1], np.int32),
                    np.array([5, 5, 1, 1, 4, 4, 2], np.float32),
                    np.full(7, 12_000, np.int32), 4, 2)
    model, _ = make_predictor("knn", values={"model": "item", "shrinkage": 0.0,
                                             "weight_shrinkage": 0.0,
                                             "baseline_reg_item": 1e12,
                                             "baseline_reg_user": 1e12})
    model.fit(train)
    mu = 22 / 7
    assert model.neighbours_.dense_s[0, 1] == pytest.approx(1.0)
    assert model.predict([3], [0])[0] == pytest.approx(2.0, abs=1e-5)  # mu + (2 - mu)
    # lambda_w = 1 is a pseudo-neighbour of similarity 1 and residual 0: half the way.
    model, _ = make_predictor("knn", values={"model": "item", "shrinkage": 0.0,
                                             "weight_shrinkage": 1.0,
                                             "baseline_reg_item": 1e12,
                                             "baseline_reg_user": 1e12})
    model.fit(train)
    assert model.predict([3], [0])[0] == pytest.approx(mu + (2 - mu) / 2, abs=1e-5)
    # Shrinkage: n = 3 common raters and lambda = 3 halve s, which cancels in the weighted
    # average of a single neighbour; an unknown user falls back to the baseline mu.
    model, _ = make_predictor("knn", values={"model": "item", "shrinkage": 3.0,
                                             "weight_shrinkage": 0.0,
                                             "baseline_reg_item": 1e12,
                                             "baseline_reg_user": 1e12})
    model.fit(train)
    assert model.neighbours_.dense_s[0, 1] == pytest.approx(0.5)
    assert model.predict([3, -1], [0, 0]) == pytest.approx([2.0, mu], abs=1e-5)


def test_neighbours_exclude_the_target_item():
    # Predicting a training pair must not use the rating itself.
    model, _ = make_predictor("knn", values={"model": "item", "k": 1, "weight_shrinkage": 0.0})
    model.fit(tiny_ratings())
    um = model.ratings_
    for u, i, _ in TINY[:10]:
        s = model.neighbours_.dense_s[i]
        mine = um.items[um.ptr[u]:um.ptr[u + 1]]
        others = [j for j in mine if j != i and s[j] > 0]
        if not others:
            continue
        j = max(others, key=lambda j: (s[j], -j))
        z = um.z[um.ptr[u] + list(mine).index(j)]
        base = model.mu_ + model.bu_[u] + model.bi_[i]
        assert model.predict([u], [i])[0] == pytest.approx(np.clip(base + z, 1, 5), abs=1e-5)


# -- configs ----------------------------------------------------------------------------------
MODELS = family_module("knn").MODELS
SHIPPED = {"item": "item", "interp": "interp", "global": "global",
           "integrated": "integrated", "cinematch-proxy": "item"}


@pytest.mark.parametrize("config, model", list(SHIPPED.items()))
def test_shipped_configs_list_every_field(config, model):
    values = load_toml(resolve_config_path("knn", config))
    assert values.pop("model") == model
    fields = {f.name: f.default for f in dataclasses.fields(MODELS[model].Config)}
    assert set(values) == set(fields)
    if config == model:  # the model's own file holds its defaults (a TOML list: a tuple)
        assert {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()} == fields
    documented = set()  # a field's docstring may sit in the class that declares it
    for cls in MODELS[model].Config.__mro__:
        if not dataclasses.is_dataclass(cls):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
        documented |= {a.target.id for a, b in zip(body, body[1:], strict=False)
                       if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                       and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)}
    assert documented == set(fields)


def test_default_config_is_interp():
    predictor, path = make_predictor("knn")
    assert predictor.name == "interp" and path.name == "interp.toml"


@pytest.mark.parametrize("model, bad, message", [
    ("item", ["similarity=\"jaccard\""], "expected one of pearson_baseline, pearson, cosine"),
    ("item", ["k=0"], "k = 0"),
    ("item", ["shrinkage=-1"], "shrinkage = -1"),
    ("item", ["baseline=\"svd\""], "expected one of 'biases', 'global_effects'"),
    ("interp", ["similarity=\"cosine\""], "computed on the residuals"),
    ("interp", ["beta=-2"], "beta = -2"),
    ("global", ["lr_decay=1.5"], "lr_decay"),
    ("global", ["neighbours=3"], "allowed keys: k, similarity"),
    ("integrated", ["n_factors=0"], "n_factors = 0"),
    ("integrated", ["lr_weights=0"], "lr_weights must be > 0"),
    ("integrated", ["lr_decay=1.5"], "lr_decay"),
    ("integrated", ["reg=-0.1"], "reg = -0.1: expected a number >= 0"),
    ("integrated", ["init_std=-1"], "init_std = -1"),
    ("integrated", ["implicit=\"probe\""], "implicit"),
    ("integrated", ["k=0"], "k = 0"),
    ("integrated", ["similarity=\"jaccard\""], "expected one of pearson_baseline"),
    ("integrated", ["factors=3"], "allowed keys: k, similarity"),
])
def test_config_errors_name_the_problem(model, bad, message):
    with pytest.raises(ConfigError, match=message):
        make_predictor("knn", model, bad)


@pytest.mark.parametrize("model_name, settings, params", [
    ("global", ["n_epochs=4"], ("w_", "c_", "bu_", "bi_")),
    ("integrated", ["n_epochs=4", "n_factors=8"], ("P_", "Q_", "Y_", "w_", "c_", "bu_", "bi_")),
])
def test_resumes_from_a_checkpoint_exactly(tmp_path, model_name, settings, params):
    from planted import planted

    from prize.models.epochs import load_checkpoint

    train, probe = planted(n_users=150, n_items=60, n_per_user=(10, 40))

    def trainer():
        model, _ = make_predictor("knn", model_name, settings)
        return model, model.fit_epochs(train, probe=probe)

    model, whole = trainer()
    runs = whole.run()
    next(runs), next(runs)
    whole.save_checkpoint(tmp_path / "ckpt.npz")
    list(runs)
    again, resumed = trainer()  # a fresh model: no residuals or implicit pairs built yet
    resumed.restore(load_checkpoint(tmp_path / "ckpt.npz"))
    assert [r.epoch for r in resumed.run()] == [3, 4]
    for name in params:
        np.testing.assert_array_equal(getattr(again, name), getattr(model, name))
    np.testing.assert_array_equal(again.predict(probe.user, probe.item, probe.day),
                                  model.predict(probe.user, probe.item, probe.day))


# -- residuals of another predictor, through the CLI -------------------------------------------
def make_planted_dataset(home, name: str = "planted"):
    """The planted ratings (biases plus a rank-3 interaction) through the CSV importer, so
    that neighbours have something to find in the biases' residuals."""
    from planted import planted

    from prize.data.csv import import_csv

    train, probe = planted()
    lines = [f"{u},{i},{r:g},{86_400 * d}"
             for part in (train, probe)
             for u, i, r, d in zip(part.user, part.item, part.rating, part.day, strict=True)]
    src = home / f"{name}.csv"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("\n".join(lines) + "\n")
    import_csv(src, home / "data" / name, name=name)


def test_knn_on_the_residuals_of_a_stored_predictor(home):
    make_planted_dataset(home)
    base = run_prize("train", "baseline", "--data", "planted", "--name", "biases",
                     "--keep-train-predictions", "--json", home=home, json_out=True)
    # item goes through fit(), global through the epoch loop with the implicit pairs (interp
    # is fitted like item; test_residual_ratings_fit_directly covers all three in-process).
    for model in ("item", "global"):
        res = run_prize("train", "knn", "--data", "planted", "--config", model,
                        "--residuals-of", "biases", "--json", home=home, json_out=True)
        assert res["name"] == f"knn-{model}-on-biases" and res["residuals_of"] == "biases"
        # The neighbours find the planted interaction the biases leave (probe RMSE: biases
        # 0.659, item on its residuals 0.622, global 0.608; 0.02 is the slack).
        assert res["probe_rmse"] < base["probe_rmse"] - 0.02, (model, res, base)
    final = run_prize("train", "knn", "--data", "planted", "--name", "knn-item-on-biases",
                      "--round", "final", "--json", home=home, json_out=True)
    assert final["round"] == "final" and final["residuals_of"] == "biases"
    assert math.isfinite(final["quiz_rmse"])


def test_residual_ratings_fit_directly():
    # Residual Ratings live on the span (-4, 4) with mean near 0; the models must not assume
    # a 1..5 scale anywhere.
    from planted import planted

    train, probe = planted()
    base, _ = make_predictor("baseline", "biases")
    base.fit(train)

    def residual(r):
        z = r.rating - base.predict(r.user, r.item)
        return dataclasses.replace(r, rating=z.astype(np.float32), scale=(-4.0, 4.0))

    base_rmse = rmse(base.predict(probe.user, probe.item), probe.rating)
    for model in ("item", "interp", "global"):
        m, _ = make_predictor("knn", model, ["n_epochs=8"] if model == "global" else [])
        m.fit(residual(train), probe=residual(probe))
        pred = np.clip(base.predict(probe.user, probe.item)
                       + m.predict(probe.user, probe.item, probe.day), 1, 5)
        assert rmse(pred, probe.rating) < base_rmse - 0.02, model


# -- the Cinematch proxy as the reference -----------------------------------------------------
def test_the_proxy_is_the_reference_and_every_leaderboard_set_trains_it():
    # On data that is not Netflix's the "vs ref" column is measured against the proxy: the
    # importers record DEFAULT_REFERENCE, so each shipped set must train that predictor
    # under that name with that config, or its leaderboard would have no reference.
    from prize.config import CONFIG_ROOT
    from prize.data.dataset import CINEMATCH, DEFAULT_REFERENCE
    from prize.runs.sets import load_set

    ref = DEFAULT_REFERENCE
    assert (ref["name"], ref["family"], ref["config"]) == (
        "knn-cinematch-proxy", "knn", "cinematch-proxy")
    assert CINEMATCH["kind"] == "official" and ref["kind"] == "predictor"
    model, _ = make_predictor("knn", ref["config"])
    assert (model.name, model.config.k, model.config.similarity) == (
        "item", 35, "pearson_baseline")
    sets = sorted((CONFIG_ROOT / "leaderboard").glob("*.toml"))
    assert sets
    for path in sets:
        specs = {s.name: s for s in load_set(path).predictors}
        assert ref["name"] in specs, path.name
        spec = specs[ref["name"]]
        assert (spec.family, spec.config, spec.set, spec.residuals_of) == (
            ref["family"], ref["config"], (), None), path.name


def test_out_of_fold_training_predictions(home):
    """--train-folds K: each training rating is predicted by a model of the same config that
    never saw it. An MF with no regularisation fits its own training ratings better than
    it predicts others; out of fold, its training RMSE is near the probe's. In-process,
    each fold's predictions are those of the model fitted on the other folds, computed
    by hand."""
    from prize.data.dataset import Split, open_dataset
    from prize.probes import ProbeStore
    from prize.runs.single import FOLD_SEED, out_of_fold

    make_planted_dataset(home)
    mf = ["--set", "n_factors=40", "--set", "reg=0.0", "--set", "reg_prior=0",
          "--set", "reg_bias=0.0", "--set", "reg_bias_prior=0", "--set", "early_stopping=false",
          "--set", "n_epochs=25", "--allow-worse", "--json"]
    run_prize("train", "mf", "--data", "planted", "--name", "mf-in",
              "--keep-train-predictions", *mf, home=home, json_out=True)
    oof = run_prize("train", "mf", "--data", "planted", "--name", "mf-oof", "--train-folds",
                    "4", *mf, home=home, json_out=True)
    ds, store = open_dataset("planted", home), ProbeStore(home / "probes")
    assert store.meta(ds.name, "mf-oof").extra["train_folds"] == 4
    y = ds.ratings(Split.TRAIN).rating
    inside = rmse(store.read(ds, "mf-in", "train"), y)
    outside = rmse(store.read(ds, "mf-oof", "train"), y)
    # measured: in-sample 0.477, out of fold 0.571, probe 0.621 (the probe holds each
    # user's latest ratings, which drift)
    assert outside > inside + 0.05 and outside > oof["probe_rmse"] - 0.1, (
        inside, outside, oof["probe_rmse"])

    train = ds.ratings(Split.TRAIN)
    biases, _ = make_predictor("baseline", "biases")
    got = out_of_fold(biases, ds, train, 3, None)
    fold = np.random.default_rng(FOLD_SEED).integers(0, 3, len(train))
    for j in range(3):
        rest = fold != j
        part = Ratings(train.user[rest], train.item[rest], train.rating[rest],
                       train.day[rest], train.n_users, train.n_items, train.scale)
        want = make_predictor("baseline", "biases")[0].fit(part).predict(
            train.user[~rest], train.item[~rest])
        np.testing.assert_allclose(got[~rest], want, rtol=1e-6)
    assert rmse(got, train.rating) > rmse(biases.fit(train).predict(train.user, train.item),
                                          train.rating)
    with pytest.raises(ConfigError, match="train_folds"):
        out_of_fold(biases, ds, train, 1, None)


def test_interp_chooses_beta_on_probe_and_the_final_round_keeps_it(home):
    """Each candidate's Â comes from one pass over the data; the one with the lowest probe
    RMSE is used and recorded (``resolved``), and it is the Â a fit at that β alone gives;
    the final round (no probe) refits with it. No candidates: ``beta`` as given."""
    from prize.data import Split, open_dataset
    from prize.metrics import rmse
    from prize.probes import ProbeStore
    from prize.runs.single import train

    ds = open_dataset(make_toy_dataset(home))
    tr, pr = ds.ratings(Split.TRAIN), ds.ratings(Split.PROBE)
    model, _ = make_predictor("knn", "interp")
    model.fit(tr, probe=pr)
    scores = dict(model.beta_scores_)
    assert set(scores) == {150.0, 300.0, 600.0}
    best = model.resolved_["beta"]
    assert scores[best] == min(scores.values())
    assert model.neighbours_.sums is None  # dropped once β is chosen
    for beta, want in scores.items():  # each score is what a fit at that β alone gives
        alone, _ = make_predictor("knn", "interp", [f"beta={beta}", "beta_candidates=[]"])
        alone.fit(tr, probe=pr)
        assert not hasattr(alone, "resolved_")
        assert abs(rmse(alone.predict(pr.user, pr.item, pr.day), pr.rating) - want) < 1e-6
    store = ProbeStore(home / "probes")
    rec = train(ds, store, "knn", name="knn", allow_worse=True)
    assert rec.extra["resolved"] == {"beta": best}
    final = train(ds, store, "knn", name="knn", round_="final")
    assert final.extra["resolved"] == {"beta": best}
