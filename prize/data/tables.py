"""Importers for one-rating-per-line files: MovieLens (100K, 1M, latest/20M/25M) and any CSV/TSV.

These data sets have no probe or qualifying set of their own, so the import applies the
Netflix protocol (:mod:`prize.data.split`) straight away; a MovieLens 100K import with
``split="u1"`` (… ``ub``) keeps that split's test file as the qualifying set instead.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prize.data import _parse
from prize.data._parse import BadLines, SourceFile, TableFormat, TableResult
from prize.data.build import dense, finish, items_table, pair_keys, user_day_order
from prize.data.dataset import DEFAULT_REFERENCE
from prize.data.split import given_split, netflix_split, qualifying_order
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
                     probe: str = "recent") -> dict:
    """Import MovieLens 100K / 1M / latest / 20M / 25M from its folder (or archive)."""
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
        fmt, variant = ML1M, "ml-1m"
        parts = [(files.get("ratings.dat") or files["ratings.dat.gz"], False)]
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
    if split is not None:
        given = np.concatenate([np.full(len(t.user), is_test) for t, (_, is_test) in
                                zip(tables, parts, strict=True)])
    meta_source = {"format": variant, "path": str(path), "split": split}
    if probe != "recent" and given is None:
        raise DataError("--probe random needs a given test set", path=str(path),
                        fix="Add --split u1 (or u2..u5, ua, ub); without one the netflix "
                            "protocol holds out each user's latest ratings")
    return _build(tables, target, name=name, seed=seed, scale=scale, given=given,
                  titles=titles, genres=genres, bad=bad, source=meta_source, t0=t0,
                  overwrite=overwrite, probe=probe)


def import_csv(path, target, *, name: str, sep: str = ",", columns: str = "user,item,rating,time",
               header: bool = False, time_format: str | None = None,
               scale: tuple[float, float, float] = (1.0, 5.0, 1.0), seed: int = 0,
               skip_bad_lines: bool = False, overwrite: bool = False) -> dict:
    """Import any delimited ratings file; ``columns`` names its fields in order
    (``user``, ``item``, ``rating``, optional ``time``; ``_`` skips a field)."""
    t0 = time.perf_counter()
    fields = tuple(c.strip() for c in columns.split(","))
    for need in ("user", "item", "rating"):
        if need not in fields:
            raise DataError(f"--columns lacks {need!r}", text=columns,
                            expected="a comma-separated list naming user, item, rating "
                                     "and optionally time, with _ for ignored fields")
    unknown = set(fields) - {"user", "item", "rating", "time", "_"}
    if unknown:
        raise DataError(f"unknown column name(s) {sorted(unknown)}", text=columns,
                        expected="user, item, rating, time or _")
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)
    fmt = TableFormat(sep, tuple(f if f != "_" else f"_{k}" for k, f in enumerate(fields)),
                      header=header, time_format=time_format, string_ids=True)
    files = _parse.list_source(path)
    if len(files) != 1:
        raise DataError("expected one ratings file", path=str(path),
                        fix="Give the file itself, not a folder")
    bad = BadLines(skip=skip_bad_lines)
    table = _parse.parse_table(files[0], fmt, bad, scale)
    # Ids that are all digits become integers (compact, and sorted as numbers).
    for attr in ("user", "item"):
        ids = getattr(table, attr)
        if ids.dtype.kind == "U" and len(ids) and np.char.isdigit(ids).all() and (
                np.char.str_len(ids).max() < 19):
            setattr(table, attr, ids.astype(np.int64))
    return _build([table], target, name=name, seed=seed, scale=scale, given=None, titles={},
                  genres={}, bad=bad, source={"format": "csv", "path": str(path), "sep": sep,
                                              "columns": columns},
                  t0=t0, overwrite=overwrite)


def _build(tables: list[TableResult], target, *, name, seed, scale, given, titles, genres,
           bad: BadLines, source: dict, t0: float, overwrite: bool,
           probe: str = "recent") -> dict:
    user_raw = np.concatenate([t.user for t in tables])
    item_raw = np.concatenate([t.item for t in tables])
    rating = np.concatenate([t.rating for t in tables])
    day = np.concatenate([t.day for t in tables])
    if len(rating) == 0:
        raise DataError("no ratings were read", path=source["path"])
    user_ids, user = dense(user_raw)
    item_ids, item = dense(item_raw)
    keys = pair_keys(item, user, len(user_ids))
    order = np.argsort(keys, kind="stable")
    rep = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(rep):
        row_of = np.cumsum([0] + [len(t.user) for t in tables])
        keep = np.ones(len(keys), bool)
        for r in order[rep + 1]:
            t = int(np.searchsorted(row_of, r, side="right") - 1)
            table = tables[t]
            bad.add(DataError(
                f"duplicate (user, movie): user {user_raw[r]} rates item {item_raw[r]} again",
                path=table.source.label, line=int(table.line[r - row_of[t]]),
                expected="one rating per user and item"))
            keep[r] = False
        user, item, rating, day = user[keep], item[keep], rating[keep], day[keep]
        given = given[keep] if given is not None else None
    order = user_day_order(user, day)
    user, item, rating, day = user[order], item[order], rating[order], day[order]
    if given is not None:
        # The given test file is the qualifying set, kept in the file's order.
        position = np.empty(len(order), np.int64)
        position[order] = np.arange(len(order))
        qualifying_rows = position[np.flatnonzero(given)]
        given = given[order]
        split = given_split(user, day, given, seed, probe)
        protocol = {"name": "given", "seed": seed, "probe": probe}
    else:
        split = netflix_split(user, day, seed)
        qualifying_rows = qualifying_order(item, split)
        protocol = {"name": "netflix", "seed": seed}
    source = dict(source)
    source["files"] = {t.source.name: t.source.sha256 for t in tables}
    meta = {
        "name": name,
        "source": source,
        "rating_scale": {"min": scale[0], "max": scale[1], "step": scale[2]},
        "reference": dict(DEFAULT_REFERENCE),
        "protocol": protocol,
        "has_truth": True,
    }
    if titles:
        meta["source"]["titles"] = len(titles)
    n_rows = len(rating)
    columns = dict(user=user, item=item, rating=rating, day=day, split=split)
    del user, item, rating, day, split
    meta = finish(target, columns=columns,
                  user_ids=user_ids, item_ids=item_ids, qualifying_rows=qualifying_rows,
                  meta=meta, items_csv=items_table(item_ids, titles, genres or None),
                  overwrite=overwrite, extra={"given_test": given} if given is not None else None)
    seconds = time.perf_counter() - t0
    c = meta["counts"]
    return {
        "name": name, "path": str(target), "ratings": int(n_rows), "users": c["users"],
        "items": c["items"], "train": c["train"], "probe": c["probe"],
        "qualifying": c["qualifying"], "bad_lines": bad.report(), "seconds": seconds,
        "fingerprint": meta["fingerprint"],
    }


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
