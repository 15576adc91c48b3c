"""The importer of any delimited one-rating-per-line file (CSV, TSV, ...).

Such a file has no probe or qualifying set of its own, so the import applies the Netflix
protocol (:mod:`prize.data.split`) straight away.
"""

from __future__ import annotations

import time

import numpy as np

from prize.data import _parse
from prize.data._parse import BadLines, TableFormat
from prize.data.build import check_free
from prize.data.tabular import build_tables
from prize.errors import DataError


def import_csv(path, target, *, name: str, sep: str = ",", columns: str = "user,item,rating,time",
               header: bool = False, time_format: str | None = None,
               scale: tuple[float, float, float] = (1.0, 5.0, 1.0), seed: int = 0,
               skip_bad_lines: bool = False, overwrite: bool = False,
               duplicates: str = "last") -> dict:
    """Import any delimited ratings file; ``columns`` names its fields in order
    (``user``, ``item``, ``rating``, optional ``time``; ``_`` skips a field).
    ``duplicates``: of a pair rated more than once, the "last" (default) or "first" rating
    (by time, then file order) is kept, the others dropped and counted; "error" refuses
    the repeats as bad lines."""
    check_free(target, overwrite)
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
    return build_tables([table], target, name=name, seed=seed, scale=scale, given=None,
                        titles={}, genres={}, bad=bad,
                        source={"format": "csv", "path": str(path), "sep": sep,
                                "columns": columns},
                        t0=t0, overwrite=overwrite, duplicates=duplicates)
