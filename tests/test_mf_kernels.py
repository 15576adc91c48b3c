"""Each numba MF kernel against a slow, obvious pure-Python twin, one epoch on ~30 ratings
from the same start."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prize.models.mf import _kernels

U, I, F = 5, 7, 3


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    user = np.sort(rng.integers(0, U - 1, 30)).astype(np.int32)  # user U-1 has no ratings
    item = rng.integers(0, I, 30).astype(np.int32)
    rating = rng.integers(1, 6, 30).astype(np.float32)
    indptr = np.searchsorted(user, np.arange(U + 1)).astype(np.int64)
    perm = rng.permutation(U).astype(np.int64)
    # N(u): the rated items plus a few extra (probe/qualifying pairs).
    n_lists = [sorted(set(item[user == u].tolist()) | {int(rng.integers(0, I))})
               for u in range(U)]
    n_lists[U - 2] = []  # a user with no implicit feedback at all
    nptr = np.cumsum([0] + [len(x) for x in n_lists]).astype(np.int64)
    nitem = np.array([j for x in n_lists for j in x], np.int32)
    return dict(user=user, item=item, rating=rating, indptr=indptr, perm=perm, nptr=nptr,
                nitem=nitem, n_lists=n_lists, rng=rng)


def params(rng, *shapes):
    return [rng.normal(0, 0.1, s).astype(np.float32) for s in shapes]


# ----------------------------------------------------------------------------- twins


def svd_steps(visits, item, rating, mu, bu, bi, P, Q, lr_b, lr_f, regs, biased):
    """Paterek's SGD steps, literally, over the (user, rating index) pairs of ``visits``;
    ``regs`` = the λ of b_u, b_i, p_u, q_i, one per user or item (:func:`regs`)."""
    reg_bu, reg_bi, reg_pu, reg_qi = regs
    bu, bi, P, Q = (x.astype(np.float64).tolist() for x in (bu, bi, P, Q))
    se = 0.0
    for u, k in visits:
        i = item[k]
        dot = sum(P[u][f] * Q[i][f] for f in range(F))
        pred = dot + (mu + bu[u] + bi[i] if biased else 0.0)
        e = float(rating[k]) - pred
        se += e * e
        if biased:
            bu[u] += lr_b * (e - reg_bu[u] * bu[u])
            bi[i] += lr_b * (e - reg_bi[i] * bi[i])
        for f in range(F):
            p, q = P[u][f], Q[i][f]
            P[u][f] = p + lr_f * (e * q - reg_pu[u] * p)
            Q[i][f] = q + lr_f * (e * p - reg_qi[i] * q)
    return se, bu, bi, P, Q


def regs(rng):
    """Weight decays that differ by user and by item (λ + prior / n in the model)."""
    return [rng.uniform(0.01, 0.08, n).astype(np.float32) for n in (U, I, U, I)]


def svd_twin(d, mu, bu, bi, P, Q, lr_b, lr_f, regs, biased):
    visits = [(u, k) for u in d["perm"] for k in range(d["indptr"][u], d["indptr"][u + 1])]
    return svd_steps(visits, d["item"], d["rating"], mu, bu, bi, P, Q, lr_b, lr_f, regs,
                     biased)


def svdpp_twin(d, mu, bu, bi, P, Q, Y, lr_b, lr_f, lr_y, regs, reg_y, use_p):
    """Koren's SVD++ SGD, literally: z recomputed and every y_j updated at every rating;
    ``regs`` = the λ of b_u, b_i, p_u, q_i, one per user or item."""
    reg_bu, reg_bi, reg_pu, reg_qi = regs
    bu, bi, P, Q, Y = (x.astype(np.float64).tolist() for x in (bu, bi, P, Q, Y))
    se = 0.0
    for u in d["perm"]:
        N = d["n_lists"][u]
        norm = 1 / math.sqrt(len(N)) if N else 0.0
        for k in range(d["indptr"][u], d["indptr"][u + 1]):
            i = d["item"][k]
            z = [norm * sum(Y[j][f] for j in N) for f in range(F)]
            pe = [z[f] + (P[u][f] if use_p else 0.0) for f in range(F)]
            e = float(d["rating"][k]) - (mu + bu[u] + bi[i] + sum(pe[f] * Q[i][f]
                                                                  for f in range(F)))
            se += e * e
            bu[u] += lr_b * (e - reg_bu[u] * bu[u])
            bi[i] += lr_b * (e - reg_bi[i] * bi[i])
            q_old = list(Q[i])
            for f in range(F):
                Q[i][f] += lr_f * (e * pe[f] - reg_qi[i] * Q[i][f])
                if use_p:
                    P[u][f] += lr_f * (e * q_old[f] - reg_pu[u] * P[u][f])
            for j in N:
                for f in range(F):
                    Y[j][f] += lr_y * (e * norm * q_old[f] - reg_y * Y[j][f])
    return se, bu, bi, P, Q, Y


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("biased", [True, False])
def test_svd_epoch(data, biased):
    bu, bi = params(data["rng"], U, I)
    P, Q = params(data["rng"], (U, F), (I, F))
    r = regs(data["rng"])
    want = svd_twin(data, np.float32(3.5), bu, bi, P, Q, 0.01, 0.02, r, biased)
    got = _kernels.svd_epoch(data["indptr"], data["item"], data["rating"], data["perm"],
                             np.float32(3.5), bu, bi, P, Q, np.float32(0.01), np.float32(0.02),
                             *r, biased)
    close(got, want[0])
    for a, b in zip((bu, bi, P, Q), want[1:], strict=True):
        close(a, b)


def svd_blocks_twin(d, uperm, uoff, bptr, item, rating, mu, bu, bi, P, Q, lr_b, lr_f, regs):
    """DSGD's schedule run one block after another: sub-epoch s, then block t, visits the
    ratings of users in block t of items in block (t + s) mod T."""
    T = len(uoff) - 1
    visits = [(u, k) for s in range(T) for t in range(T) for u in uperm[uoff[t]:uoff[t + 1]]
              for k in range(bptr[u, (t + s) % T], bptr[u, (t + s) % T + 1])]
    return svd_steps(visits, item, rating, mu, bu, bi, P, Q, lr_b, lr_f, regs, True)


@pytest.mark.parametrize("T", [2, 3])
def test_svd_epoch_blocks(data, T):
    from prize.models.mf.svd import balanced_blocks

    item_block = balanced_blocks(np.bincount(data["item"], minlength=I), T, chunk=1)
    user_block = balanced_blocks(np.diff(data["indptr"]), T, chunk=1)
    order, bptr = _kernels.block_layout(data["indptr"], data["item"], item_block, T)
    # Every rating once, each user's ratings regrouped by item block.
    assert sorted(order.tolist()) == list(range(len(data["item"])))
    item, rating = data["item"][order], data["rating"][order]
    for u in range(U):
        for b in range(T):
            assert (item_block[item[bptr[u, b]:bptr[u, b + 1]]] == b).all()
    uperm = data["perm"][np.argsort(user_block[data["perm"]], kind="stable")]
    uoff = np.searchsorted(user_block[uperm], np.arange(T + 1)).astype(np.int64)
    bu, bi = params(data["rng"], U, I)
    P, Q = params(data["rng"], (U, F), (I, F))
    r = regs(data["rng"])
    want = svd_blocks_twin(data, uperm, uoff, bptr, item, rating, 3.5, bu, bi, P, Q, 0.01,
                           0.02, r)
    got = _kernels.svd_epoch_blocks(bptr, item, rating, uperm, uoff, np.float32(3.5), bu, bi,
                                    P, Q, np.float32(0.01), np.float32(0.02), *r, True)
    close(got, want[0])
    for a, b in zip((bu, bi, P, Q), want[1:], strict=True):
        close(a, b)


@pytest.mark.parametrize("use_p", [True, False])
def test_svdpp_epoch(data, use_p):
    bu, bi = params(data["rng"], U, I)
    P, Q, Y = params(data["rng"], (U, F), (I, F), (I, F))
    if not use_p:
        P[:] = 0.0  # NSVD keeps an all-zero P (the kernel's contract without p_u)
    rates, r = (0.01, 0.02, 0.015), regs(data["rng"])
    want = svdpp_twin(data, 3.5, bu, bi, P, Q, Y, *rates, r, 0.05, use_p)
    got = _kernels.svdpp_epoch(data["indptr"], data["item"], data["rating"], data["perm"],
                               data["nptr"], data["nitem"], np.float32(3.5), bu, bi, P, Q, Y,
                               *(np.float32(x) for x in rates), *r, np.float32(0.05), use_p)
    close(got, want[0])
    for a, b in zip((bu, bi, P, Q, Y), want[1:], strict=True):
        close(a, b)


def test_feature_at_a_time(data):
    P, Q = params(data["rng"], (U, F), (I, F))
    f, lo, hi = 1, 1.0, 5.0
    users = np.repeat(np.arange(U), np.diff(data["indptr"]))
    start = np.clip(3.5 + data["rng"].normal(0, 1, len(data["item"])), lo, hi)
    # feature_commit: the cache of the clipped baseline plus feature 0, clipped again.
    cache = start.astype(np.float32)
    _kernels.feature_commit(data["indptr"], data["item"], np.ascontiguousarray(P[:, 0]),
                            np.ascontiguousarray(Q[:, 0]), np.float32(lo), np.float32(hi),
                            cache)
    want_cache = [min(max(float(start[k]) + float(P[users[k], 0] * Q[data["item"][k], 0]), lo),
                      hi) for k in range(len(cache))]
    close(cache, want_cache)
    # Twin: SGD of feature f alone on clip(cache + p q), the other features untouched,
    # with λ per user and per item.
    reg_u = data["rng"].uniform(0.01, 0.1, U).astype(np.float32)
    reg_i = data["rng"].uniform(0.01, 0.1, I).astype(np.float32)
    P2, Q2 = (x.astype(np.float64).copy() for x in (P, Q))
    se_want = 0.0
    for u in data["perm"]:
        for k in range(data["indptr"][u], data["indptr"][u + 1]):
            i = data["item"][k]
            e = float(data["rating"][k]) - min(max(want_cache[k] + P2[u, f] * Q2[i, f], lo), hi)
            se_want += e * e
            p, q = P2[u, f], Q2[i, f]
            P2[u, f] = p + 0.02 * (e * q - reg_u[u] * p)
            Q2[i, f] = q + 0.02 * (e * p - reg_i[i] * q)
    pf, qf = np.ascontiguousarray(P[:, f]), np.ascontiguousarray(Q[:, f])
    se = _kernels.feature_epoch(data["indptr"], data["item"], data["rating"], data["perm"],
                                cache, pf, qf, np.float32(0.02), reg_u, reg_i,
                                np.float32(lo), np.float32(hi))
    P[:, f], Q[:, f] = pf, qf
    close(se, se_want)
    for a, b in zip((P, Q), (P2, Q2), strict=True):
        close(a, b)


@pytest.mark.parametrize("day_factors", [False, True])
def test_timesvdpp_epoch(data, day_factors):
    rng = data["rng"]
    n = len(data["item"])
    S, B, FB = 9, 4, 3
    dev = rng.normal(0, 3, n).astype(np.float32)
    tbin = rng.integers(0, B, n).astype(np.int32)
    slot = rng.integers(0, S, n).astype(np.int64)
    fbin = rng.integers(0, FB, n).astype(np.int32)
    bu, au, cu = params(rng, U, U, U)
    cu += 1
    but, cut = params(rng, S, S)
    bi, bit, bif = params(rng, I, (I, B), (I, FB))
    P, AP, Q, Y = params(rng, (U, F), (U, F), (I, F), (I, F))
    PT = params(rng, (S, F))[0] if day_factors else np.zeros((0, F), np.float32)
    lr = rng.uniform(0.001, 0.02, 13).astype(np.float32)
    reg = rng.uniform(0.001, 0.05, 13).astype(np.float32)
    T = {k: v.astype(np.float64).copy() for k, v in dict(
        bu=bu, au=au, cu=cu, but=but, cut=cut, bi=bi, bit=bit, bif=bif, P=P, AP=AP, Q=Q, Y=Y,
        PT=PT).items()}
    se_want = 0.0
    for u in data["perm"]:
        N = data["n_lists"][u]
        norm = 1 / math.sqrt(len(N)) if N else 0.0
        for k in range(data["indptr"][u], data["indptr"][u + 1]):
            z = norm * T["Y"][N].sum(axis=0) if N else np.zeros(F)
            i, d, s, b, fb = data["item"][k], float(dev[k]), slot[k], tbin[k], fbin[k]
            pe = T["P"][u] + T["AP"][u] * d + z + (T["PT"][s] if day_factors else 0.0)
            c = T["cu"][u] + T["cut"][s]
            ib = T["bi"][i] + T["bit"][i, b]
            pred = (3.5 + T["bu"][u] + T["au"][u] * d + T["but"][s] + ib * c + T["bif"][i, fb]
                    + pe @ T["Q"][i])
            e = float(data["rating"][k]) - pred
            se_want += e * e
            T["bu"][u] += lr[0] * (e - reg[0] * T["bu"][u])
            T["au"][u] += lr[1] * (e * d - reg[1] * T["au"][u])
            T["but"][s] += lr[2] * (e - reg[2] * T["but"][s])
            T["cu"][u] += lr[3] * (e * ib - reg[3] * (T["cu"][u] - 1))
            T["cut"][s] += lr[4] * (e * ib - reg[4] * T["cut"][s])
            T["bi"][i] += lr[5] * (e * c - reg[5] * T["bi"][i])
            T["bit"][i, b] += lr[6] * (e * c - reg[6] * T["bit"][i, b])
            T["bif"][i, fb] += lr[7] * (e - reg[7] * T["bif"][i, fb])
            q = T["Q"][i].copy()
            for j in N:
                T["Y"][j] += lr[11] * (e * norm * q - reg[11] * T["Y"][j])
            T["Q"][i] = q + lr[10] * (e * pe - reg[10] * q)
            T["P"][u] += lr[8] * (e * q - reg[8] * T["P"][u])
            T["AP"][u] += lr[9] * (e * q * d - reg[9] * T["AP"][u])
            if day_factors:
                T["PT"][s] += lr[12] * (e * q - reg[12] * T["PT"][s])
    se = _kernels.timesvdpp_epoch(
        data["indptr"], data["item"], data["rating"], data["perm"], data["nptr"],
        data["nitem"], dev, tbin, slot, fbin, np.float32(3.5), bu, au, but, cu, cut, bi, bit,
        bif, P, AP, Q, Y, PT, lr, reg)
    close(se, se_want)
    got = dict(bu=bu, au=au, cu=cu, but=but, cut=cut, bi=bi, bit=bit, bif=bif, P=P, AP=AP, Q=Q,
               Y=Y, PT=PT)
    for k, v in got.items():
        close(v, T[k])


def test_implicit_sums_and_predict(data):
    rng = data["rng"]
    Y, P, Q, AP = params(rng, (I, F), (U, F), (I, F), (U, F))
    out = np.empty((U, F), np.float32)
    _kernels.implicit_sums(data["nptr"], data["nitem"], Y, out)
    for u, N in enumerate(data["n_lists"]):
        want = Y[N].sum(axis=0) / math.sqrt(len(N)) if N else np.zeros(F)
        close(out[u], want)
    users = np.array([0, 1, 4, -1, U, 2], np.int64)
    items = np.array([0, 6, 3, 1, 2, I], np.int64)
    base = rng.normal(3, 0.1, 6).astype(np.float32)
    dev = rng.normal(0, 1, 6).astype(np.float32)
    got = np.empty(6, np.float32)
    _kernels.predict_factors(users, items, base, P, Q, AP, dev, got)
    want = [base[k] + ((P[u] + AP[u] * dev[k]) @ Q[i] if 0 <= u < U and 0 <= i < I else 0.0)
            for k, (u, i) in enumerate(zip(users, items, strict=True))]
    close(got, want)
    _kernels.predict_factors(users, items, base, P, Q, np.zeros((0, F), np.float32),
                             np.zeros(0, np.float32), got)
    close(got, [base[k] + (P[u] @ Q[i] if 0 <= u < U and 0 <= i < I else 0.0)
                for k, (u, i) in enumerate(zip(users, items, strict=True))])


@pytest.mark.parametrize("n", [0, 1, 60, 3000])
def test_implicit_csr_matches_the_sorted_unique_pairs(n):
    # group_by_user (two counting passes, an in-place sort per user) against np.unique of
    # the pair keys, with repeats, unsorted input and out-of-range ids that must be skipped.
    from prize.models.mf.common import implicit_csr

    rng = np.random.default_rng(n)
    u = rng.integers(-1, U + 1, n)
    i = rng.integers(-1, I + 1, n)
    nptr, nitem = implicit_csr(u, i, U, I)
    ok = (u >= 0) & (u < U) & (i >= 0) & (i < I)
    key = np.unique(u[ok] * I + i[ok])
    assert nitem.dtype == np.int32
    np.testing.assert_array_equal(nitem, key % I)
    np.testing.assert_array_equal(nptr, np.searchsorted(key // I, np.arange(U + 1)))


@pytest.mark.parametrize("T", [2, 3])
def test_balanced_blocks_deal_whole_runs(T):
    """Runs of ``chunk`` consecutive rows stay in one block (no cache line written by two
    threads inside a run), and the blocks' totals differ by at most one run's count."""
    from prize.models.mf.svd import balanced_blocks

    counts = np.random.default_rng(0).lognormal(3, 1.2, 5000).round().astype(np.int64)
    block = balanced_blocks(counts, T, chunk=64)
    runs = block.reshape(-1)[: len(block) // 64 * 64].reshape(-1, 64)
    assert (runs == runs[:, :1]).all()
    totals = np.bincount(block, weights=counts, minlength=T)
    biggest = np.add.reduceat(counts, np.arange(0, len(counts), 64)).max()
    assert totals.max() - totals.min() <= biggest


def test_kernels_never_reorder_sums():
    """Same seed, same bits, wherever malloc puts things: with ``reassoc`` LLVM vectorised
    the per-rating sums behind run-time overlap checks, and the scalar fallback summed in
    another order (1-ulp differences from run to run). No kernel with scratch arrays may
    carry it."""
    from prize.data.dataset import Ratings
    from prize.models import make_predictor
    from prize.models.mf import _kernels

    rng = np.random.default_rng(0)
    n = 2000
    train = Ratings(rng.integers(0, 50, n).astype(np.int32), rng.integers(0, 40, n).astype(
        np.int32), rng.integers(1, 6, n).astype(np.float32), np.zeros(n, np.int32), 50, 40)
    for family in ("mf", "svdpp", "timesvdpp", "nsvd"):  # fit and predict: every kernel runs
        model = make_predictor(family, None, ["n_epochs=1", "n_factors=8"])[0].fit(train)
        model.predict(train.user, train.item, train.day)
    import numba

    checked = 0
    # (the SVD kernels have no scratch arrays and keep full fastmath: see FASTMATH)
    for name in ("svdpp_epoch", "timesvdpp_epoch", "implicit_sums", "predict_factors"):
        kernel = getattr(_kernels, name)
        # Code loaded from numba's cache cannot be inspected: compile an uncached twin with
        # the same options, so that the check never passes on an empty listing.
        options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
        fresh = numba.njit(cache=False, **options)(kernel.py_func)
        for sig in kernel.signatures:
            fresh.compile(sig)
            ir = fresh.inspect_llvm(sig)
            assert "define" in ir, name  # a real listing
            assert "reassoc" not in ir and " fast " not in ir, name
            checked += 1
    assert checked >= 4
