"""The Netflix hold-out rule on planted data: counts, chronology, thirds, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from prize.data.build import SPLIT_CODES
from prize.data.split import given_split, holdout_mask, netflix_split


def planted(seed=0, n_users=300):
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 60, n_users)
    user = np.repeat(np.arange(n_users), n)
    day = np.concatenate([np.sort(rng.integers(0, 15, k)) for k in n])  # many ties
    return user, day.astype(np.int32), n


def test_holdout_counts_and_chronology():
    user, day, n = planted()
    held = holdout_mask(user, day, np.random.default_rng(1))
    assert (np.bincount(user[held], minlength=len(n)) == np.minimum(9, n // 2)).all()
    for u in range(len(n)):
        mine = user == u
        if held[mine].any() and (~held[mine]).any():
            assert day[mine & held].min() >= day[mine & ~held].max()


def test_users_with_one_rating_keep_it():
    user = np.array([0, 1, 1, 2, 2, 2])
    day = np.array([5, 1, 2, 1, 2, 3])
    held = holdout_mask(user, day, np.random.default_rng(0))
    assert held.tolist() == [False, False, True, False, False, True]


def test_ties_broken_by_seed():
    # One user, 20 ratings on one day: which 9 are held out depends only on the seed.
    user = np.zeros(20, np.int64)
    day = np.zeros(20, np.int32)
    a = holdout_mask(user, day, np.random.default_rng(1))
    b = holdout_mask(user, day, np.random.default_rng(1))
    c = holdout_mask(user, day, np.random.default_rng(2))
    assert a.sum() == 9 and (a == b).all() and (a != c).any()


def test_thirds_and_determinism():
    user, day, _ = planted()
    s1 = netflix_split(user, day, seed=3)
    assert (s1 == netflix_split(user, day, seed=3)).all()
    assert (s1 != netflix_split(user, day, seed=4)).any()
    sizes = [int((s1 == SPLIT_CODES[k]).sum()) for k in ("probe", "quiz", "test")]
    assert max(sizes) - min(sizes) <= 1
    held = s1 != SPLIT_CODES["train"]
    assert sum(sizes) == int(held.sum())
    # Each third is a random draw: no third takes all of a user's hold-out systematically.
    probe_users = np.unique(user[s1 == SPLIT_CODES["probe"]])
    assert len(probe_users) > 0.5 * len(np.unique(user[held]))


def test_given_split_keeps_test_rows():
    user, day, n = planted()
    given = np.random.default_rng(0).random(len(user)) < 0.2
    s = given_split(user, day, given, seed=0)
    assert (s[given] == SPLIT_CODES["test"]).all()
    base = ~given
    probe = s == SPLIT_CODES["probe"]
    n_base = np.bincount(user[base], minlength=len(n))
    assert (np.bincount(user[probe], minlength=len(n)) == np.minimum(9, n_base // 2)).all()


def test_given_split_with_a_random_probe():
    # As many probe ratings as the latest-ratings rule takes, drawn uniformly over the
    # ratings (a heavy rater gives more, as to a random test file), never more than half of
    # a user's; some predate ratings the user keeps; the draw depends on the seed only.
    user, day, n = planted(n_users=2000)
    day = (np.arange(len(user)) % 97).astype(np.int32)  # distinct days within most users
    given = np.random.default_rng(0).random(len(user)) < 0.2
    s = given_split(user, day, given, seed=0, probe="random")
    assert (s[given] == SPLIT_CODES["test"]).all()
    probe = s == SPLIT_CODES["probe"]
    n_base = np.bincount(user[~given], minlength=len(n))
    per_user = np.bincount(user[probe], minlength=len(n))
    assert probe.sum() == np.minimum(9, n_base // 2).sum()
    assert (per_user <= n_base // 2).all()
    heavy = n_base >= 30
    assert per_user[heavy].max() > 9  # not capped at nine per user
    share = per_user / np.maximum(n_base, 1)  # about the same share of every heavy user
    assert abs(share[heavy].mean() - probe.sum() / (~given).sum()) < 0.02
    kept = ~given & ~probe
    earlier = [u for u in range(len(n)) if probe[user == u].any() and kept[user == u].any()
               and day[(user == u) & probe].min() < day[(user == u) & kept].max()]
    assert len(earlier) > 0.5 * (per_user > 0).sum()
    assert (s == given_split(user, day, given, seed=0, probe="random")).all()
    assert (s != given_split(user, day, given, seed=1, probe="random")).any()
    with pytest.raises(ValueError, match="recent or random"):
        holdout_mask(user, day, np.random.default_rng(0), rule="oldest")


@pytest.mark.parametrize("max_holdout", [1, 3, 9])
def test_max_holdout(max_holdout):
    user, day, n = planted(5)
    held = holdout_mask(user, day, np.random.default_rng(0), max_holdout=max_holdout)
    assert (np.bincount(user[held], minlength=len(n)) == np.minimum(max_holdout, n // 2)).all()
