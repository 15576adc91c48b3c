"""Item-item kNN with correlation weights on baseline residuals (the ``item`` model).

Koren 2010, "Factor in the neighbors: scalable and accurate collaborative filtering", TKDD
4(1), section 2.2; Bell & Koren 2007, "Improved neighborhood-based collaborative
filtering", KDD Cup workshop; Surprise's ``KNNBaseline``. With b_ui = mu + b_u + b_i the
baseline (the ``biases`` model of the baseline family) and z_uj = r_uj - b_uj:

    s_ij = n_ij / (n_ij + lambda) * rho_ij                      (Koren 2010, eq. 3)

    r̂_ui = b_ui + sum_{j in N^k(i;u)} s_ij z_uj / (lambda_w + sum_{j in N^k(i;u)} |s_ij|)

where rho_ij is the correlation of i and j over their common raters U(i, j) (by default
of the residuals z, see :data:`SIMILARITIES`), n_ij = |U(i, j)|, and N^k(i;u) the k items
rated by u that are most similar to i, keeping only s_ij > ``min_similarity`` (Surprise
keeps the positive ones among the k most similar, which is the same set). Without such
neighbours, or for an unknown user or item, r̂_ui = b_ui.

With lambda_w = 0 this is Koren's eq. 4, a weighted mean of the neighbours' residuals: it
moves the prediction by a full residual even when the only neighbours are two items with
s_ij = 0.01, and on small or noisy data (the synthetic tiny preset at noise 1.4, a
50k-rating MovieLens subsample) it loses to the biases by 0.04-0.05. lambda_w > 0 adds a
pseudo-neighbour of similarity lambda_w whose residual is 0, the baseline itself -- the
same Bayesian shrinkage toward a prior that n_ij / (n_ij + lambda) applies to rho_ij and
that Bell & Koren's Â (ICDM 2007, section 4) applies to the average products. Its effect
fades with data: at Netflix's scale, 35 neighbours with s_ij ~ 0.3 make sum |s_ij| ~ 10,
and lambda_w = 0.5 changes a prediction by 5%.

With ``k = 35`` this is also the ``cinematch-proxy`` configuration: see the family's
docstring (:mod:`prize.models.knn`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prize.models.knn._neighbours import StoredNeighbours, check_common


@dataclass(frozen=True)
class ItemKNNConfig:
    k: int = 40
    """Neighbours per prediction: the k items the user rated that are most similar to the
    target (Surprise's KNNBaseline default; 20..50 all do well)."""
    similarity: str = "pearson_baseline"
    """A name in :data:`prize.models.knn.SIMILARITIES`: ``pearson_baseline`` (correlation of
    the baseline residuals), ``pearson`` or ``cosine`` (of the raw ratings)."""
    shrinkage: float = 100.0
    """lambda in s_ij = n_ij / (n_ij + lambda) rho_ij: pairs with few common raters are
    pulled toward 0 (Koren 2010 uses 100; so does Surprise)."""
    min_similarity: float = 0.0
    """Neighbours need s_ij above this (0: only positively correlated items count)."""
    weight_shrinkage: float = 0.5
    """lambda_w in r̂_ui = b_ui + sum s_ij z_uj / (lambda_w + sum |s_ij|): a pseudo-neighbour
    of similarity lambda_w whose residual is 0, pulling the prediction toward the baseline
    where the neighbours are few or weakly similar (0: Koren's plain weighted mean)."""
    baseline: Literal["biases", "global_effects"] = "biases"
    """The normalisation whose residuals the neighbours work on: b_ui = mu + b_u + b_i (the
    baseline family's ``biases``, with the ``baseline_*`` settings below), or Bell & Koren's
    ten global effects with their time effects (ICDM 2007, section 3; the baseline family's
    ``global_effects`` with its shipped settings), the normalisation of their Netflix kNN
    runs (item kNN 0.9086 on global-effect residuals)."""
    baseline_epochs: int = 10
    """ALS sweeps of the baseline b_ui = mu + b_u + b_i (the baseline family's biases)."""
    baseline_reg_item: float = 10.0
    """lambda_2 of the baseline: pseudo-ratings pulling each b_i toward 0."""
    baseline_reg_user: float = 15.0
    """lambda_3 of the baseline: pseudo-ratings pulling each b_u toward 0."""
    dense_max_items: int = 20_000
    """Up to this many items the similarities are exact: one dense float32 matrix (1.26 GB
    at Netflix's 17,770), or every item's full list where items have few co-rated items;
    above it each item keeps only its ``max_neighbours`` best."""
    max_neighbours: int = 300
    """Neighbours kept per item when the matrix is not dense (at least k)."""

    def __post_init__(self):
        check_common(self)
        if self.dense_max_items < 0 or self.max_neighbours < 1:
            raise ValueError("dense_max_items must be >= 0 and max_neighbours >= 1")


class ItemKNN(StoredNeighbours):
    """Item kNN on baseline residuals with shrunk-correlation weights (module docstring).

    Fitted: ``mu_``, ``bu_``, ``bi_`` (baseline), ``ratings_`` (residuals by user) and
    ``neighbours_`` (the similarity table).
    """

    name = "item"
    Config = ItemKNNConfig
    interpolate = False
