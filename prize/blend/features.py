r"""Meta-features of the probe and qualifying rows, computed from the dataset's rows.

The Prize blends fed the blender, beside the predictions, a few numbers that say how much
each predictor can be trusted on a row (Koren 2009, "The BellKor solution to the Netflix
Grand Prize", section VII; Sill et al. 2009; Töscher, Jahrer & Bell 2009):

================== ======================================================================
``user_support``   :math:`\log(1 + |R(u)|)`, the user's number of TRAIN ratings
``movie_support``  :math:`\log(1 + |R(i)|)`, the movie's number of TRAIN ratings
``frequency``      :math:`\log(1 + F_{ut})`, the number of ratings the user gave that day,
                   counted over every known pair (train, probe and qualifying: the dates
                   of qualifying ratings are known)
``date``           the day of the rating (days since 1970-01-01)
================== ======================================================================

Support counts TRAIN rows only, the data the predictors learnt from.
"""

from __future__ import annotations

import numpy as np

from prize.data.dataset import Dataset, Split

META = ("user_support", "movie_support", "frequency", "date")


def frequency(user: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Number of rows sharing each row's (user, day), for rows sorted by (user, day)."""
    n = len(user)
    if n == 0:
        return np.zeros(0, np.int64)
    new = np.empty(n, bool)
    new[0] = True
    new[1:] = (user[1:] != user[:-1]) | (day[1:] != day[:-1])
    run = np.cumsum(new) - 1
    return np.bincount(run)[run]


def meta_features(ds: Dataset, kinds: tuple[str, ...] = ("probe", "qualifying")
                  ) -> dict[str, np.ndarray]:
    """``{kind: (rows × 4) float32}`` with the columns of :data:`META`."""
    user = np.asarray(ds.user)
    item = np.asarray(ds.item)
    day = np.asarray(ds.day)
    train = ds.mask(Split.TRAIN)
    nu = np.bincount(user[train], minlength=ds.n_users)
    ni = np.bincount(item[train], minlength=ds.n_items)
    freq = frequency(user, day)
    out = {}
    for kind in kinds:
        r = ds.rows_of(kind)
        F = np.empty((len(r), len(META)), np.float32)
        F[:, 0] = np.log1p(nu[user[r]])
        F[:, 1] = np.log1p(ni[item[r]])
        F[:, 2] = np.log1p(freq[r])
        F[:, 3] = day[r]
        out[kind] = F
    return out


def support_of(F: np.ndarray) -> np.ndarray:
    """The user's number of TRAIN ratings, back from the log column."""
    return np.expm1(np.asarray(F[:, 0], np.float64))


def standardize(F: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Columns scaled to mean 0, SD 1 (with the given or fitted ``(mean, sd)``), float64."""
    F = np.asarray(F, np.float64)
    if stats is None:
        sd = F.std(axis=0)
        stats = (F.mean(axis=0), np.where(sd > 0, sd, 1.0))
    return (F - stats[0]) / stats[1], stats
