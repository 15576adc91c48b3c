"""prize: the Netflix Prize, end to end -- a command line (``prize --help``) and a library.

The library's names are imported on first use (module ``__getattr__``), so ``import
prize`` and ``prize --help`` load neither pandas, numba nor torch::

    import prize
    ratings = prize.Ratings.from_pandas(df, user="user", item="item", rating="rating")
    model = prize.SVD(n_factors=50).fit(ratings)
    model.predict(["u1"], ["i9"]); model.recommend("u1", n=10)
    prize.cross_validate(prize.SVDpp(), ratings, folds=5, seed=0)

See :mod:`prize.api` for the whole API.
"""

__version__ = "0.1.0"

#: Public name -> (module, attribute), imported when first asked for.
_LAZY = {
    "Ratings": ("prize.api", "RatingSet"),
    "RatingSet": ("prize.api", "RatingSet"),
    "Estimator": ("prize.api", "Estimator"),
    "open_dataset": ("prize.api", "open_dataset"),
    "cross_validate": ("prize.api", "cross_validate"),
    "search": ("prize.api", "search"),
    "load_model": ("prize.api", "load_model"),
    "PrizeError": ("prize.errors", "PrizeError"),
    **{name: ("prize.api", name) for name in (
        "GlobalMean", "MovieMean", "UserMean", "Biases", "GlobalEffects", "SVD", "SVDpp",
        "TimeSVDpp", "NSVD", "RBM", "KNN", "KNNInterp", "KNNGlobal", "KNNIntegrated")},
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prize' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
