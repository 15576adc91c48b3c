"""EASE: the closed form against a slow numpy twin, the diagonal constraint, the memory
check, the Predictor contract, and its ranking against most-popular on planted data."""

from __future__ import annotations

import numpy as np
import pytest
from contract import PredictorContract
from planted import planted

from prize.errors import ConfigError
from prize.models.ease.model import EASE, EASEConfig, binary_matrix, check_memory, ease_weights


def slow_ease(X: np.ndarray, lam: float) -> np.ndarray:
    """Steck's eq. 8 by the book, in float64: B = I - P diag(1/diag(P))."""
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))


def slow_constrained_ls(X: np.ndarray, lam: float) -> np.ndarray:
    """The same B from its definition, column by column: min ||X_:j - X_:-j b||² + λ||b||²
    over the weights of the other items (b_jj = 0 by construction)."""
    n = X.shape[1]
    B = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = X[:, others]
        B[others, j] = np.linalg.solve(A.T @ A + lam * np.eye(n - 1), A.T @ X[:, j])
    return B


@pytest.mark.parametrize("lam", [0.5, 5.0, 50.0])
def test_closed_form_matches_the_twins(lam):
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 12)) < 0.3).astype(np.float64)
    dense[:, 11] = 0.0  # an item nobody rated: its row and column of B are 0
    u, i = np.nonzero(dense)
    X = binary_matrix(u, i, 40, 12)
    B = ease_weights(X, lam)
    np.testing.assert_allclose(np.diag(B), 0.0, atol=0)
    np.testing.assert_allclose(B, slow_ease(dense, lam), atol=1e-10)
    np.testing.assert_allclose(B, slow_constrained_ls(dense, lam), atol=1e-9)
    assert not B[11].any() and not B[:, 11].any()


def test_float32_path_matches_float64(monkeypatch):
    import prize.models.ease.model as em

    rng = np.random.default_rng(1)
    dense = (rng.random((300, 60)) < 0.2).astype(np.float64)
    u, i = np.nonzero(dense)
    X = binary_matrix(u, i, 300, 60)
    monkeypatch.setattr(em, "FLOAT64_UP_TO", 10)  # force the float32 path
    B32 = ease_weights(X, 20.0)
    assert B32.dtype == np.float32
    np.testing.assert_allclose(B32, slow_ease(dense, 20.0), atol=2e-5)


def test_memory_is_checked_before_allocating(monkeypatch):
    import prize.models.ease.model as em

    # the system's memory as 8 GiB, not whatever /proc/meminfo says (or None off Linux)
    monkeypatch.setattr(em, "available_memory", lambda: 8 << 30)
    with pytest.raises(ConfigError, match="max_items"):
        check_memory(25_000, 20_000)
    with pytest.raises(ConfigError, match="GiB"):
        check_memory(50_000, 100_000)  # 50,000² float32: 9.3 GiB
    check_memory(1_000, 20_000)


class TestEASE(PredictorContract):
    family, model, config = "ease", "ease", "default"
    overrides = {"lambda_": 20.0}
    margin = 0.05


def test_scores_and_rank_leave_rated_items_out():
    train, _ = planted(seed=2, n_users=60, n_items=30, n_per_user=(5, 12))
    m = EASE(EASEConfig(lambda_=10.0)).fit(train)
    users = np.array([0, 1, 59])
    s = m.scores(users)
    assert s.shape == (3, 30) and s.dtype == np.float32
    top = m.rank(users, 5)
    for row, u in zip(top, users, strict=True):
        assert not np.isin(row, train.item[train.user == u]).any()
    # scores() for unknown users are 0; pair_scores agree with the matrix
    assert not m.scores([-1, 10_000]).any()
    np.testing.assert_allclose(m.pair_scores(np.repeat(users, 30), np.tile(np.arange(30), 3)),
                               s.ravel(), rtol=1e-5, atol=1e-6)


def test_ease_ranks_better_than_most_popular_on_planted_tastes():
    """Users in two taste groups, each rating (and liking) its own half of the catalogue;
    the other half's items are more popular overall. EASE finds each user's half; most-
    popular recommends the popular half to everyone."""
    from prize.data.dataset import Ratings
    from prize.ranking.metrics import popularity_quantiles, summarize
    from prize.ranking.models import MostPopular, item_users

    rng = np.random.default_rng(0)
    n_items, rows, test = 40, [], []
    for u in range(300):
        group = 0 if u < 100 else 1  # 100 users like items 0..19, 200 like 20..39
        own = np.arange(20) + 20 * group
        picks = rng.choice(own, 10, replace=False)
        rows += [(u, i) for i in picks[:8]]
        test.append(picks[8:])
    user, item = np.array(rows).T
    train = Ratings(user, item, np.full(len(user), 5.0, np.float32),
                    np.zeros(len(user), np.int32), 300, n_items)
    users = np.arange(100)  # the minority group: popularity points them the wrong way
    indptr = np.arange(0, 201, 2)
    rel = np.concatenate(test[:100])
    q = popularity_quantiles(item_users(train))
    out = {}
    for name, model in (("ease", EASE(EASEConfig(lambda_=5.0)).fit(train)),
                        ("pop", MostPopular().fit(train))):
        S = model.scores(users).astype(np.float64)
        S[user[user < 100], item[user < 100]] = -np.inf
        recs = np.argsort(-S, axis=1, kind="stable")[:, :10]
        out[name] = summarize(recs, np.full(100, 10), indptr, rel, q, n_items, (10,))["ndcg@10"]
    # Measured: EASE 0.455, most-popular 0.0 (every popular item is in the other half).
    # Slack: EASE must reach 0.25 and beat most-popular by 0.2.
    assert out["ease"] > 0.25 and out["ease"] > out["pop"] + 0.2, out
