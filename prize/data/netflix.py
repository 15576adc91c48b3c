"""Importer for the Netflix Prize files, original and re-packaged layouts.

Original layout (the 2006 download): ``training_set/mv_0000001.txt`` … (first line
``MovieID:``, then ``CustomerID,Rating,YYYY-MM-DD``), ``probe.txt`` (``MovieID:`` lines,
then one ``CustomerID`` per line), ``qualifying.txt`` (``MovieID:``, then
``CustomerID,YYYY-MM-DD``) and ``movie_titles.txt`` (latin-1 ``MovieID,Year,Title``; year
may be ``NULL``; titles contain commas, so only the first two commas split).
Re-packaged layout: ``combined_data_1.txt`` … ``combined_data_4.txt`` hold every movie
block of the training set one after another, with ``movie_titles.csv``.

The probe set lies inside the training set: probe pairs are looked up there, take their
ratings from there, and are marked PROBE instead of TRAIN. ``qualifying_truth.txt`` (written
by ``prize data synth``) gives the truth of qualifying pairs, with their quiz/test set.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from prize.data import _parse
from prize.data._parse import PROBE, QUALIFYING, RATINGS, TRUTH, BadLines, Piece, SourceFile
from prize.data.build import (
    SPLIT_CODES,
    check_free,
    dense,
    finish,
    items_table,
    lookup,
    pair_keys,
    release_memory,
)
from prize.data.dataset import CINEMATCH, synthetic_reference
from prize.errors import DataError

_MV = re.compile(r"(?:^|/)mv_(\d+)\.txt$")
_COMBINED = re.compile(r"(?:^|/)combined_data_(\d+)\.txt$")


def _find(files: list[SourceFile], basename: str) -> SourceFile | None:
    hits = [f for f in files if f.basename == basename]
    return hits[0] if hits else None


def _explicit(path) -> SourceFile | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", path=str(p), fix="Check the path given on the command line")
    return SourceFile(p.name, str(p), _path=p)


def parse_titles(src: SourceFile, bad: BadLines) -> dict[int, tuple[int | None, str]]:
    """``MovieID,YearOfRelease,Title`` (latin-1), split on the first two commas only.

    17,770 short lines: a plain loop is clearer than any vectorised split here.
    """
    text = src.read().decode("latin-1")
    if not text.strip():
        raise DataError("empty file", path=src.label, expected="MovieID,YearOfRelease,Title lines")
    titles = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(",", 2)
        if len(parts) != 3:
            bad.add(DataError(f"wrong number of fields: {len(parts)}", path=src.label, line=n,
                              text=line, expected="MovieID,YearOfRelease,Title"))
            continue
        mid, year, title = parts
        if not mid.isdigit() or not (year.isdigit() or year == "NULL"):
            bad.add(DataError("malformed title line", path=src.label, line=n, text=line,
                              expected="MovieID,YearOfRelease,Title with a numeric id and year "
                                       "(or NULL)"))
            continue
        titles[int(mid)] = (None if year == "NULL" else int(year), title)
    return titles


def _second_header(data: bytes) -> tuple[int, str] | None:
    """(line, text) of a header line after the first line of a movie file, or None."""
    first_end = data.find(b"\n")
    if first_end < 0:
        return None
    pos = data.find(b":\n", first_end + 1)
    while pos >= 0:
        start = data.rfind(b"\n", 0, pos) + 1
        if start > first_end:
            text = data[start:pos + 1].decode("latin-1").rstrip("\r")
            return data.count(b"\n", 0, start) + 1, text
        pos = data.find(b":\n", pos + 1)
    if data.endswith(b":") and data.rfind(b"\n") >= first_end:  # an unterminated last line
        start = data.rfind(b"\n") + 1
        return data.count(b"\n", 0, start) + 1, data[start:].decode("latin-1")
    return None


def _training_pieces(mv: list[tuple[int, SourceFile]], combined: list[SourceFile], bad: BadLines):
    """Movie files one by one (read lazily), or the combined files cut into chunks."""
    for number, src in mv:
        data = src.read()
        first = data[: data.find(b"\n")].strip() if b"\n" in data else data.strip()
        if first.endswith(b":") and first != f"{number}:".encode():
            bad.add(DataError(f"the header does not match the file name (movie {number})",
                              path=src.label, line=1, text=first.decode("latin-1"),
                              expected=f"'{number}:'"))
            continue
        stray = _second_header(data) if first.endswith(b":") else None
        if stray is not None:
            line, text = stray
            bad.add(DataError(f"a second MovieID header inside the file of movie {number} "
                              "(the file is skipped)", path=src.label, line=line, text=text,
                              expected="one 'MovieID:' line, the first, per mv_*.txt file"))
            continue
        yield Piece(src, data)
    for src in combined:
        yield from _parse.chunk_file(src, src.read())


def import_netflix(
    path,
    target,
    *,
    name: str,
    probe=None,
    qualifying=None,
    titles=None,
    truth=None,
    skip_bad_lines: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Import Netflix Prize files into a dataset folder; return the import report."""
    check_free(target, overwrite)
    t0 = time.perf_counter()
    bad = BadLines(skip=skip_bad_lines)
    files = _parse.list_source(path)
    mv = sorted(
        ((int(m.group(1)), f) for f in files if (m := _MV.search(f.name))), key=lambda t: t[0]
    )
    combined = sorted((f for f in files if _COMBINED.search(f.name)), key=lambda f: f.name)
    if not mv and not combined:
        raise DataError(
            "no Netflix training files found", path=str(path),
            expected="training_set/mv_*.txt or combined_data_*.txt",
            fix="Point at the folder (or .tar) that holds the Netflix Prize files",
        )
    if mv and combined:
        raise DataError("both mv_*.txt and combined_data_*.txt files found", path=str(path),
                        fix="Keep one layout in the folder, not both")
    probe_src = _explicit(probe) or _find(files, "probe.txt")
    qual_src = _explicit(qualifying) or _find(files, "qualifying.txt")
    titles_src = _explicit(titles) or _find(files, "movie_titles.txt") or _find(
        files, "movie_titles.csv")
    truth_src = _explicit(truth) or _find(files, "qualifying_truth.txt")
    synth_src = _find(files, "synth.json")

    # Training ratings.
    bar = None
    if progress:
        from prize.progress import bar as progress_bar

        total = sum((f._path.stat().st_size if f._path else f._member.size)
                    for f in [s for _, s in mv] + combined)
        bar = progress_bar(total, "parse training", "bytes")
    train = _parse.parse_blocks(_training_pieces(mv, combined, bad), RATINGS, bad,
                                progress=bar)
    if bar is not None:
        bar.close()
    n_lines = len(train.movie)
    if n_lines == 0:
        raise DataError("no ratings in the training files", path=str(path),
                        fix="Check that the files are complete")
    # Take the columns out of the parse result one by one, so each is freed once mapped.
    user_ids, user = dense(train.columns.pop("customer"))
    item_ids, item = dense(train.movie)
    train.movie = None
    rating = train.columns.pop("rating").astype(np.float32)
    day = train.columns.pop("day")
    del train
    release_memory()
    n_users = len(user_ids)
    keys = pair_keys(item, user, n_users)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    del keys
    rep = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if len(rep):
        row = order[rep[0] + 1]
        _duplicate_error(mv, combined, int(item_ids[item[row]]), int(user_ids[user[row]]), bad)
        # With skip_bad_lines: keep the first rating of each duplicated pair.
        drop = np.zeros(len(user), bool)
        drop[order[rep + 1]] = True
        for _ in range(len(rep) - 1):
            bad.counts["duplicate (user, movie)"] += 1
        keep = ~drop
        user, item, rating, day = user[keep], item[keep], rating[keep], day[keep]
        keys = pair_keys(item, user, n_users)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
    split = np.full(len(user), SPLIT_CODES["train"], np.uint8)

    title_map = parse_titles(titles_src, bad) if titles_src is not None else None
    known_movies = (np.array(sorted(title_map), np.int64) if title_map else item_ids)

    def resolve(result, src, what):
        """Dense (user, item) of each pair; drop pairs of movies not imported."""
        raw_movie = result.movie.astype(np.int64)
        item_d = lookup(item_ids, raw_movie)
        imported = item_d >= 0
        unknown_movie = ~imported & (lookup(known_movies, raw_movie) < 0)
        for j in np.flatnonzero(unknown_movie):
            label, line = result.locate(j)
            bad.add(DataError(f"unknown movie {raw_movie[j]} in the {what} set", path=label,
                              line=line, expected="a movie of movie_titles / the training set"))
        keep = imported
        user_d = lookup(user_ids, result.columns["customer"])
        unknown_user = keep & (user_d < 0)
        for j in np.flatnonzero(unknown_user):
            label, line = result.locate(j)
            bad.add(DataError(
                f"unknown customer {result.columns['customer'][j]} in the {what} set",
                path=label, line=line, expected="a customer who has training ratings",
                fix="Import all movie files, or pass --skip-bad-lines to drop such pairs"))
        keep = keep & (user_d >= 0)
        return keep, item_d, user_d, int(np.count_nonzero(~imported & ~unknown_movie))

    report_dropped = {}
    n_probe = 0
    if probe_src is not None:
        pr = _parse.parse_blocks([Piece(probe_src, probe_src.read())], PROBE, bad,
                                 keep_lines=True)
        keep, item_d, user_d, dropped = resolve(pr, probe_src, "probe")
        report_dropped["probe"] = dropped
        k = pair_keys(item_d, user_d, n_users)
        pos = np.searchsorted(sorted_keys, k)
        pos = np.minimum(pos, len(sorted_keys) - 1)
        hit = keep & (sorted_keys[pos] == k)
        for j in np.flatnonzero(keep & ~hit):
            label, line = pr.locate(j)
            bad.add(DataError(
                f"probe pair (movie {pr.movie[j]}, customer {pr.columns['customer'][j]}) has no "
                "training rating", path=label, line=line,
                expected="probe pairs inside the training set",
                fix="Check that probe.txt belongs to these training files"))
        rows = order[pos[hit]]
        if len(np.unique(rows)) != len(rows):
            _, first = np.unique(rows, return_index=True)
            j = np.setdiff1d(np.arange(len(rows)), first)[0]
            label, line = pr.locate(np.flatnonzero(hit)[j])
            bad.add(DataError("duplicate probe pair", path=label, line=line,
                              expected="each (movie, customer) once"))
        split[rows] = SPLIT_CODES["probe"]
        n_probe = int(np.count_nonzero(split == SPLIT_CODES["probe"]))

    # Qualifying pairs: rows without ratings (or with their truth), in file order.
    q_user = q_item = q_day = np.zeros(0, np.int64)
    q_rating = np.zeros(0, np.float32)
    q_split = np.zeros(0, np.uint8)
    has_truth = False
    if qual_src is not None:
        qr = _parse.parse_blocks([Piece(qual_src, qual_src.read())], QUALIFYING, bad,
                                 keep_lines=True)
        keep, item_d, user_d, dropped = resolve(qr, qual_src, "qualifying")
        report_dropped["qualifying"] = dropped
        k = pair_keys(item_d, user_d, n_users)
        pos = np.minimum(np.searchsorted(sorted_keys, k), len(sorted_keys) - 1)
        in_train = keep & (sorted_keys[pos] == k)
        for j in np.flatnonzero(in_train):
            label, line = qr.locate(j)
            bad.add(DataError(
                f"duplicate (user, movie): qualifying pair (movie {qr.movie[j]}, customer "
                f"{qr.columns['customer'][j]}) also has a training rating", path=label, line=line,
                expected="qualifying pairs outside the training set"))
        keep &= ~in_train
        q_rating = np.full(len(keep), np.nan, np.float32)
        q_split = np.full(len(keep), SPLIT_CODES["qualifying"], np.uint8)
        if truth_src is not None:
            has_truth = True
            tr = _parse.parse_blocks([Piece(truth_src, truth_src.read())], TRUTH, bad,
                                     keep_lines=True)
            same = (len(tr.movie) == len(qr.movie))
            if same:
                diff = ((tr.movie != qr.movie) | (tr.columns["customer"] != qr.columns["customer"])
                        | (tr.columns["day"] != qr.columns["day"]))
                same = not diff.any()
            if not same:
                j = int(np.argmax(diff)) if len(tr.movie) == len(qr.movie) else min(
                    len(tr.movie), len(qr.movie))
                label, line = tr.locate(min(j, len(tr.movie) - 1))
                raise DataError("the truth file does not follow qualifying.txt pair by pair",
                                path=label, line=line,
                                expected="the same movies, customers and dates in the same order",
                                fix="Regenerate it with `prize data synth`, or leave it out")
            q_rating = tr.columns["rating"].astype(np.float32)
            q_split = np.where(tr.columns["set"] == 0, SPLIT_CODES["quiz"],
                               SPLIT_CODES["test"]).astype(np.uint8)
        qk = k[keep]
        if len(np.unique(qk)) != len(qk):
            first = np.unique(qk, return_index=True)[1]
            j = np.flatnonzero(keep)[np.setdiff1d(np.arange(len(qk)), first)[0]]
            label, line = qr.locate(j)
            bad.add(DataError("duplicate (user, movie) in the qualifying set", path=label,
                              line=line, expected="each (movie, customer) once"))
            keep &= _first_occurrence(k, keep)
        q_user, q_item, q_day = user_d[keep], item_d[keep], qr.columns["day"][keep]
        q_rating, q_split = q_rating[keep], q_split[keep]

    del order, sorted_keys  # the pair index is no longer needed: free it before the sort
    release_memory()
    n_train_rows = len(user)
    user = np.concatenate([user, q_user.astype(np.int32)])
    item = np.concatenate([item, q_item.astype(np.int32)])
    rating = np.concatenate([rating, q_rating])
    day = np.concatenate([day, q_day.astype(np.int32)])
    split = np.concatenate([split, q_split])
    qualifying_rows = np.arange(n_train_rows, len(user))

    synth = json.loads(synth_src.read()) if synth_src is not None else None
    sources = [s for s in [*(f for _, f in mv), *combined, probe_src, qual_src, titles_src,
                           truth_src, synth_src] if s is not None]
    meta = {
        "name": name,
        "source": {
            "format": "netflix-combined" if combined else "netflix",
            "path": str(path),
            "files": {s.name: s.sha256 for s in sources},
        },
        "rating_scale": {"min": 1.0, "max": 5.0, "step": 1.0},
        "reference": synthetic_reference(synth.get("law")) if synth else dict(CINEMATCH),
        "protocol": "netflix-files",
        "has_truth": has_truth,
    }
    if synth:
        meta["synthetic"] = {k: v for k, v in synth.items() if k != "params"}
        meta["oracle_rmse"] = synth.get("oracle_rmse")
    columns = dict(user=user, item=item, rating=rating, day=day, split=split)
    del user, item, rating, day, split  # finish() frees each unsorted column as it goes
    meta = finish(
        target, columns=columns,
        user_ids=user_ids, item_ids=item_ids, qualifying_rows=qualifying_rows, meta=meta,
        items_csv=items_table(item_ids, title_map), overwrite=overwrite,
    )
    seconds = time.perf_counter() - t0
    return {
        "name": name,
        "path": str(target),
        "ratings": int(n_train_rows),
        "movies": int(len(item_ids)),
        "users": int(n_users),
        "probe": n_probe,
        "qualifying": int(len(qualifying_rows)),
        "dropped": report_dropped,
        "titles": len(title_map) if title_map else 0,
        "bad_lines": bad.report(),
        "lines_per_second": n_lines / seconds,
        "seconds": seconds,
        "fingerprint": meta["fingerprint"],
    }


