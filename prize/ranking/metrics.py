"""Top-N metrics, computed exactly as LensKit computes them (``lenskit.metrics``, checked
against LensKit 2025.8's source; its 2026 releases keep the same definitions).

Notation: ``L`` is a user's recommendation list in rank order (ranks from 1), ``L_k`` its
first ``k`` items (fewer when the list is shorter), ``T`` the user's relevant test items
(held-out ratings >= the relevance threshold), ``hit(r)`` = 1 when the item at rank ``r``
is in ``T``. Every per-user value is averaged over the evaluated users, each counting once
(LensKit's default summary). Users with no relevant test item are not evaluated: LensKit
gives them NaN (NDCG, reciprocal rank) or divides by zero (recall).

- **NDCG@k** (``lenskit.metrics.NDCG(n=k)``, binary gains, ``LogRankWeight``: log base 2,
  ranks clipped at 2 as in Järvelin & Kekäläinen's original, so ranks 1 and 2 both weigh 1)::

      DCG@k  = sum_{r <= |L_k|} hit(r) / log2(max(r, 2))
      NDCG@k = DCG@k / sum_{r = 1}^{min(|T|, k)} 1 / log2(max(r, 2))

- **MAP@k** (the mean of ``lenskit.metrics.AveragePrecision(n=k)``)::

      AP@k = sum_{r <= |L_k|, hit(r)} (sum_{s <= r} hit(s)) / r  /  min(|T|, |L_k|)

- **recall@k** (``Recall(n=k)``): ``|L_k ∩ T| / min(|T|, k)``.
- **precision@k** (``Precision(n=k)``): ``|L_k ∩ T| / |L_k|`` -- divided by the list's
  length, which is ``k`` unless fewer than ``k`` candidates were left to rank.
- **MRR@k** (the mean of ``RecipRank(n=k)``): ``1 / (rank of the first hit in L_k)``, 0 when
  ``L_k`` holds none.
- **popularity bias@k** (``MeanPopRank(data, n=k)``, popularity = distinct training users):
  ``q_i`` is item ``i``'s popularity rank as a quantile, ``rank_i / n_+`` among the ``n_+``
  items with at least one training rating (ranks ascending, ties averaged; 1 for the most
  popular item) and 0 for an item nobody rated; the metric is ``mean_{i in L_k} q_i``.
- **coverage@k** (catalog coverage; not in LensKit): ``|∪_u L_{u,k}| / n_items``, the share
  of the catalog recommended to at least one evaluated user. It grows with the number of
  users evaluated, so compare it only at equal ``--users``.
"""

from __future__ import annotations

import numpy as np

#: The per-user metrics, by name, in table order.
LIST_METRICS = ("ndcg", "map", "recall", "precision", "mrr")


def hits(recs: np.ndarray, rel_indptr: np.ndarray, rel_items: np.ndarray) -> np.ndarray:
    """``hit[u, r]``: the item at rank ``r + 1`` of user row ``u`` is among that user's
    relevant items ``rel_items[rel_indptr[u]:rel_indptr[u + 1]]`` (any order). ``recs`` is
    ``(n_users, K)`` item indices, ``-1`` padding a list shorter than ``K``."""
    n, K = recs.shape
    out = np.zeros((n, K), bool)
    for u in range(n):
        rel = rel_items[rel_indptr[u]:rel_indptr[u + 1]]
        if len(rel):
            out[u] = np.isin(recs[u], rel) & (recs[u] >= 0)
    return out


def log_weight(ranks: np.ndarray) -> np.ndarray:
    """LensKit's ``LogRankWeight()``: ``1 / log2(max(rank, 2))`` for ranks from 1."""
    return 1.0 / np.log2(np.maximum(np.asarray(ranks, np.float64), 2.0))


