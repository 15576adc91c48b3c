"""Koren's integrated model (``knn`` model ``integrated``): the contract, its kernels
against a pure-Python twin, checkpoint resume, config checks, and (slow) its accuracy on
the synthetic ``small`` preset against the two models it joins, ``global`` and ``svdpp``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import small_probe_rmse
from contract import PredictorContract
from test_knn import (
    N_ITEMS,
    N_USERS,
    TINY,
    all_pairs,
    neighbour_sets,
    neighbour_step,
    neighbour_term,
)

from prize.data.dataset import Ratings
from prize.models import make_predictor
from prize.models.knn import _kernels as K
from prize.models.knn._neighbours import by_user, compute_neighbours, pairs_by_user, user_major
from prize.models.knn.integrated import visit_by_day


class TestIntegrated(PredictorContract):
    family, model, overrides = "knn", "integrated", {"n_epochs": 8, "n_factors": 10}
    margin = 0.3  # planted: 0.607 against the mean's 0.956 (global: 0.622)


# -- the tiny matrix of the kNN twins (tests/test_knn.py): an item without co-raters, a user
#    giving every item a 3, an item without ratings --------------------------------------------
F = 3


def tiny_ratings() -> Ratings:
    """TINY, each user's ratings on shuffled days (so that day and item order differ)."""
    u, i, r = (np.array(c) for c in zip(*TINY, strict=True))
    day = 12_000 + np.random.default_rng(5).permutation(len(u)) % 4  # with ties
    return Ratings(u.astype(np.int32), i.astype(np.int32), r.astype(np.float32),
                   day.astype(np.int32), N_USERS, N_ITEMS)


def test_visit_by_day():
    train = tiny_ratings()
    um = user_major(train, 3.0, np.zeros(N_USERS), np.zeros(N_ITEMS))
    visit = visit_by_day(train)
    rows = np.lexsort((train.day, train.user))  # by user, then day, ties in row order
    np.testing.assert_array_equal(um.items[visit], train.item[rows])
    np.testing.assert_array_equal(um.rating[visit], train.rating[rows])
    for u in range(N_USERS):  # a permutation of every user's own positions
        lo, hi = um.ptr[u], um.ptr[u + 1]
        assert sorted(visit[lo:hi]) == list(range(lo, hi))
    assert (visit != np.arange(len(visit))).any()


def integrated_twin(um, visit, implicit, nb_idx, nb_cnt, bu, bi, P, Q, Y, w, c, mu, rates,
                    order, queries):
    """Koren's SGD literally, with sets and lists: every term recomputed and every y_j of
    N(u) updated at every rating. One epoch (the arrays are updated), then predictions."""
    lr_b, lr_f, lr_w, reg_b, reg_f, reg_w = rates
    rated = {u: {int(um.items[r]): float(um.z[r]) for r in range(um.ptr[u], um.ptr[u + 1])}
             for u in range(N_USERS)}
    known = {u: implicit[1][implicit[0][u]:implicit[0][u + 1]].tolist()
             for u in range(N_USERS)}

    def terms(u, i):
        R, N = neighbour_sets(nb_idx, nb_cnt, i, rated[u], known[u])
        norm = 1 / math.sqrt(len(known[u])) if known[u] else 0.0
        pe = [P[u, f] + norm * sum(Y[j, f] for j in known[u]) for f in range(F)]
        est = mu + bu[u] + bi[i] + sum(Q[i, f] * pe[f] for f in range(F))
        return est + neighbour_term(w, c, i, R, N), R, N, pe, norm

    sse = 0.0
    for u in order:
        for r in visit[um.ptr[u]:um.ptr[u + 1]].tolist():
            i = int(um.items[r])
            est, R, N, pe, norm = terms(u, i)
            e = float(um.rating[r]) - est
            sse += e * e
            bu[u] += lr_b * (e - reg_b * bu[u])
            bi[i] += lr_b * (e - reg_b * bi[i])
            q = Q[i].copy()
            for f in range(F):
                Q[i, f] += lr_f * (e * pe[f] - reg_f * Q[i, f])
                P[u, f] += lr_f * (e * q[f] - reg_f * P[u, f])
            for j in known[u]:
                for f in range(F):
                    Y[j, f] += lr_f * (e * norm * q[f] - reg_f * Y[j, f])
            neighbour_step(w, c, i, R, N, e, lr_w, reg_w)
    return sse, [terms(u, i)[0] for u, i in queries]


