"""The top-N hold-out: which ratings the models learn from, which they are judged on, and
which items each user may be recommended.

``latest`` (the default) reuses the data set's own hold-out: every PROBE or QUALIFYING row
whose rating is known. Under the Netflix protocol (``prize data import`` without a fixed
split, and every synthetic preset) those rows are exactly each user's latest ratings, nine
at most and at most half of the user's -- the time the Prize held out -- and the training
set is TRAIN, the very rows every predictor in the probe store was fitted on, so a stored
probe-round model can be judged on it without having seen the answers. On the real Netflix
data the qualifying ratings are unknown, so the hold-out is PROBE alone. On a data set with
a fixed split (MovieLens ``--split u1``) the hold-out is that split's test file plus the
probe carved from its training part.

``random`` draws, for each user, as many ratings as ``latest`` holds out, uniformly from
the user's known ratings (TRAIN and the known hold-out together); the rest is the training
set. Models are fitted in-process for it (a stored model has seen those ratings).

Either way, a held-out pair whose rating is unknown (Netflix's qualifying pairs) is neither
judged nor recommended: the user rated it, but we cannot say whether they liked it.
Relevant = a held-out rating >= the threshold (:func:`default_threshold`).

The validation split the popularity blend tunes ``w`` on is carved from the training set
by the same rule (:func:`carve`), never from the evaluation hold-out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prize.data.dataset import Dataset, Ratings, Split
from prize.data.split import holdout_mask
from prize.errors import ConfigError

HOLDOUTS = ("latest", "random")


def default_threshold(scale: tuple[float, float]) -> float:
    """4 on the Prize's 1-5 stars and on MovieLens' 0.5-5 half stars (a 4 means "liked" on
    both); on any other scale, the point three quarters of the way up it (``lo + 0.75 (hi -
    lo)``, which is 4 on 1-5). ``--threshold`` sets it explicitly."""
    lo, hi = scale
    if hi == 5.0 and lo in (0.5, 1.0, 0.0):
        return 4.0
    return lo + 0.75 * (hi - lo)


@dataclass
class Holdout:
    """What one top-N evaluation learns from and is judged on."""

    train: Ratings
    """The ratings models are fitted on."""
    test_user: np.ndarray
    test_item: np.ndarray
    test_rating: np.ndarray
    """The held-out ratings with known truth (all of them, relevant or not)."""
    unknown_user: np.ndarray
    unknown_item: np.ndarray
    """Held-out pairs whose rating is unknown: never recommended, never judged."""
    mode: str
    threshold: float

    def relevant(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of the relevant held-out items of ``users`` (sorted ids)."""
        return _csr(self.test_user, self.test_item, users,
                    self.test_rating >= self.threshold)

    def eligible_users(self) -> np.ndarray:
        """Users with at least one relevant held-out item and one training rating."""
        n = self.train.n_users
        rel = np.bincount(self.test_user[self.test_rating >= self.threshold], minlength=n)
        trained = np.bincount(self.train.user, minlength=n)
        return np.flatnonzero((rel > 0) & (trained > 0))


def _csr(user: np.ndarray, item: np.ndarray, users: np.ndarray, keep=None):
    """(indptr, items) of the ``item`` rows of each of ``users`` (ascending), where ``keep``."""
    if keep is not None:
        user, item = user[keep], item[keep]
    pos = np.searchsorted(users, user)
    inside = (pos < len(users)) & (users[np.minimum(pos, len(users) - 1)] == user) if len(
        users) else np.zeros(len(user), bool)
    pos, it = pos[inside], item[inside]
    order = np.argsort(pos, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(pos, minlength=len(users)))].astype(np.int64)
    return indptr, np.asarray(it[order], np.int64)


def user_items(r: Ratings, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, items) of the rated items of each of ``users`` (ascending) in ``r``."""
    return _csr(np.asarray(r.user), np.asarray(r.item), users)


def build(ds: Dataset, mode: str = "latest", *, threshold: float | None = None,
          seed: int = 0) -> Holdout:
    """The hold-out of ``ds`` (module docstring); ``threshold`` defaults to
    :func:`default_threshold` of the data set's scale."""
    if mode not in HOLDOUTS:
        raise ConfigError(f"--holdout {mode!r}: expected one of {', '.join(HOLDOUTS)}")
    if threshold is None:
        threshold = default_threshold(ds.scale)
    user = np.asarray(ds.user)
    held = ds.mask(Split.PROBE | Split.QUALIFYING)
    known = ~np.isnan(np.asarray(ds.rating))
    unknown_rows = np.flatnonzero(held & ~known)
    if mode == "latest":
        train_rows = ds.rows(Split.TRAIN)
        test_rows = np.flatnonzero(held & known)
    else:
        pool = np.flatnonzero(ds.mask(Split.TRAIN | Split.PROBE | Split.QUALIFYING) & known)
        # As many per user as the data set holds out, drawn uniformly from the user's pool.
        n_held = np.bincount(user[held & known], minlength=ds.n_users)
        rng = np.random.default_rng(seed)
        u = user[pool]
        order = np.lexsort((rng.random(len(pool)), u))
        su = u[order]
        starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
        counts = np.diff(np.r_[starts, len(su)])
        rank = np.arange(len(su)) - np.repeat(starts, counts)
        take = rank < n_held[su]
        test_rows = np.sort(pool[order[take]])
        train_rows = np.sort(pool[order[~take]])
    test = ds.select(test_rows)
    return Holdout(train=ds.select(train_rows), test_user=test.user, test_item=test.item,
                   test_rating=test.rating, unknown_user=user[unknown_rows],
                   unknown_item=np.asarray(ds.item)[unknown_rows], mode=mode,
                   threshold=float(threshold))


def carve(train: Ratings, mode: str = "latest", seed: int = 0) -> tuple[Ratings, Holdout]:
    """A validation split carved from ``train``: each user's latest ratings (nine at most,
    at most half; ``random``: as many drawn at random), the rest the validation's training
    set. Returns (the reduced training set, a :class:`Holdout` over it) -- the threshold is
    filled in by the caller."""
    rng = np.random.default_rng(seed)
    val = holdout_mask(np.asarray(train.user), np.asarray(train.day), rng,
                       rule="recent" if mode == "latest" else "random")

    def part(mask):
        return Ratings(train.user[mask], train.item[mask], train.rating[mask],
                       train.day[mask], train.n_users, train.n_items, train.scale)

    fit = part(~val)
    v = part(val)
    empty = np.zeros(0, np.int32)
    return fit, Holdout(train=fit, test_user=v.user, test_item=v.item, test_rating=v.rating,
                        unknown_user=empty, unknown_item=empty, mode=mode, threshold=np.nan)
