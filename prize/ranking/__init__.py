"""Recommendations judged as a ranking: the top-N evaluation of `prize evaluate --ranking`.

- :mod:`~prize.ranking.metrics`: NDCG, MAP, recall, precision, MRR, coverage and popularity
  bias at k, computed as LensKit computes them (the formulas are in its docstring);
- :mod:`~prize.ranking.holdout`: the hold-out (each user's latest ratings by default), the
  relevance threshold, the validation split the popularity blend tunes on;
- :mod:`~prize.ranking.models`: most-popular, item kNN top-N, EASE, rating predictors
  ranking by predicted rating, and the popularity blend;
- :mod:`~prize.ranking.evaluate`: the orchestration and the stored evaluation the
  leaderboard report charts.

It sits beside the run layer: it imports data, models and the probe store, and only the
leaderboard report and the CLI import it.
"""
