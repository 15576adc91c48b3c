"""Submissions in the official Netflix Prize format, and their checker.

The format follows ``qualifying.txt``: a ``MovieID:`` line opens each movie's block, then
one predicted rating per line, for that block's pairs in the file's order. The checker
names the first problem with its line number, then scores the file like the Prize's quiz
feedback where the truth is known.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from prize._atomic import write_bytes, write_json
from prize.data._parse import _lines
from prize.data.dataset import Dataset
from prize.errors import DataError
from prize.scoring import score_qualifying


def blocks(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(raw movie id of each block, number of pairs in it), in qualifying order."""
    movie = np.asarray(ds.item)[ds.rows_of("qualifying")]
    if len(movie) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, movie[1:] != movie[:-1]])
    counts = np.diff(np.r_[starts, len(movie)])
    return ds.ids("item")[movie[starts]], counts


def format_submission(ds: Dataset, pred: np.ndarray) -> bytes:
    movies, counts = blocks(ds)
    if len(pred) != int(counts.sum()):
        raise ValueError(f"{len(pred)} predictions for {int(counts.sum())} qualifying pairs")
    pred = np.asarray(pred, np.float64)
    lo, hi = ds.scale
    bad = np.flatnonzero(~np.isfinite(pred) | (pred < lo) | (pred > hi))
    if len(bad):
        raise DataError(f"{len(bad):,} predictions are not numbers from {lo:g} to {hi:g} "
                        f"(the first, pair {bad[0] + 1} in qualifying order: {pred[bad[0]]})",
                        expected=f"finite predictions on the rating scale {lo:g}..{hi:g}",
                        fix="Retrain the predictor; a submission is never written from "
                            "damaged predictions")
    values = np.char.mod("%.4f", pred)
    out = []
    pos = 0
    for m, c in zip(movies.tolist(), counts.tolist(), strict=True):
        out.append(f"{m}:")
        out.extend(values[pos:pos + c].tolist())
        pos += c
    return ("\n".join(out) + "\n").encode()


