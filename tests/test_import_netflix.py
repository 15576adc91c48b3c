"""The Netflix importer on the real sample files, and its layouts (folder, tar, combined)."""

from __future__ import annotations

import shutil
import tarfile

import numpy as np
import pytest
from conftest import shared_path

from prize.data import Split, open_dataset
from prize.data._parse import BadLines, SourceFile
from prize.data.netflix import import_netflix, parse_titles

pytestmark = pytest.mark.realdata

MOVIE_COUNTS = {1: 547, 2: 145, 3: 2012, 4: 142, 5: 1140, 6: 1019, 7: 93, 8: 14910, 9: 95,
                10: 249, 2043: 7871}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = shared_path("netflix-sample")
    target = tmp_path_factory.mktemp("home") / "data" / "ns"
    report = import_netflix(root, target, name="ns", probe=root / "probe_head.txt")
    return report, open_dataset(target)


def test_sample_counts_match_the_readme(sample):
    report, ds = sample
    assert report["ratings"] == 28_223
    assert report["movies"] == 11
    assert report["probe"] == 25
    assert report["dropped"] == {"probe": 1_811}
    assert report["titles"] == 17_770
    ids = ds.ids("item")
    per_movie = np.bincount(ds.item, minlength=ds.n_items)
    assert dict(zip(ids.tolist(), per_movie.tolist(), strict=True)) == MOVIE_COUNTS


def test_probe_rows_resolved_from_training(sample):
    _, ds = sample
    probe = ds.rows(Split.PROBE)
    movies = ds.ids("item")[ds.item[probe]]
    assert sorted(np.unique(movies, return_counts=True)[1].tolist()) == [2, 23]
    assert set(movies.tolist()) == {1, 10}
    # Probe rows take their ratings from the training files and leave TRAIN.
    assert not np.isnan(ds.rating[probe]).any()
    assert (ds.split[probe] == Split.PROBE).all()
    assert int(ds.mask(Split.TRAIN).sum()) == 28_223 - 25


def test_probe_head_first_pairs_are_real_ratings(sample):
    _, ds = sample
    # The first probe pair of movie 1 is customer 30878 (probe_head.txt line 2).
    u = np.searchsorted(ds.ids("user"), 30878)
    m = np.searchsorted(ds.ids("item"), 1)
    rows = np.flatnonzero((ds.user == u) & (ds.item == m))
    assert len(rows) == 1 and ds.split[rows[0]] == Split.PROBE
    text = (shared_path("netflix-sample", "training_set", "mv_0000001.txt")).read_text()
    line = next(s for s in text.splitlines() if s.startswith("30878,"))
    assert ds.rating[rows[0]] == float(line.split(",")[1])
    assert str(np.datetime64(int(ds.day[rows[0]]), "D")) == line.split(",")[2]


def test_rows_sorted_by_user_then_day(sample):
    _, ds = sample
    u, d = np.asarray(ds.user), np.asarray(ds.day)
    assert ((u[1:] > u[:-1]) | ((u[1:] == u[:-1]) & (d[1:] >= d[:-1]))).all()


def test_meta_records_sources_and_reference(sample):
    _, ds = sample
    files = ds.meta["source"]["files"]
    assert len(files) == 11 + 2  # movie files, probe_head.txt, movie_titles.txt
    assert all(len(h) == 64 for h in files.values())
    assert ds.meta["reference"]["quiz"] == pytest.approx(0.9514)
    assert ds.meta["reference"]["test"] == pytest.approx(0.9525)
    assert ds.meta["date_range"][0] >= "1999-11-11" and ds.meta["date_range"][1] <= "2005-12-31"


def test_titles_latin1_null_years_and_commas():
    src = shared_path("netflix-sample", "movie_titles.txt")
    titles = parse_titles(SourceFile(src.name, str(src), _path=src), BadLines())
    assert len(titles) == 17_770
    assert titles[6483] == (2001, "Smokey Joe's Café")
    assert sum(1 for y, _ in titles.values() if y is None) == 7
    assert sum(1 for _, t in titles.values() if "," in t) == 336
    assert titles[4388] == (None, "Ancient Civilizations: Rome and Pompeii")


def test_tar_and_combined_layouts_give_the_same_dataset(sample, tmp_path):
    _, ds = sample
    root = shared_path("netflix-sample")
    tar = tmp_path / "netflix.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(root / "training_set", arcname="download/training_set")
        t.add(root / "movie_titles.txt", arcname="download/movie_titles.txt")
    a = import_netflix(tar, tmp_path / "a", name="a", probe=root / "probe_head.txt")
    assert a["fingerprint"] == ds.fingerprint

    combined = tmp_path / "combined"
    combined.mkdir()
    files = sorted((root / "training_set").glob("mv_*.txt"))
    (combined / "combined_data_1.txt").write_bytes(b"".join(f.read_bytes() for f in files[:6]))
    (combined / "combined_data_2.txt").write_bytes(b"".join(f.read_bytes() for f in files[6:]))
    shutil.copy(root / "movie_titles.txt", combined / "movie_titles.csv")
    b = import_netflix(combined, tmp_path / "b", name="b", probe=root / "probe_head.txt")
    assert b["fingerprint"] == ds.fingerprint
    assert b["titles"] == 17_770


def test_combined_file_cut_into_chunks_keeps_movie_ids(sample, tmp_path, monkeypatch):
    """A combined file larger than one batch is cut mid-block; the movie id carries over."""
    from prize.data import _parse

    _, ds = sample
    root = shared_path("netflix-sample")
    combined = tmp_path / "combined"
    combined.mkdir()
    files = sorted((root / "training_set").glob("mv_*.txt"))
    (combined / "combined_data_1.txt").write_bytes(b"".join(f.read_bytes() for f in files))
    monkeypatch.setattr(_parse, "BATCH_BYTES", 4096)
    data = (combined / "combined_data_1.txt").read_bytes()
    pieces = list(_parse.chunk_file(SourceFile("c", "c"), data))
    assert len(pieces) > 100 and sum(p.movie is not None for p in pieces) == len(pieces) - 1
    b = import_netflix(combined, tmp_path / "b", name="b", probe=root / "probe_head.txt",
                       titles=root / "movie_titles.txt")
    assert b["fingerprint"] == ds.fingerprint
