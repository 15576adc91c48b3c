"""Submissions in the official Netflix Prize format, and their checker.

The format follows ``qualifying.txt``: a ``MovieID:`` line opens each movie's block, then
one predicted rating per line, for that block's pairs in the file's order. The checker
names the first problem with its line number, then scores the file like the Prize's quiz
feedback where the truth is known.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

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
    values = np.char.mod("%.4f", np.asarray(pred, np.float64))
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


def read_submission(ds: Dataset, path: Path) -> np.ndarray:
    """The predictions of a submission file, in qualifying order; DataError at the first
    problem (header, count per movie, value), with its line number."""
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
    header_line = np.cumsum(np.r_[0, counts[:-1] + 1]) if len(counts) else np.zeros(0, int)
    expected_lines = int(counts.sum() + len(counts))

    def text(i):
        return data[starts[i]:ends[i]].decode("latin-1")

    is_colon = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == ord(":"))
    expected_header = np.zeros(max(n_lines, expected_lines), bool)
    expected_header[header_line] = True
    n = min(n_lines, expected_lines)
    # The first line whose kind (header or prediction) or header id is not as expected.
    problems = np.flatnonzero(is_colon[:n] != expected_header[:n]).tolist()[:1]
    hdr = header_line[header_line < n]
    hdr = hdr[is_colon[hdr]]
    wrong = [int(i) for i in hdr if text(i) != f"{movies[np.searchsorted(header_line, i)]}:"]
    problems += wrong[:1]
    if problems:
        i = min(problems)
        k = int(np.searchsorted(header_line, i, side="right") - 1)  # block the line falls in
        if i in wrong:
            raise DataError("wrong movie header", path=label, line=i + 1, text=text(i),
                            expected=f"'{movies[k]}:' (block {k + 1} of the qualifying order)")
        if expected_header[i]:
            raise DataError(f"movie {movies[k - 1]}: more than {counts[k - 1]} predictions, or "
                            "the next header is missing", path=label, line=i + 1, text=text(i),
                            expected=f"'{movies[k]}:'")
        raise DataError(f"movie {movies[k]}: fewer than {counts[k]} predictions", path=label,
                        line=i + 1, text=text(i), expected="a predicted rating")
    if n_lines < expected_lines:
        k = int(np.searchsorted(header_line, n_lines, side="right") - 1)
        raise DataError(f"file ends early (truncated?): {expected_lines - n_lines} more lines "
                        f"expected, movie {movies[k]}'s block is incomplete", path=label,
                        line=n_lines, expected=f"{expected_lines} lines")
    if n_lines > expected_lines:
        raise DataError("extra lines after the last movie's predictions", path=label,
                        line=expected_lines + 1, text=text(expected_lines),
                        expected=f"{expected_lines} lines")
    pred_idx = np.flatnonzero(~expected_header[:n_lines])
    body = b"".join(data[s:e + 1] for s, e in zip(starts[pred_idx], ends[pred_idx], strict=True))
    values = pd.read_csv(io.BytesIO(body), header=None, names=["v"], dtype=str,
                         na_filter=False, skip_blank_lines=False)["v"]
    num = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    lo, hi = ds.scale
    bad = np.flatnonzero(~np.isfinite(num) | (num < lo) | (num > hi))
    if len(bad):
        i = int(pred_idx[bad[0]])
        problem = "not a number" if not np.isfinite(num[bad[0]]) else "prediction out of range"
        raise DataError(problem, path=label, line=i + 1, text=text(i),
                        expected=f"a number from {lo:g} to {hi:g}")
    return num.astype(np.float32)


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