def list_metrics(hit: np.ndarray, lengths: np.ndarray, n_rel: np.ndarray, k: int
                 ) -> dict[str, np.ndarray]:
    """Per-user NDCG@k, AP@k, recall@k, precision@k and reciprocal rank@k (formulas in the
    module docstring) from the hit matrix of the lists, the lists' lengths (before the cut
    at ``k``) and each user's number of relevant test items (>= 1)."""
    n_rel = np.asarray(n_rel, np.float64)
    if (n_rel < 1).any():
        raise ValueError("every evaluated user needs at least one relevant test item")
    h = hit[:, :k].astype(np.float64)
    len_k = np.minimum(np.asarray(lengths), k).astype(np.float64)
    ranks = np.arange(1, h.shape[1] + 1)
    w = log_weight(ranks)
    ngood = h.sum(axis=1)
    # The ideal DCG of min(|T|, k) relevant items: a cumulative sum of the weights.
    ideal_cum = np.cumsum(log_weight(np.arange(1, k + 1)))
    ideal = ideal_cum[np.minimum(n_rel, k).astype(np.int64) - 1]
    out = {"ndcg": (h * w).sum(axis=1) / ideal}
    precision_at = np.cumsum(h, axis=1) / ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        out["map"] = np.where(len_k > 0, (h * precision_at).sum(axis=1)
                              / np.minimum(n_rel, np.maximum(len_k, 1)), np.nan)
        out["recall"] = ngood / np.minimum(n_rel, k)
        out["precision"] = np.where(len_k > 0, ngood / np.maximum(len_k, 1), np.nan)
    first = np.where(h.any(axis=1), h.argmax(axis=1) + 1, 0)
    out["mrr"] = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    return out


def popularity_quantiles(item_users: np.ndarray) -> np.ndarray:
    """LensKit's ``MeanPopRank`` item quantiles ``q_i`` from each item's count of distinct
    training users: average ranks (ascending) among the items with a positive count, over
    their number; 0 for items with none."""
    from scipy.stats import rankdata

    counts = np.asarray(item_users)
    q = np.zeros(len(counts), np.float64)
    pos = np.flatnonzero(counts > 0)
    if len(pos):
        q[pos] = rankdata(counts[pos], method="average") / len(pos)
    return q


def _first_k(recs: np.ndarray, lengths: np.ndarray, k: int):
    """(each list's first ``k`` slots, which of them hold an item)."""
    top = recs[:, :k]
    return top, (top >= 0) & (np.arange(top.shape[1]) < np.asarray(lengths)[:, None])


def popularity_bias(recs: np.ndarray, lengths: np.ndarray, q: np.ndarray, k: int
                    ) -> np.ndarray:
    """Per-user ``MeanPopRank@k``: the mean of ``q`` over the first ``min(k, length)`` items
    (NaN for an empty list)."""
    top, valid = _first_k(recs, lengths, k)
    vals = np.where(valid, q[np.maximum(top, 0)], 0.0)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, vals.sum(axis=1) / np.maximum(n, 1), np.nan)


def coverage(recs: np.ndarray, lengths: np.ndarray, n_items: int, k: int) -> float:
    """Catalog coverage@k: distinct items in the users' first ``k`` over ``n_items``."""
    top, valid = _first_k(recs, lengths, k)
    return float(len(np.unique(top[valid])) / n_items) if n_items else float("nan")


def summarize(recs: np.ndarray, lengths: np.ndarray, rel_indptr: np.ndarray,
              rel_items: np.ndarray, q: np.ndarray, n_items: int, ks=(10, 20)) -> dict:
    """Every metric at every ``k``: ``{"ndcg@10": mean, ...}``, each per-user metric the
    mean over users (NaN lists skipped, as LensKit's summary does)."""
    hit = hits(recs, rel_indptr, rel_items)
    n_rel = np.diff(rel_indptr)
    out = {}
    for k in ks:
        per_user = list_metrics(hit, lengths, n_rel, k)
        for name in LIST_METRICS:
            out[f"{name}@{k}"] = float(np.nanmean(per_user[name]))
        out[f"coverage@{k}"] = coverage(recs, lengths, n_items, k)
        out[f"popularity_bias@{k}"] = float(np.nanmean(popularity_bias(recs, lengths, q, k)))
    return out
