"""The top-N evaluation: the metrics by hand and against LensKit, the hold-out, the ranking
models, and `prize evaluate --ranking` end to end on the tiny preset."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import run_prize

from prize.data.dataset import Ratings
from prize.ranking import metrics as M
from prize.ranking.evaluate import parse_candidates, top_n
from prize.ranking.holdout import default_threshold
from prize.ranking.models import ItemKNNTopN, MostPopular


def csr(lists):
    indptr = np.r_[0, np.cumsum([len(x) for x in lists])].astype(np.int64)
    items = np.concatenate([np.asarray(x, np.int64) for x in lists]) if lists else np.zeros(0)
    return indptr, items


def padded(lists, K):
    out = np.full((len(lists), K), -1, np.int64)
    for r, x in enumerate(lists):
        out[r, :len(x)] = x
    return out, np.array([len(x) for x in lists])


# -- hand-computed values ---------------------------------------------------------------------
def test_metrics_by_hand():
    # user 0: list [5, 1, 7, 2], relevant {1, 2, 9}: hits at ranks 2 and 4.
    # user 1: list [3, 4], relevant {3}: hit at rank 1, list shorter than k.
    recs, lengths = padded([[5, 1, 7, 2], [3, 4]], 4)
    rel = csr([[9, 2, 1], [3]])
    hit = M.hits(recs, *rel)
    assert hit.tolist() == [[False, True, False, True], [True, False, False, False]]
    m = M.list_metrics(hit, lengths, np.diff(rel[0]), k=3)
    # k = 3: user 0 keeps [5, 1, 7] (one hit at rank 2), user 1 keeps [3, 4].
    # NDCG: DCG = 1/log2(max(2, 2)) = 1; ideal over min(3, 3) = 3 items: 1 + 1 + 1/log2(3).
    assert m["ndcg"][0] == pytest.approx(1 / (2 + 1 / math.log2(3)))
    assert m["ndcg"][1] == pytest.approx(1.0)
    # AP: precision at the hit (1/2) over min(|T|, |L_k|) = 3; user 1: 1/1 over min(1, 2).
    assert m["map"][0] == pytest.approx(0.5 / 3)
    assert m["map"][1] == pytest.approx(1.0)
    # recall: hits / min(|T|, k); precision: hits / |L_k| (2 for user 1, not k = 3).
    assert m["recall"].tolist() == pytest.approx([1 / 3, 1.0])
    assert m["precision"].tolist() == pytest.approx([1 / 3, 1 / 2])
    assert m["mrr"].tolist() == pytest.approx([1 / 2, 1.0])
    # k = 4: user 0's second hit at rank 4 counts 1/log2(4) = 1/2; AP adds 2/4.
    m4 = M.list_metrics(hit, lengths, np.diff(rel[0]), k=4)
    assert m4["ndcg"][0] == pytest.approx(1.5 / (2 + 1 / math.log2(3)))
    assert m4["map"][0] == pytest.approx((0.5 + 0.5) / 3)


def test_popularity_quantiles_and_bias():
    counts = np.array([0, 5, 1, 5, 3])
    q = M.popularity_quantiles(counts)
    # positive counts 5, 1, 5, 3 -> ascending ranks 3.5, 1, 3.5, 2 over 4 items
    assert q.tolist() == pytest.approx([0.0, 3.5 / 4, 1 / 4, 3.5 / 4, 2 / 4])
    recs, lengths = padded([[1, 0], [2]], 2)
    assert M.popularity_bias(recs, lengths, q, 2).tolist() == pytest.approx(
        [3.5 / 8, 0.25])
    assert M.coverage(recs, lengths, 5, 2) == pytest.approx(3 / 5)
    assert M.coverage(recs, lengths, 5, 1) == pytest.approx(2 / 5)


def test_a_user_without_relevant_items_is_refused():
    recs, lengths = padded([[1]], 1)
    with pytest.raises(ValueError):
        M.list_metrics(np.zeros((1, 1), bool), lengths, np.array([0]), 1)


def test_top_n_orders_ties_by_item_and_pads():
    S = np.array([[0.5, 0.9, 0.5, -np.inf], [-np.inf, -np.inf, 1.0, -np.inf]], np.float32)
    recs, lengths = top_n(S, 3)
    assert recs.tolist() == [[1, 0, 2], [2, -1, -1]]
    assert lengths.tolist() == [3, 1]


def test_threshold_and_candidates_options():
    assert default_threshold((1.0, 5.0)) == 4.0
    assert default_threshold((0.5, 5.0)) == 4.0
    assert default_threshold((1.0, 10.0)) == pytest.approx(7.75)
    assert parse_candidates("sampled:100") == ("sampled", 100)
    from prize.errors import ConfigError

    for bad in ("sampled:0", "sampled:x", "some"):
        with pytest.raises(ConfigError):
            parse_candidates(bad)


# -- against LensKit ---------------------------------------------------------------------------
def test_metrics_match_lenskit():
    lk = pytest.importorskip(
        "lenskit", reason="lenskit is not installed: pip install 'prize[ranking]' to compare "
        "the metrics with LensKit's")
    import pandas as pd
    from lenskit.data import ItemList, from_interactions_df
    from lenskit.metrics import NDCG, MeanPopRank, Precision, Recall, RecipRank
    from lenskit.metrics.ranking._map import AveragePrecision

    del lk
    rng = np.random.default_rng(3)
    n_items, n_users, K = 60, 40, 20
    # Training interactions for the popularity ranks (ties included).
    tu = rng.integers(0, 200, 3000)
    ti = np.minimum(rng.geometric(0.05, 3000) - 1, n_items - 1)
    pairs = np.unique(np.c_[tu, ti], axis=0)
    train = pd.DataFrame({"user_id": pairs[:, 0], "item_id": pairs[:, 1]})
    lk_data = from_interactions_df(train)
    counts = np.bincount(pairs[:, 1], minlength=n_items)
    q = M.popularity_quantiles(counts)
    rec_lists, rel_lists = [], []
    for _ in range(n_users):
        length = int(rng.integers(5, K + 1))  # some lists shorter than k
        rec_lists.append(rng.choice(n_items, length, replace=False))
        rel_lists.append(rng.choice(n_items, int(rng.integers(1, 15)), replace=False))
    recs, lengths = padded(rec_lists, K)
    rel = csr(rel_lists)
    hit = M.hits(recs, *rel)
    for k in (5, 10, 20):
        ours = M.list_metrics(hit, lengths, np.diff(rel[0]), k)
        ours["popbias"] = M.popularity_bias(recs, lengths, q, k)
        theirs = {"ndcg": NDCG(n=k), "map": AveragePrecision(n=k), "recall": Recall(n=k),
                  "precision": Precision(n=k), "mrr": RecipRank(n=k),
                  "popbias": MeanPopRank(lk_data, n=k)}
        for u in range(n_users):
            lrecs = ItemList(item_ids=rec_lists[u], ordered=True)
            ltest = ItemList(item_ids=rel_lists[u])
            for name, metric in theirs.items():
                expect = float(metric.measure_list(lrecs, ltest))
                assert ours[name][u] == pytest.approx(expect, abs=1e-6), (name, k, u)


# -- the ranking models ------------------------------------------------------------------------
def _tiny_ratings():
    user = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    item = np.array([0, 1, 0, 1, 2, 0, 2, 3])
    n = len(user)
    return Ratings(user, item, np.full(n, 4.0, np.float32), np.zeros(n, np.int32), 5, 5)


def test_most_popular_and_item_knn_scores():
    r = _tiny_ratings()
    assert MostPopular().fit(r).scores([0, 4])[1].tolist() == [3, 2, 2, 1, 0]
    knn = ItemKNNTopN(k=4).fit(r)
    # cosine of binary columns: users of item 0 {0,1,2}, item 1 {0,1}, item 2 {1,2}:
    # sim(0,1) = 2/sqrt(6), sim(0,2) = 2/sqrt(6), sim(1,2) = 1/2, item 3 alone.
    s = knn.scores([0])[0]  # user 0 rated items 0 and 1
    assert s[2] == pytest.approx(2 / math.sqrt(6) + 0.5, abs=1e-6)
    assert s[3] == 0.0 and s[4] == 0.0
    assert s[0] == pytest.approx(2 / math.sqrt(6), abs=1e-6)  # from item 1, not itself


# -- end to end --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    home = tmp_path_factory.mktemp("ranking")
    raw = home / "raw" / "tiny"
    run_prize("-q", "data", "synth", "--preset", "tiny", "--seed", "0", "--out", str(raw),
              home=home)
    run_prize("-q", "data", "import", "netflix", str(raw), "--name", "tiny", home=home)
    return home


def test_cli_end_to_end(tiny):
    rep = run_prize("evaluate", "--data", "tiny", "--ranking", "--users", "400",
                    "--models", "most-popular,item-knn:20,ease", "--json", home=tiny,
                    json_out=True)
    assert rep["users"] == 400 and rep["eligible_users"] >= 400
    assert rep["holdout"] == "latest" and rep["threshold"] == 4.0 and not rep["sampled"]
    rows = {r["model"]: r for r in rep["rows"]}
    assert set(rows) == {"most-popular", "item-knn (k=20)", "ease", "mf",
                         f"mf + popularity (w={rep['blend']['w']:.2f})"}
    for r in rows.values():
        for k in (10, 20):
            for name in ("ndcg", "map", "recall", "precision", "mrr", "coverage",
                         "popularity_bias"):
                assert 0.0 <= r[f"{name}@{k}"] <= 1.0, (r["model"], name, k)
    # Most-popular recommends the most popular items; the rating predictor does not.
    assert rows["most-popular"]["popularity_bias@10"] > rows["mf"]["popularity_bias@10"]
    # Measured on tiny (400 users, seed 0), NDCG@10: EASE 0.334, item kNN 0.307, the blend
    # 0.313, most-popular 0.281, mf alone 0.028. Slack: half of each measured gap.
    assert rows["ease"]["ndcg@10"] > rows["most-popular"]["ndcg@10"] + 0.025
    blend = rows[f"mf + popularity (w={rep['blend']['w']:.2f})"]["ndcg@10"]
    assert blend > rows["most-popular"]["ndcg@10"] + 0.015
    assert blend > rows["mf"]["ndcg@10"] + 0.1
    stored = tiny / "ranking" / "tiny" / "evaluation.json"
    assert stored.is_file()
    # The report charts the stored evaluation.
    report = tiny / "reports" / "tiny"
    run_prize("-q", "leaderboard", "report", "--data", "tiny", "--no-barrier", "--out",
              str(report), home=tiny)
    assert (report / "ranking.png").is_file()
    assert "## Beyond RMSE: ranking" in (report / "leaderboard.md").read_text()


def test_cli_sampled_candidates_are_labelled(tiny):
    proc = run_prize("evaluate", "--data", "tiny", "--ranking", "--users", "200",
                     "--models", "most-popular", "--rating", "none", "--candidates",
                     "sampled:50", "--holdout", "random", home=tiny)
    assert "SAMPLED METRICS" in proc.stdout and "SAMPLED:50" in proc.stdout
    bad = run_prize("evaluate", "--data", "tiny", "--ranking", "--candidates", "sampled:0",
                    home=tiny, check=False)
    assert bad.returncode == 2 and "sampled:N" in bad.stderr


def test_stored_predictors_rank_with_their_kept_model_when_it_saw_only_train(tiny):
    run_prize("-q", "train", "baseline", "--data", "tiny", "--config", "biases", home=tiny)
    run_prize("-q", "train", "svdpp", "--data", "tiny", "--set", "n_epochs=3",
              "--allow-worse", home=tiny)
    rep = run_prize("evaluate", "--data", "tiny", "--ranking", "--users", "100", "--models",
                    "most-popular", "--predictor", "baseline-biases", "--predictor", "svdpp",
                    "--json", home=tiny, json_out=True)
    names = {r["model"] for r in rep["rows"]}
    # The biases saw TRAIN alone: their kept model ranks. SVD++ learnt who rated the
    # held-out items (implicit = all pairs): it is refitted on TRAIN's pairs instead.
    assert "baseline-biases (kept model)" in names and "svdpp" in names
