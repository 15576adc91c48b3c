"""The vectorised parsers against slow, obvious twins."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from prize.data import _parse
from prize.data._parse import (
    RATINGS,
    BadLines,
    Piece,
    SourceFile,
    civil_to_days,
    parse_blocks,
    valid_date,
)
from prize.errors import DataError


def test_civil_to_days_matches_datetime():
    rng = np.random.default_rng(0)
    ords = rng.integers(dt.date(1800, 1, 1).toordinal(), dt.date(2200, 12, 31).toordinal(), 5000)
    dates = [dt.date.fromordinal(int(o)) for o in ords]
    y, m, d = (np.array([getattr(x, a) for x in dates]) for a in ("year", "month", "day"))
    epoch = dt.date(1970, 1, 1).toordinal()
    assert (civil_to_days(y, m, d) == ords - epoch).all()


@pytest.mark.parametrize("ymd,ok", [((2004, 2, 29), True), ((2005, 2, 29), False),
                                    ((2000, 2, 29), True), ((1900, 2, 29), False),
                                    ((2005, 4, 31), False), ((2005, 12, 31), True),
                                    ((2005, 0, 1), False), ((2005, 13, 1), False),
                                    ((2005, 1, 0), False)])
def test_valid_date(ymd, ok):
    assert bool(valid_date(*(np.array([v]) for v in ymd))[0]) is ok


def reference_parse(text: str):
    """The slow twin: one line at a time, plain Python."""
    movie, rows = None, []
    for line in text.splitlines():
        if line.endswith(":"):
            movie = int(line[:-1])
            continue
        c, r, date = line.split(",")
        day = (dt.date.fromisoformat(date) - dt.date(1970, 1, 1)).days
        rows.append((movie, int(c), int(r), day))
    return rows


def random_blocks(rng, n_movies=30) -> str:
    out = []
    for m in rng.choice(10_000, n_movies, replace=False) + 1:
        out.append(f"{m}:")
        for _ in range(rng.integers(1, 200)):
            d = dt.date(1999, 12, 31) + dt.timedelta(days=int(rng.integers(0, 2200)))
            out.append(f"{rng.integers(1, 2_649_430)},{rng.integers(1, 6)},{d.isoformat()}")
    return "\n".join(out) + "\n"


def as_rows(res):
    return list(zip(res.movie.tolist(), res.columns["customer"].tolist(),
                    res.columns["rating"].tolist(), res.columns["day"].tolist(), strict=True))


@pytest.mark.parametrize("batch", [64, 1 << 26])
def test_block_parser_matches_reference(batch, monkeypatch):
    monkeypatch.setattr(_parse, "BATCH_BYTES", batch)
    rng = np.random.default_rng(1)
    text = random_blocks(rng)
    src = SourceFile("combined_data_1.txt", "combined_data_1.txt")
    res = parse_blocks(_parse.chunk_file(src, text.encode()), RATINGS, BadLines())
    assert as_rows(res) == reference_parse(text)


def test_skip_bad_lines_keeps_exactly_the_good_ones():
    rng = np.random.default_rng(2)
    lines = random_blocks(rng, 5).splitlines()
    bad_lines = {3: "12,3", 7: "12,9,2005-01-01", 9: "x,3,2005-01-01", 12: "12,3,2005-02-31"}
    for k, v in bad_lines.items():
        if not lines[k].endswith(":"):
            lines[k] = v
    text = "\n".join(lines) + "\n"
    good = "\n".join(l for k, l in enumerate(lines)
                     if k not in bad_lines or lines[k].endswith(":")) + "\n"
    bad = BadLines(skip=True)
    res = parse_blocks([Piece(SourceFile("f", "f"), text.encode())], RATINGS, bad,
                       keep_lines=True)
    assert as_rows(res) == reference_parse(good)
    assert bad.total == sum(1 for k in bad_lines if k < len(lines))
    # Line numbers point at the original lines.
    kept = [k + 1 for k, l in enumerate(lines) if not l.endswith(":") and k not in bad_lines]
    assert res.lines.tolist() == kept


def test_crlf_and_missing_final_newline():
    text = b"1:\r\n5,3,2005-01-01\r\n6,4,2005-01-02"
    res = parse_blocks([Piece(SourceFile("f", "f"), text)], RATINGS, BadLines())
    assert as_rows(res) == [(1, 5, 3, 12784), (1, 6, 4, 12785)]


def test_first_error_raises_with_location():
    text = b"1:\n5,3,2005-01-01\n6,3,2005-01-01,1\n"
    with pytest.raises(DataError) as e:
        parse_blocks([Piece(SourceFile("mv_0000001.txt", "dir/mv_0000001.txt"), text)],
                     RATINGS, BadLines())
    assert e.value.path == "dir/mv_0000001.txt" and e.value.line == 3
    assert e.value.text == "6,3,2005-01-01,1"
