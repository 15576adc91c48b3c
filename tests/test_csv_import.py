"""The generic CSV/TSV importer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dataset_pairs

from prize.data import Split, open_dataset
from prize.data.csv import import_csv
from prize.errors import DataError


def write_ratings(path, n_users=20, n_items=15, header=True, sep=",", half=True, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["user_id,item,stars,when".replace(",", sep)] if header else []
    for u in range(n_users):
        for i in rng.choice(n_items, 10, replace=False):
            r = rng.integers(1, 11) / 2 if half else rng.integers(1, 6)
            lines.append(sep.join([f"user-{u}", f"item {i}", f"{r:g}",
                                   f"2020-01-{rng.integers(1, 29):02d}"]))
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - header


def test_string_ids_dates_and_half_stars(tmp_path):
    n = write_ratings(tmp_path / "r.csv")
    report = import_csv(tmp_path / "r.csv", tmp_path / "ds", name="ds", header=True,
                        columns="user,item,rating,time", time_format="%Y-%m-%d",
                        scale=(0.5, 5.0, 0.5))
    ds = open_dataset(tmp_path / "ds")
    assert report["ratings"] == n == len(ds)
    assert ds.ids("user").dtype.kind == "U" and "user-3" in ds.ids("user").tolist()
    assert ds.meta["rating_scale"] == {"min": 0.5, "max": 5.0, "step": 0.5}
    assert ds.meta["date_range"][0] >= "2020-01-01"
    assert int(ds.mask(Split.PROBE).sum()) > 0


def test_digit_ids_become_integers_and_columns_can_be_skipped(tmp_path):
    (tmp_path / "r.tsv").write_text("".join(f"{u}\tjunk\t{i}\t{(u + i) % 5 + 1}\t{86400 * i}\n"
                                            for u in range(5) for i in range(6)))
    import_csv(tmp_path / "r.tsv", tmp_path / "ds", name="ds", sep="\\t",
               columns="user,_,item,rating,time")
    ds = open_dataset(tmp_path / "ds")
    assert ds.ids("user").dtype == np.int64 and ds.ids("item").tolist() == list(range(6))
    assert len(ds) == 30


def test_rating_off_the_scale_step(tmp_path):
    (tmp_path / "r.csv").write_text("a,b,3.5,0\na,c,3.3,0\n")
    with pytest.raises(DataError) as e:
        import_csv(tmp_path / "r.csv", tmp_path / "ds", name="ds", scale=(0.5, 5.0, 0.5))
    assert e.value.line == 2 and "3.3 out of range" in str(e.value)
    assert not (tmp_path / "ds").exists()


def test_missing_column_name_is_explained(tmp_path):
    (tmp_path / "r.csv").write_text("a,b,3\n")
    with pytest.raises(DataError, match="lacks 'rating'"):
        import_csv(tmp_path / "r.csv", tmp_path / "ds", name="ds", columns="user,item,_")


def test_duplicate_pairs_error_or_keep_first_or_last(tmp_path):
    # (a, x) rated three times: at days 5, 1 and 5 again (a tie, broken by file order).
    (tmp_path / "r.csv").write_text("a,x,4,432000\nb,x,3,0\na,x,2,86400\na,y,5,0\n"
                                    "a,x,1,432000\nb,y,2,86400\n")
    with pytest.raises(DataError) as e:
        import_csv(tmp_path / "r.csv", tmp_path / "err", name="err", duplicates="error")
    assert e.value.line == 3 and "--duplicates last" in str(e.value)
    assert not (tmp_path / "err").exists()
    kept = {}
    for rule in ("first", "last", None):  # None: the default, last
        kw = {"duplicates": rule} if rule else {}
        rule = rule or "default"
        report = import_csv(tmp_path / "r.csv", tmp_path / rule, name=rule, **kw)
        ds = open_dataset(tmp_path / rule)
        assert report["duplicates_dropped"] == 2 and len(ds) == 4
        kept[rule] = dataset_pairs(ds)
    assert kept["first"][("a", "x")] == 2.0  # the earliest day
    assert kept["last"][("a", "x")] == 1.0  # the latest day, the later line of the two
    assert kept["default"] == kept["last"]
    assert kept["first"][("b", "y")] == kept["last"][("b", "y")] == 2.0


@pytest.mark.parametrize("variant", ["1m", "10m", "latest"])
def test_movielens_formats(tmp_path, variant):
    """The 1M and 10M layouts (``::``-separated ratings.dat; 10M has half stars) and the
    latest/20M/25M one (ratings.csv with a header), written small: the scale is read from
    the ratings (whole stars: 1..5 in five classes; half stars: 0.5..5)."""
    from prize.data.movielens import import_movielens

    rng = np.random.default_rng(0)
    half = variant != "1m"
    rows = [(u, i, (rng.integers(1, 11) / 2 if half else rng.integers(1, 6)), 978300000 + k)
            for k, (u, i) in enumerate((u, i) for u in range(1, 21) for i in range(1, 13))]
    folder = tmp_path / variant
    folder.mkdir()
    if variant == "latest":
        (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{i},{r:g},{t}\n" for u, i, r, t in rows))
        (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
            f'{i},"Film {i}, The (1999)",Drama\n' for i in range(1, 13)))
    else:
        (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r:g}::{t}\n"
                                                    for u, i, r, t in rows))
        (folder / "movies.dat").write_text("".join(f"{i}::Film {i} (1999)::Drama\n"
                                                   for i in range(1, 13)))
    report = import_movielens(folder, tmp_path / "ds", name="ds")
    ds = open_dataset(tmp_path / "ds")
    assert report["ratings"] == len(rows) == len(ds)
    lo = 0.5 if half else 1.0
    assert ds.meta["rating_scale"] == {"min": lo, "max": 5.0, "step": 0.5 if half else 1.0}
    assert dataset_pairs(ds)[(rows[7][0], rows[7][1])] == rows[7][2]