def _first_occurrence(keys: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.zeros(len(keys), bool)
    idx = np.flatnonzero(keep)
    _, first = np.unique(keys[idx], return_index=True)
    out[idx[first]] = True
    return out


def _duplicate_error(mv, combined, movie: int, customer: int, bad: BadLines) -> None:
    """Name the file and line of the second rating of a repeated (movie, customer) pair.

    Only runs on bad input, so it may rescan the movie's file.
    """
    srcs = [f for n, f in mv if n == movie] or combined
    needle = re.compile(rb"^" + str(customer).encode() + rb",", re.M)
    for src in srcs:
        data = src.read()
        if src in combined:
            start = re.search(rb"^" + str(movie).encode() + rb":$", data, re.M)
            if start is None:
                continue
            nxt = re.compile(rb"^\d+:$", re.M).search(data, start.end())
            hits = list(needle.finditer(data, start.end(), nxt.start() if nxt else len(data)))
        else:
            hits = list(needle.finditer(data))
        if len(hits) >= 2:
            line = data.count(b"\n", 0, hits[1].start()) + 1
            end = data.find(b"\n", hits[1].start())
            text = data[hits[1].start(): end if end >= 0 else None].decode("latin-1")
            bad.add(DataError(f"duplicate (user, movie): customer {customer} rates movie "
                              f"{movie} twice", path=src.label, line=line, text=text,
                              expected="one rating per customer and movie"))
            return
    bad.add(DataError(f"duplicate (user, movie): customer {customer} rates movie {movie} twice",
                      expected="one rating per customer and movie"))