def write_submission(ds: Dataset, pred: np.ndarray, out: Path, predictors: list[str]) -> dict:
    data = format_submission(ds, pred)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(out, data)
    manifest = {
        "file": out.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "predictors": predictors,
        "dataset": ds.name,
        "dataset_fingerprint": ds.fingerprint,
        "pairs": int(len(pred)),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(out.with_name(out.name + ".json"), manifest)
    return manifest


_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def read_submission(ds: Dataset, path: Path) -> np.ndarray:
    """The predictions of a submission file, in qualifying order; DataError at the first
    problem (header, count per movie, value), with its line number and text.

    Line ``i`` of a valid file is fixed by the qualifying order: block k's ``MovieID:``
    header, then exactly its pairs' predictions, each a plain decimal number on the rating
    scale and nothing else on the line. The first line that is not what its position
    requires is reported, whatever it is.
    """
    label = str(path)
    data = Path(path).read_bytes()
    if not data.strip():
        raise DataError("empty file", path=label, expected="MovieID: lines and predictions")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, np.uint8)
    starts, ends = _lines(buf)
    n_lines = len(starts)
    movies, counts = blocks(ds)
    # Where each expected header line falls: block k's header sits after all earlier lines.
    header_line = np.cumsum(np.r_[0, counts[:-1] + 1]).astype(np.int64) if len(counts) \
        else np.zeros(0, np.int64)
    expected_lines = int(counts.sum() + len(counts))
    n = min(n_lines, expected_lines)

    def text(i):
        return data[starts[i]:ends[i]].decode("latin-1")

    def block_of(i):  # the block whose header is at or before line i
        return int(np.searchsorted(header_line, i, side="right") - 1)

    expected_header = np.zeros(max(n_lines, expected_lines), bool)
    expected_header[header_line] = True
    lo, hi = ds.scale
    # Headers: one per movie, checked one by one.
    first_bad_header = None
    for k, i in enumerate(header_line.tolist()):
        if i >= n:
            break
        if data[starts[i]:ends[i]] != f"{movies[k]}:".encode():
            first_bad_header = i
            break
    # Predictions: only [0-9.eE+-] on the line, then parsed; the first failure found below.
    pred_idx = np.flatnonzero(~expected_header[:n])
    allowed = np.zeros(256, bool)
    allowed[list(b"0123456789.eE+-")] = True
    bad_char = ~allowed[buf] & (buf != ord("\n"))
    owner = np.cumsum(np.r_[0, buf[:-1] == ord("\n")])  # line index of every byte
    line_bad = np.zeros(n_lines, bool)
    line_bad[owner[bad_char]] = True
    line_bad |= ends == starts  # empty lines
    values = np.full(len(pred_idx), np.nan)
    ok_idx = pred_idx[~line_bad[pred_idx]]
    try:
        if len(ok_idx):
            raw = np.array([data[starts[i]:ends[i]] for i in ok_idx.tolist()])
            values[~line_bad[pred_idx]] = raw.astype(np.float64)
    except ValueError:  # a line like '1.2.3': find which, one by one (rare)
        for j, i in zip(np.flatnonzero(~line_bad[pred_idx]).tolist(), ok_idx.tolist(),
                        strict=True):
            raw = data[starts[i]:ends[i]]
            values[j] = float(raw) if _NUMBER.fullmatch(raw) else np.nan
    bad_value = ~np.isfinite(values) | (values < lo) | (values > hi)
    candidates = []
    if first_bad_header is not None:
        candidates.append(first_bad_header)
    if bad_value.any():
        candidates.append(int(pred_idx[np.argmax(bad_value)]))
    if candidates:
        i = min(candidates)
        k = block_of(i)
        t = text(i)
        if expected_header[i]:
            if t.endswith(":"):
                raise DataError("wrong movie header", path=label, line=i + 1, text=t,
                                expected=f"'{movies[k]}:' (block {k + 1} of the qualifying "
                                         "order)")
            if k == 0 or not _NUMBER.fullmatch(t.strip().encode()):
                raise DataError("not a movie header", path=label, line=i + 1, text=t,
                                expected=f"'{movies[k]}:' (block {k + 1} of the qualifying "
                                         "order)")
            raise DataError(f"movie {movies[k - 1]}: more than {counts[k - 1]} predictions, or "
                            "the next header is missing", path=label, line=i + 1, text=t,
                            expected=f"'{movies[k]}:'")
        if t.endswith(":"):
            raise DataError(f"movie {movies[k]}: fewer than {counts[k]} predictions", path=label,
                            line=i + 1, text=t, expected="a predicted rating")
        v = values[np.searchsorted(pred_idx, i)]
        problem = ("prediction out of range" if np.isfinite(v) else "not a number")
        raise DataError(f"movie {movies[k]}: {problem}", path=label, line=i + 1, text=t,
                        expected=f"a number from {lo:g} to {hi:g}, alone on its line")
    if n_lines < expected_lines:
        k = block_of(n_lines)
        raise DataError(f"file ends early (truncated?): {expected_lines - n_lines} more lines "
                        f"expected, movie {movies[k]}'s block is incomplete", path=label,
                        line=n_lines, expected=f"{expected_lines} lines")
    if n_lines > expected_lines:
        raise DataError("extra lines after the last movie's predictions", path=label,
                        line=expected_lines + 1, text=text(expected_lines),
                        expected=f"{expected_lines} lines")
    return values.astype(np.float32)


def check_submission(ds: Dataset, path: Path, reveal: bool = False) -> dict:
    pred = read_submission(ds, path)
    scores = score_qualifying(ds, pred)
    report = {"file": str(path), "dataset": ds.name, "pairs": int(len(pred)), "valid": True,
              "quiz_rmse": scores["quiz"]}
    if reveal:
        report["test_rmse"] = scores["test"]
    manifest = Path(str(path) + ".json")
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        report["manifest_fingerprint_matches"] = m.get("dataset_fingerprint") == ds.fingerprint
    return report
