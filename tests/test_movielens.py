"""MovieLens 100K on the real files: counts, official splits, and the protocols."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
from conftest import shared_path

from prize.data import Split, open_dataset
from prize.data.movielens import import_movielens
from prize.data.split import resplit
from prize.errors import DataError

pytestmark = pytest.mark.realdata

UDATA_SHA = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
HISTOGRAM = {"1": 6_110, "2": 11_370, "3": 27_145, "4": 34_174, "5": 21_201}


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    target = tmp_path_factory.mktemp("home") / "data" / "ml"
    import_movielens(shared_path("ml-100k"), target, name="ml", seed=0)
    return open_dataset(target)


def test_counts_and_provenance(ml):
    assert len(ml) == 100_000
    assert ml.n_users == 943 and ml.n_items == 1_682
    assert ml.meta["histogram"] == HISTOGRAM
    assert ml.meta["source"]["files"]["u.data"] == UDATA_SHA
    assert hashlib.sha256(shared_path("ml-100k", "u.data").read_bytes()).hexdigest() == UDATA_SHA
    assert ml.meta["date_range"] == ["1997-09-20", "1998-04-22"]


def test_items_carry_titles_years_and_genres(ml):
    rows = list(csv.DictReader(open(ml.path / "items.csv", encoding="utf-8")))
    assert len(rows) == 1_682
    assert rows[0]["title"] == "Toy Story (1995)" and rows[0]["year"] == "1995"
    assert rows[0]["genres"] == "Animation|Children's|Comedy"


def _holdout_checks(user, day, held, expected_per_user):
    n_users = int(user.max()) + 1
    counts = np.bincount(user[held], minlength=n_users)
    assert (counts == expected_per_user).all()
    # Chronology: no held-out rating is older than any training rating of the same user.
    last_train = np.full(n_users, -(10**9))
    np.maximum.at(last_train, user[~held], day[~held])
    first_held = np.full(n_users, 10**9)
    np.minimum.at(first_held, user[held], day[held])
    assert (first_held >= last_train).all()


def test_netflix_protocol_holdout(ml):
    user, day, split = np.asarray(ml.user), np.asarray(ml.day), np.asarray(ml.split)
    held = split != Split.TRAIN
    n = np.bincount(user, minlength=ml.n_users)
    _holdout_checks(user, day, held, np.minimum(9, n // 2))
    assert np.bincount(user[held]).max() <= 9
    sizes = [int((split == c).sum()) for c in (Split.PROBE, Split.QUALIFYING | Split.QUIZ,
                                               Split.QUALIFYING | Split.TEST)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == int(held.sum())
    assert not np.isnan(ml.rating[ml.rows(Split.QUALIFYING)]).any()  # truth kept


@pytest.mark.parametrize("split", ["u1", "u2", "u3", "u4", "u5", "ua", "ub"])
def test_official_splits_keep_their_test_file(split, tmp_path):
    target = tmp_path / split
    import_movielens(shared_path("ml-100k"), target, name=split, split=split)
    ds = open_dataset(target)
    user, day, flags = np.asarray(ds.user), np.asarray(ds.day), np.asarray(ds.split)
    qual = (flags & Split.QUALIFYING) != 0
    n_test = 9_430 if split in ("ua", "ub") else 20_000
    assert len(ds) == 100_000 and int(qual.sum()) == n_test
    assert (flags[qual] == Split.QUALIFYING | Split.TEST).all()
    # The qualifying order follows the .test file line by line.
    test_lines = shared_path("ml-100k", f"{split}.test").read_text().splitlines()
    first = test_lines[0].split("\t")
    q0 = ds.qualifying_order[0]
    assert ds.ids("user")[ds.user[q0]] == int(first[0])
    assert ds.ids("item")[ds.item[q0]] == int(first[1]) and ds.rating[q0] == float(first[2])
    # Probe is carved from the training file by the Netflix rule.
    base = ~qual
    n_base = np.bincount(user[base], minlength=ds.n_users)
    probe = flags == Split.PROBE
    _holdout_checks(user[base], day[base], probe[base], np.minimum(9, n_base // 2))
    assert ds.meta["protocol"] == {"name": "given", "seed": 0, "probe": "recent"}


def test_random_probe_for_a_random_test_file(tmp_path):
    # u1.test is a random fifth of the ratings: a probe drawn at random stands in for it
    # (as many ratings as the latest-ratings rule takes).
    import_movielens(shared_path("ml-100k"), tmp_path / "r", name="r", split="u1",
                     probe="random")
    import_movielens(shared_path("ml-100k"), tmp_path / "l", name="l", split="u1")
    r, latest = open_dataset(tmp_path / "r"), open_dataset(tmp_path / "l")
    assert r.meta["protocol"] == {"name": "given", "seed": 0, "probe": "random"}
    pr, pl = (np.asarray(d.split) == Split.PROBE for d in (r, latest))
    assert pr.sum() == pl.sum()
    # drawn over ratings, as u1.test was: the heaviest raters give more than nine
    assert np.bincount(np.asarray(r.user)[pr], minlength=r.n_users).max() > 9
    # the random probe is no later than the rest of u1.base, as u1.test is not
    base = (np.asarray(r.split) & Split.QUALIFYING) == 0
    day = np.asarray(r.day)
    assert abs(day[pr].mean() - day[base].mean()) < 0.1 * day[base].std()
    assert day[pl].mean() > day[base].mean() + 0.1 * day[base].std()
    with pytest.raises(DataError, match="needs a given test set"):
        import_movielens(shared_path("ml-100k"), tmp_path / "x", name="x", probe="random")
    with pytest.raises(DataError, match="given protocol only"):
        resplit(r, tmp_path / "y", protocol="netflix", seed=0, probe="random")
