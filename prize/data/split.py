"""The Netflix hold-out protocol, for any data set.

Netflix built its probe, quiz and test sets from each user's most recent ratings: nine
at most, fewer for users with fewer than 18 ratings (at most half of a user's ratings),
then shuffled the hold-out into three equal parts. We do the same:

- ``netflix``: hold-out = the last ``min(9, n_u // 2)`` ratings of each user by date, ties
  in date broken by the seed; a random third each becomes PROBE, QUIZ and TEST (the last
  two also QUALIFYING, with their truth kept for scoring).
- ``given``: a data set with a fixed test file (MovieLens 100K's u1..u5, ua, ub) keeps it
  as the qualifying set (all TEST), and probe is carved out of its training part by the
  same rule, or (``probe = "random"``) as a uniform random draw of as many ratings. A
  probe set should be drawn like the set it stands in for: Netflix's hold-out was each
  user's latest ratings, nine at most, but u1..u5.test are random fifths of the ratings,
  where a heavy rater counts for more and a rating's date does not matter. (A user keeps at
  least half of their ratings for training either way.)

:func:`resplit` applies a protocol afresh to an existing dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prize.data.build import SPLIT_CODES
from prize.errors import DataError

MAX_HOLDOUT = 9
PROTOCOLS = ("netflix", "given")
PROBE_RULES = ("recent", "random")


def holdout_mask(user: np.ndarray, day: np.ndarray, rng: np.random.Generator,
                 eligible: np.ndarray | None = None, max_holdout: int = MAX_HOLDOUT,
                 rule: str = "recent") -> np.ndarray:
    """True for the most recent ``min(max_holdout, n_u // 2)`` eligible ratings of each user
    (``rule = "random"``: as many ratings in all, drawn uniformly from the eligible ones
    with at most ``n_u // 2`` of any user's).

    ``n_u`` counts the user's eligible ratings; dates tie-break in a random order drawn from
    ``rng``, so the hold-out never predates a rating the user keeps for training.
    """
    if rule not in PROBE_RULES:
        raise ValueError(f"unknown hold-out rule {rule!r}; expected recent or random")
    n = len(user)
    idx = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    out = np.zeros(n, bool)
    if len(idx) == 0:
        return out
    u = np.asarray(user[idx], np.int64)
    d = np.asarray(day[idx], np.int64)
    tie = rng.random(len(idx))
    # by user, then day, then the random tie-break (random rule: by user, then at random)
    order = np.lexsort((tie, u) if rule == "random" else (tie, d, u))
    su = u[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    counts = np.diff(np.r_[starts, len(su)])
    k = np.minimum(max_holdout, counts // 2)
    rank = np.arange(len(su)) - np.repeat(starts, counts)  # position within the user
    if rule == "random":
        # The first n_u // 2 of each user's random order may go; of those, the ones with
        # the smallest draws, as many as the latest-ratings rule would hold out.
        may = np.flatnonzero(rank < np.repeat(counts // 2, counts))
        take = may[np.argsort(tie[order[may]], kind="stable")[:int(k.sum())]]
        out[idx[order[take]]] = True
        return out
    held = rank >= np.repeat(counts - k, counts)
    out[idx[order[held]]] = True
    return out


def netflix_split(user: np.ndarray, day: np.ndarray, seed: int) -> np.ndarray:
    """Split codes: hold-out in random probe / quiz / test thirds, the rest TRAIN."""
    rng = np.random.default_rng(seed)
    held = np.flatnonzero(holdout_mask(user, day, rng))
    split = np.full(len(user), SPLIT_CODES["train"], np.uint8)
    shuffled = rng.permutation(held)
    thirds = np.array_split(shuffled, 3)
    for part, code in zip(thirds, ("probe", "quiz", "test"), strict=True):
        split[part] = SPLIT_CODES[code]
    return split


def given_split(user: np.ndarray, day: np.ndarray, given_test: np.ndarray, seed: int,
                probe: str = "recent") -> np.ndarray:
    """Split codes: the given test rows become TEST (qualifying); probe is carved from the
    rest, each user's latest ratings or (``probe = "random"``) as many drawn at random."""
    rng = np.random.default_rng(seed)
    split = np.full(len(user), SPLIT_CODES["train"], np.uint8)
    split[given_test] = SPLIT_CODES["test"]
    split[holdout_mask(user, day, rng, eligible=~given_test, rule=probe)] = SPLIT_CODES["probe"]
    return split


def qualifying_order(item: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Row indices of the qualifying rows grouped by movie (as in Netflix's qualifying.txt,
    whose submissions hold one block per movie), in row order within a movie."""
    rows = np.flatnonzero(split & np.uint8(4))  # Split.QUALIFYING
    return rows[np.argsort(np.asarray(item)[rows], kind="stable")]


def resplit(dataset, target, *, protocol: str, seed: int, probe: str = "recent") -> dict:
    """Apply a protocol to an existing dataset; write it to ``target`` atomically."""
    from prize.data.dataset import COLUMNS, write_dataset

    if probe != "recent" and protocol != "given":
        raise DataError("--probe random applies to the given protocol only",
                        fix="Add --protocol given (the netflix protocol holds out the latest "
                            "ratings, as Netflix did)")

    cols = {c: np.asarray(getattr(dataset, c)) for c in COLUMNS}
    if np.isnan(cols["rating"]).any():
        raise DataError("this dataset has rows without ratings (Netflix's qualifying set); "
                        "only data with known ratings can be re-split", path=str(dataset.path),
                        fix="Keep its own probe and qualifying sets")
    given_path = Path(dataset.path) / "given_test.npy"
    extra = None
    if protocol == "given":
        if not given_path.is_file():
            raise DataError("this dataset has no given test set", path=str(dataset.path),
                            fix="Import a fixed split (e.g. `--split u1`), or use "
                                "--protocol netflix")
        given = np.load(given_path, allow_pickle=False)
        cols["split"] = given_split(cols["user"], cols["day"], given, seed, probe)
        extra = {"given_test": given}
        # The given test rows do not move: keep the test file's order.
        qual_order = dataset.qualifying_order
    elif protocol == "netflix":
        cols["split"] = netflix_split(cols["user"], cols["day"], seed)
        qual_order = qualifying_order(cols["item"], cols["split"])
    else:
        raise DataError(f"unknown protocol {protocol!r}", expected="netflix or given")
    meta = {k: v for k, v in dataset.meta.items()
            if k not in ("counts", "fingerprint", "histogram", "date_range")}
    meta["protocol"] = {"name": protocol, "seed": seed}
    if protocol == "given":
        meta["protocol"]["probe"] = probe
    meta["has_truth"] = True
    items = Path(dataset.path) / "items.csv"
    meta = write_dataset(
        target, cols, user_ids=dataset.ids("user"), item_ids=dataset.ids("item"),
        qualifying_order=qual_order, meta=meta,
        items_csv=items.read_text() if items.is_file() else None, extra=extra, overwrite=True,
    )
    return meta
