"""The run machinery: what drives models and blenders, never the other way round.

- :mod:`~prize.runs.single`: one predictor, one round (probe or final): build it from its
  family and config, iterate ``model.fit_epochs`` with a progress bar and checkpoints,
  predict the rows the dataset aligns, score and commit to the probe store.
- :mod:`~prize.runs.sets`: a set of predictors (``configs/leaderboard/*.toml``) in
  dependency waves, each task one call of :func:`prize.runs.single.train`.
- :mod:`~prize.runs.executors`: where tasks run -- in-process, a process pool, Dask.
- :mod:`~prize.runs.sweep`: grid and random searches, run as a predictor set.
"""