def test_integrated_epoch_and_prediction_match_the_twin():
    train = tiny_ratings()
    mu = float(np.mean(train.rating, dtype=np.float64))
    rng = np.random.default_rng(3)
    um = user_major(train, mu, rng.normal(0, 0.3, N_USERS), rng.normal(0, 0.3, N_ITEMS))
    nb = compute_neighbours(um, N_ITEMS, similarity="pearson_baseline", shrinkage=1.0,
                            dense=False, top=3)
    assert nb.cnt[6] == 0 and nb.cnt[7] == 0  # no co-raters, no ratings: no neighbours
    # Implicit feedback: the training pairs plus a few more (user 6 "saw" items 0 and 1,
    # user 2 item 6); user 5 is left without any, so its p_u stands alone.
    users = np.r_[train.user, 6, 6, 2]
    items = np.r_[train.item, 0, 1, 6]
    keep = users != 5
    implicit = pairs_by_user(users[keep], items[keep], N_USERS, N_ITEMS)
    state = [rng.normal(0, 0.1, N_USERS), rng.normal(0, 0.1, N_ITEMS),
             rng.normal(0, 0.1, (N_USERS, F)), rng.normal(0, 0.1, (N_ITEMS, F)),
             rng.normal(0, 0.1, (N_ITEMS, F)), rng.normal(0, 0.1, (N_ITEMS, 3)),
             rng.normal(0, 0.1, (N_ITEMS, 3))]
    twin_state = [a.copy() for a in state]
    order = np.array([3, 0, 6, 1, 5, 2, 4], np.int64)
    rates = (0.05, 0.04, 0.03, 0.1, 0.2, 0.15)  # gamma_1..3, lambda_6..8
    visit = visit_by_day(train)
    sse = K.integrated_epoch(order, um.ptr, visit, um.items, um.rating, um.z, *implicit, nb.idx,
                             nb.cnt, *state, mu, *rates)
    users_q, items_q = all_pairs()
    queries = list(zip(users_q.tolist(), items_q.tolist(), strict=True))
    sse_t, pred_t = integrated_twin(um, visit, implicit, nb.idx, nb.cnt, *twin_state, mu, rates,
                                    order.tolist(), queries)
    assert sse == pytest.approx(sse_t, rel=1e-10)
    for got, want in zip(state, twin_state, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    q_order, qu, qi, chunk_ptr = by_user(users_q, items_q)
    out = np.zeros(len(qu))
    K.integrated_predict(qu, qi, chunk_ptr, um.ptr, um.items, um.z, *implicit, nb.idx,
                         nb.cnt, *state, out, mu)
    got = np.empty(len(out))
    got[q_order] = out
    np.testing.assert_allclose(got, pred_t, atol=1e-12)


def test_without_factors_it_is_the_global_model():
    # With q_i = 0 and gamma_2 = 0 the factor term vanishes and stays 0: the sweep is the
    # global model's, with gamma_1 for the biases and gamma_3 for the weights.
    train = tiny_ratings()
    mu = float(np.mean(train.rating, dtype=np.float64))
    um = user_major(train, mu, np.zeros(N_USERS), np.zeros(N_ITEMS))
    nb = compute_neighbours(um, N_ITEMS, similarity="pearson_baseline", shrinkage=1.0,
                            dense=False, top=3)
    implicit = pairs_by_user(train.user, train.item, N_USERS, N_ITEMS)
    rng = np.random.default_rng(0)
    bu, bi, w, c = (rng.normal(0, 0.1, s) for s in (N_USERS, N_ITEMS, (N_ITEMS, 3),
                                                    (N_ITEMS, 3)))
    g = [a.copy() for a in (bu, bi, w, c)]
    order = np.arange(N_USERS, dtype=np.int64)
    P, Y = rng.normal(0, 0.1, (N_USERS, F)), rng.normal(0, 0.1, (N_ITEMS, F))
    visit = np.arange(len(um.items), dtype=np.int32)  # the global kernel's order
    sse = K.integrated_epoch(order, um.ptr, visit, um.items, um.rating, um.z, *implicit,
                             nb.idx, nb.cnt, bu, bi, P, np.zeros((N_ITEMS, F)), Y, w, c, mu,
                             0.05, 0.0, 0.05, 0.1, 0.0, 0.2)
    sse_g = K.global_epoch(order, um.ptr, um.items, um.rating, um.z, *implicit, nb.idx,
                           nb.cnt, *g, mu, 0.05, 0.1, 0.2)
    assert sse == pytest.approx(sse_g, rel=1e-12)
    for got, want in zip((bu, bi, w, c), g, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-14)


# -- checkpoints and configs ------------------------------------------------------------------
def test_implicit_train_ignores_the_other_pairs():
    train = tiny_ratings()
    extra = Ratings(np.r_[train.user, 6, 6].astype(np.int32),
                    np.r_[train.item, 0, 1].astype(np.int32),
                    np.r_[train.rating, np.nan, np.nan].astype(np.float32),
                    np.full(len(train) + 2, 12_000, np.int32), N_USERS, N_ITEMS)
    fits = {}
    for implicit in ("all", "train"):
        model, _ = make_predictor("knn", "integrated", [f"implicit={implicit}", "n_epochs=2",
                                                        "n_factors=4", "k=3"])
        fits[implicit] = model.fit(train, implicit=extra)
    assert np.diff(fits["all"].implicit_ptr_)[6] == 3
    assert np.diff(fits["train"].implicit_ptr_)[6] == 1


# -- accuracy on the synthetic small preset (~2M ratings) -------------------------------------
SLACK = 0.002  # the fits are deterministic: this covers platform rounding, not noise


@pytest.fixture(scope="module")
def small_scores(small) -> dict[str, float]:
    scores = {"integrated": small_probe_rmse(small, "knn", "integrated"),
              "global": small_probe_rmse(small, "knn", "global"),
              "svdpp": small_probe_rmse(small, "svdpp")}
    print("small preset probe RMSE:", {k: round(v, 4) for k, v in scores.items()})
    return scores


@pytest.mark.slow
def test_small_preset_integrated_beats_global(small_scores):
    # Measured: integrated 0.9473, global 0.9544 (gap 0.0071).
    assert small_scores["integrated"] <= small_scores["global"] - SLACK, small_scores


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured integrated 0.9473 against svdpp 0.9455: on "
                   "the synthetic small preset the neighbour terms cost the factors more "
                   "than they add (no setting tried beat svdpp)")
def test_small_preset_integrated_beats_svdpp(small_scores):
    # Koren's Netflix result (0.8933 against SVD++'s 0.8952) does not carry over to the
    # synthetic data, which has little local structure beyond its item families; strict,
    # so that a change which makes it pass has to update this.
    assert small_scores["integrated"] <= small_scores["svdpp"] - SLACK, small_scores
