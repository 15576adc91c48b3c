"""The MovieLens importer: 100K, 1M, latest/20M/25M, with their titles and genres.

MovieLens has no probe or qualifying set of its own, so the import applies the Netflix
protocol (:mod:`prize.data.split`) straight away; a MovieLens 100K import with
``split="u1"`` (… ``ub``) keeps that split's test file as the qualifying set instead.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd

from prize.data import _parse
from prize.data._parse import BadLines, SourceFile, TableFormat
from prize.data.build import check_free
from prize.data.tabular import build_tables
from prize.errors import DataError

ML100K = TableFormat("\t", ("user", "item", "rating", "time"),
                     expected="user id<TAB>item id<TAB>rating<TAB>timestamp")
ML1M = TableFormat("\t", ("user", "item", "rating", "time"), replace=((b"::", b"\t"),),
                   expected="UserID::MovieID::Rating::Timestamp")
MLCSV = TableFormat(",", ("user", "item", "rating", "time"), header=True,
                    expected="userId,movieId,rating,timestamp")
ML_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _by_name(files: list[SourceFile]) -> dict[str, SourceFile]:
    return {f.basename: f for f in files}


def _title_year(title: str) -> int | None:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else None


def _ml100k_items(files) -> tuple[dict, dict]:
    item_src, genre_src = files.get("u.item"), files.get("u.genre")
    if item_src is None:
        return {}, {}
    names = []
    if genre_src is not None:
        for line in genre_src.read().decode("latin-1").splitlines():
            if "|" in line:
                names.append(line.split("|")[0])
    titles, genres = {}, {}
    for line in item_src.read().decode("latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        iid = int(parts[0])
        titles[iid] = (_title_year(parts[1]), parts[1])
        flags = parts[5:]
        if names and len(flags) == len(names):
            genres[iid] = "|".join(n for n, f in zip(names, flags, strict=True) if f == "1")
    return titles, genres


def _ml1m_items(src: SourceFile) -> tuple[dict, dict]:
    titles, genres = {}, {}
    for line in src.read().decode("latin-1").splitlines():
        parts = line.split("::")
        if len(parts) == 3 and parts[0].isdigit():
            titles[int(parts[0])] = (_title_year(parts[1]), parts[1])
            genres[int(parts[0])] = parts[2]
    return titles, genres


def _mlcsv_items(src: SourceFile) -> tuple[dict, dict]:
    import io

    df = pd.read_csv(io.BytesIO(src.read()), dtype={"movieId": np.int64, "title": str,
                                                     "genres": str}, keep_default_na=False)
    titles = {int(i): (_title_year(t), t) for i, t in zip(df["movieId"], df["title"],
                                                           strict=True)}
    genres = {int(i): g for i, g in zip(df["movieId"], df["genres"], strict=True)}
    return titles, genres


def import_movielens(path, target, *, name: str, split: str | None = None, seed: int = 0,
                     skip_bad_lines: bool = False, overwrite: bool = False,
                     probe: str = "recent", duplicates: str = "last") -> dict:
    """Import MovieLens 100K / 1M / 10M / latest / 20M / 25M from its folder (or archive).

    ``duplicates``: what to do with a (user, movie) pair rated more than once -- "last"
    (default: keep the most recent rating, as a re-rating replaces the old one), "first"
    (the earliest) or "error" (a bad line)."""
    check_free(target, overwrite)
    t0 = time.perf_counter()
    bad = BadLines(skip=skip_bad_lines)
    files = _by_name(_parse.list_source(path))
    scale = (1.0, 5.0, 1.0)
    given = None
    if "u.data" in files or split is not None:
        fmt, variant = ML100K, "ml-100k"
        titles, genres = _ml100k_items(files)
        if split is not None:
            if split not in ML_SPLITS:
                raise DataError(f"unknown MovieLens 100K split {split!r}",
                                expected=" or ".join(ML_SPLITS))
            missing = [f for f in (f"{split}.base", f"{split}.test") if f not in files]
            if missing:
                raise DataError(f"split files missing: {', '.join(missing)}", path=str(path),
                                fix="Give the ml-100k folder with its official split files")
            parts = [(files[f"{split}.base"], False), (files[f"{split}.test"], True)]
        else:
            parts = [(files["u.data"], False)]
    elif "ratings.dat" in files or "ratings.dat.gz" in files:
        # 1M has whole stars, 10M half stars, in the same format: read half stars, and
        # keep whole stars as the scale where every rating is one (see below).
        fmt, variant = ML1M, "ml-1m"
        parts = [(files.get("ratings.dat") or files["ratings.dat.gz"], False)]
        scale = (0.5, 5.0, 0.5)
        titles, genres = _ml1m_items(files["movies.dat"]) if "movies.dat" in files else ({}, {})
    elif "ratings.csv" in files:
        fmt, variant = MLCSV, "ml-csv"
        parts = [(files["ratings.csv"], False)]
        scale = (0.5, 5.0, 0.5)
        titles, genres = _mlcsv_items(files["movies.csv"]) if "movies.csv" in files else ({}, {})
    else:
        raise DataError("no MovieLens ratings file found", path=str(path),
                        expected="u.data (100K), ratings.dat (1M) or ratings.csv "
                                 "(latest, 20M, 25M)")
    tables = [_parse.parse_table(src, fmt, bad, scale) for src, _ in parts]
    if scale[2] == 0.5 and all(len(t.rating) and np.all(t.rating >= 1)
                               and np.all(t.rating == np.floor(t.rating)) for t in tables):
        scale = (1.0, 5.0, 1.0)  # 1M (or a whole-star ratings.csv): five classes, not ten
    elif variant == "ml-1m":
        variant = "ml-10m"
    if split is not None:
        given = np.concatenate([np.full(len(t.user), is_test) for t, (_, is_test) in
                                zip(tables, parts, strict=True)])
    meta_source = {"format": variant, "path": str(path), "split": split}
    if probe != "recent" and given is None:
        raise DataError("--probe random needs a given test set", path=str(path),
                        fix="Add --split u1 (or u2..u5, ua, ub); without one the netflix "
                            "protocol holds out each user's latest ratings")
    return build_tables(tables, target, name=name, seed=seed, scale=scale, given=given,
                        titles=titles, genres=genres, bad=bad, source=meta_source, t0=t0,
                        overwrite=overwrite, probe=probe, duplicates=duplicates)
