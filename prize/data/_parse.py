"""Vectorised parsers for the rating file formats, with exact line numbers on bad input.

The fast path never loops over lines in Python: header lines of the Netflix "movie block"
format are found with numpy, dates are split into three integer columns by turning '-'
into ',', and the data lines go through pandas' C parser in batches of about 64 MB. Only
when a batch fails (a parser error, a column that is not all integers, a value out of
range) does a slow line-by-line validator run over that batch, to name the first bad line
exactly, or, with ``skip_bad_lines``, to drop and count every bad line.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import lzma
import math
import os
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prize.errors import DataError

BATCH_BYTES = 64 << 20
#: The largest user or movie id accepted in the Netflix format (int32; Netflix's own go up
#: to 2,649,429 and 17,770).
MAX_ID = 2**31 - 1
_NL = 10
_COLON = ord(":")

# --------------------------------------------------------------------------- sources


@dataclass
class SourceFile:
    """One input file, from a folder or from inside a tar archive."""

    name: str  # path inside the source (e.g. training_set/mv_0000001.txt)
    label: str  # how error messages name it
    _path: Path | None = None
    _tar: tarfile.TarFile | None = None
    _member: tarfile.TarInfo | None = None
    sha256: str | None = None

    def read(self) -> bytes:
        try:
            if self._path is not None:
                data = self._path.read_bytes()
            else:
                f = self._tar.extractfile(self._member)
                data = f.read()
        except ARCHIVE_ERRORS as e:
            raise archive_error(self.label, e) from None
        self.sha256 = hashlib.sha256(data).hexdigest()
        return data

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]


#: What a truncated or corrupt .gz/.tar(.gz) raises while it is read (EOFError among them,
#: which click would turn into a bare "Aborted.").
ARCHIVE_ERRORS = (EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def archive_error(label: str, e: BaseException) -> DataError:
    return DataError(f"truncated or corrupt archive ({type(e).__name__}: {e})", path=label,
                     expected="a complete .gz / .tar / .tar.gz file",
                     fix="Download or copy the file again")


def decompress(data: bytes, label: str) -> bytes:
    """A .gz file's contents, or a DataError naming the file when it is cut short."""
    try:
        return gzip.decompress(data)
    except ARCHIVE_ERRORS as e:
        raise archive_error(label, e) from None


def list_source(path: str | os.PathLike) -> list[SourceFile]:
    """Every regular file of a folder, or of a .tar/.tar.gz archive.

    The Netflix Prize's own archive nests ``training_set.tar`` inside; nested tars are
    opened in turn, so the original download imports as it is.
    """
    path = Path(path)
    if path.is_dir():
        return [
            SourceFile(str(p.relative_to(path)).replace(os.sep, "/"), str(p), _path=p)
            for p in sorted(path.rglob("*"))
            if p.is_file()
        ]
    if path.is_file() and tarfile.is_tarfile(path):
        try:
            return _list_tar(tarfile.open(path), str(path))
        except ARCHIVE_ERRORS as e:
            raise archive_error(str(path), e) from None
    if path.is_file():
        return [SourceFile(path.name, str(path), _path=path)]
    raise DataError("no such file or folder", path=str(path),
                    fix="Give the folder (or .tar/.tar.gz) that holds the data files")


def _list_tar(tar: tarfile.TarFile, label: str) -> list[SourceFile]:
    out = []
    for m in tar.getmembers():
        if not m.isfile():
            continue
        if m.name.endswith(".tar"):
            inner = tarfile.open(fileobj=tar.extractfile(m))
            out.extend(_list_tar(inner, f"{label}:{m.name}"))
            continue
        out.append(SourceFile(m.name, f"{label}:{m.name}", _tar=tar, _member=m))
    return out


# ------------------------------------------------------------------------- bad lines


@dataclass
class BadLines:
    """Bad lines met with ``skip_bad_lines``: counted per problem, a few examples kept."""

    skip: bool = False
    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, err: DataError) -> None:
        if not self.skip:
            raise err
        self.counts[err.problem] += 1
        if len(self.examples) < 10:
            self.examples.append(str(err))

    def add_many(self, err: DataError, n: int) -> None:
        """``n`` bad lines of one kind at once, ``err`` the first of them (a file of a
        billion blank lines must not cost a billion error objects)."""
        if n <= 0:
            return
        self.add(err)
        self.counts[err.problem] += n - 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> dict:
        return {"total": self.total, "by_problem": dict(self.counts), "examples": self.examples}


# ---------------------------------------------------------------------------- dates

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_Y0, _Y1 = 1800, 2200  # the years a rating date may have


def _civil_to_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y = np.asarray(y, np.int64) - (np.asarray(m) <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    m = np.asarray(m, np.int64)
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + np.asarray(d, np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int32)


def _valid(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y, m, d = (np.asarray(a, np.int64) for a in (y, m, d))
    ok = (y >= _Y0) & (y <= _Y1) & (m >= 1) & (m <= 12) & (d >= 1)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = _DAYS_IN_MONTH[np.clip(m, 0, 12)] + ((m == 2) & leap)
    return ok & (d <= dim)


def _date_tables() -> tuple[np.ndarray, np.ndarray]:
    """Day number and validity of every (year, month, day-of-month) slot, 1800..2200:
    a rating date then costs one gather instead of a dozen array operations."""
    y, m, d = np.meshgrid(np.arange(_Y0, _Y1 + 1), np.arange(1, 13), np.arange(1, 32),
                          indexing="ij")
    y, m, d = y.ravel(), m.ravel(), d.ravel()
    return _civil_to_days(y, m, d), _valid(y, m, d)


_DAYS, _VALID = _date_tables()
#: The day numbers of the first and last date accepted (1800-01-01, 2200-12-31).
FIRST_DAY, LAST_DAY = int(_civil_to_days(_Y0, 1, 1)), int(_civil_to_days(_Y1, 12, 31))


def _slot(y, m, d) -> tuple[np.ndarray, np.ndarray]:
    y, m, d = (np.asarray(a, np.int64) for a in (y, m, d))
    inside = (y >= _Y0) & (y <= _Y1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    idx = np.where(inside, ((y - _Y0) * 12 + (m - 1)) * 31 + (d - 1), 0)
    return idx, inside


def civil_to_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid dates (years 1800..2200), by table lookup."""
    idx, inside = _slot(y, m, d)
    if not inside.all():
        return _civil_to_days(y, m, d)
    return _DAYS[idx]


def valid_date(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    idx, inside = _slot(y, m, d)
    return inside & _VALID[idx]


# ----------------------------------------------------------------- movie-block format


@dataclass(frozen=True)
class BlockFormat:
    """A Netflix file of ``MovieID:`` header lines, each followed by data lines."""

    name: str
    columns: tuple[str, ...]  # integer columns after '-' in dates became ','
    line_re: re.Pattern  # the whole data line, for the slow validator
    expected: str
    replace: tuple[tuple[bytes, bytes], ...] = ()
    require_rows: bool = False  # a header with no data lines after it is a truncated file

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Columns of the parsed result: year, month and day of month become ``day``."""
        cols = [c for c in self.columns if c not in ("year", "month", "mday")]
        return tuple(cols + ["day"]) if "year" in self.columns else tuple(cols)


_OUT_DTYPES = {"customer": np.int64, "rating": np.int16, "day": np.int32, "set": np.int8}
# (customer ids stay int32 when every batch's fit; the concatenation keeps the widest.)


_DATE = rb"(\d{4})-(\d{1,2})-(\d{1,2})"
RATINGS = BlockFormat(
    "ratings", ("customer", "rating", "year", "month", "mday"),
    re.compile(rb"(\d+),(\d+)," + _DATE), "CustomerID,Rating,YYYY-MM-DD", require_rows=True,
)
QUALIFYING = BlockFormat(
    "qualifying", ("customer", "year", "month", "mday"),
    re.compile(rb"(\d+)," + _DATE), "CustomerID,YYYY-MM-DD",
)
PROBE = BlockFormat("probe", ("customer",), re.compile(rb"(\d+)"), "CustomerID")
TRUTH = BlockFormat(
    "truth", ("customer", "year", "month", "mday", "rating", "set"),
    re.compile(rb"(\d+)," + _DATE + rb",(\d+),(quiz|test)"),
    "CustomerID,YYYY-MM-DD,Rating,quiz|test",
    replace=((b",quiz", b",0"), (b",test", b",1")),
)


@dataclass
class Piece:
    """A run of whole lines of one file: ``data`` starts at line ``first_line`` (1-based)."""

    source: SourceFile
    data: bytes
    first_line: int = 1
    movie: int | None = None  # movie id carried in from the previous chunk of the file
    last: bool = True  # the piece ends its file
    unterminated: bool = False  # the file's last line has no newline (cut short?)


def _lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ends = np.flatnonzero(buf == _NL)
    starts = np.empty_like(ends)
    starts[0:1] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends


def _normalise(data: bytes) -> bytes:
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return data


def _numbers(data: bytes, fmt: BlockFormat) -> dict[str, np.ndarray] | None:
    """pandas' C parser on data lines with dates split into three fields; None if not clean."""
    if not data:
        return {c: np.zeros(0, np.int64) for c in fmt.columns}
    data = data.replace(b"-", b",")
    for old, new in fmt.replace:
        data = data.replace(old, new)
    try:
        df = pd.read_csv(
            io.BytesIO(data), header=None, names=list(fmt.columns), engine="c",
            na_filter=False, quoting=csv.QUOTE_NONE, skip_blank_lines=False,
        )
    except (pd.errors.ParserError, ValueError):
        return None
    out = {}
    for c in fmt.columns:
        col = df[c]
        # uint64 (an id above 2^63) or a value past int32: the slow path names the line.
        if not pd.api.types.is_signed_integer_dtype(col.dtype):
            return None
        out[c] = col.to_numpy(np.int64)
        if len(out[c]) and (out[c].max() > MAX_ID or out[c].min() < 0):
            return None
    return out


def _check_line(text: bytes, fmt: BlockFormat, label: str, line: int,
                last: bool) -> DataError | None:
    """The slow, obvious validator of one data line: the first problem, or None."""
    s = text.decode("latin-1")
    expected = fmt.expected
    if not s.strip():
        return DataError("empty line", path=label, line=line, text=s, expected=expected)
    n_fields = s.count(",") + 1
    if n_fields != len(fmt.expected.split(",")):
        hint = " (the file may be truncated)" if last else ""
        return DataError(f"wrong number of fields: {n_fields}{hint}", path=label, line=line,
                         text=s, expected=expected)
    m = fmt.line_re.fullmatch(text)
    if m is None:
        fields = s.split(",")
        problem = "malformed line"
        for name, value in zip(fmt.expected.split(","), fields, strict=True):
            if name.startswith("YYYY") and not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
                problem = "malformed date"
                break
            if name in ("CustomerID", "Rating") and not value.isdigit():
                problem = f"malformed {name}"
                break
        if last:
            problem += " (the file may be truncated)"
        return DataError(problem, path=label, line=line, text=s, expected=expected)
    for name, value in zip(fmt.expected.split(","), s.split(","), strict=True):
        if name in ("CustomerID", "Rating") and int(value) > MAX_ID:
            return DataError(f"{name} {value} too large", path=label, line=line, text=s,
                             expected=f"{expected} with {name} at most {MAX_ID}")
    return None


@dataclass
class BlockResult:
    movie: np.ndarray
    columns: dict[str, np.ndarray]
    lines: np.ndarray | None  # 1-based line number of each row (when asked for)
    files: np.ndarray | None  # index into `sources` of each row (when asked for)
    sources: list[SourceFile]

    def locate(self, row: int) -> tuple[str, int | None]:
        if self.lines is None:
            return "?", None
        return self.sources[self.files[row]].label, int(self.lines[row])


def parse_blocks(
    pieces: Iterable[Piece], fmt: BlockFormat, bad: BadLines, *, keep_lines: bool = False,
    rating_range: tuple[int, int] = (1, 5), progress=None,
) -> BlockResult:
    """Parse movie-block pieces (batched to ~64 MB) into integer columns plus the movie id."""
    names = fmt.output_columns
    movies, cols, lines, files = [], {c: [] for c in names}, [], []
    sources: list[SourceFile] = []
    src_index: dict[int, int] = {}
    batch: list[Piece] = []
    size = 0

    def flush():
        nonlocal batch, size
        if not batch:
            return
        out = _parse_batch(batch, fmt, bad, rating_range)
        movies.append(out["movie"])
        for c in names:
            cols[c].append(out[c])
        if keep_lines:
            lines.append(out["line"])
            fi = np.empty(len(out["line"]), np.int32)
            for piece, (lo, hi) in zip(batch, out["piece_rows"], strict=True):
                fi[lo:hi] = src_index.setdefault(id(piece.source), len(src_index))
                if src_index[id(piece.source)] == len(sources):
                    sources.append(piece.source)
            files.append(fi)
        if progress is not None:
            progress.update(sum(len(p.data) for p in batch))
        batch, size = [], 0

    for whole in pieces:
        whole.unterminated = whole.last and bool(whole.data) and not whole.data.endswith(b"\n")
        whole.data = _normalise(whole.data)
        if not bad.skip:
            _first_empty_line(whole, fmt)
        for piece in _by_lines(whole):
            batch.append(piece)
            size += max(len(piece.data), piece.data.count(b"\n") * _BYTES_PER_LINE)
            if size >= BATCH_BYTES:
                flush()
    flush()

    def cat(parts, dtype):
        # Joined column by column, each list emptied as soon as it is joined: at most one
        # column exists twice at a time.
        if not parts:
            return np.zeros(0, dtype)
        if dtype == np.int64 and all(p.dtype == np.int32 for p in parts):
            dtype = np.int32
        out = np.concatenate(parts).astype(dtype, copy=False)
        parts.clear()
        return out

    movie = cat(movies, np.int32)
    return BlockResult(
        movie=movie,
        columns={c: cat(cols[c], _OUT_DTYPES[c]) for c in names},
        lines=cat(lines, np.int64) if keep_lines else None,
        files=cat(files, np.int32) if keep_lines else None,
        sources=sources,
    )


#: What one line costs the batch parser in index arrays, whatever its length: a batch is
#: cut at BATCH_BYTES of text or BATCH_BYTES / _BYTES_PER_LINE lines, whichever comes first,
#: so that a file of blank lines takes memory in proportion to its size, not 60 times it.
_BYTES_PER_LINE = 16


def _first_blank(data: bytes) -> int | None:
    """The offset of the first empty line of normalised ``data``, or None."""
    if data.startswith(b"\n"):
        return 0
    pos = data.find(b"\n\n")
    return None if pos < 0 else pos + 1


def _first_empty_line(piece: Piece, fmt: BlockFormat) -> None:
    """Stop at a piece's first empty line before any per-line array is built."""
    pos = _first_blank(piece.data)
    if pos is not None:
        line = piece.first_line + piece.data.count(b"\n", 0, pos)
        raise DataError("empty line", path=piece.source.label, line=line,
                        expected=fmt.expected)


def _by_lines(piece: Piece) -> Iterator[Piece]:
    """``piece`` cut into pieces of at most BATCH_BYTES / _BYTES_PER_LINE lines each, the
    movie id carried over as :func:`chunk_file` does."""
    limit = BATCH_BYTES // _BYTES_PER_LINE
    data = piece.data
    if data.count(b"\n") <= limit:
        yield piece
        return
    pos, line, movie = 0, piece.first_line, piece.movie
    while pos < len(data):
        # A window of `limit` bytes holds at most `limit` lines: cut at its last newline.
        end = data.rfind(b"\n", pos, pos + limit) + 1
        if end <= pos:  # one line longer than the window
            end = data.find(b"\n", pos + limit) + 1 or len(data)
        part = data[pos:end]
        last = end >= len(data)
        yield Piece(piece.source, part, first_line=line, movie=movie,
                    last=piece.last and last, unterminated=piece.unterminated and last)
        movie = _carried_movie(part, movie)
        line += part.count(b"\n")
        pos = end


def _parse_batch(batch: list[Piece], fmt: BlockFormat, bad: BadLines, rating_range) -> dict:
    # Join the pieces; each piece may carry a movie id from an earlier chunk of its file.
    parts, piece_line0, piece_nlines = [], [], []
    total = 0
    for p in batch:
        prefix = f"{p.movie}:\n".encode() if p.movie is not None else b""
        parts.append(prefix + p.data)
        n = p.data.count(b"\n") + (1 if prefix else 0)
        piece_line0.append(total)
        piece_nlines.append(n)
        total += n
    data = b"".join(parts)
    buf = np.frombuffer(data, np.uint8)
    starts, ends = _lines(buf)
    line_piece = np.repeat(np.arange(len(batch)), piece_nlines)
    # 1-based line number in its own file (a carried-in header gets line first_line - 1).
    line_no = np.arange(total) - np.asarray(piece_line0)[line_piece]
    carry = np.array([p.movie is not None for p in batch])
    line_no = line_no + np.array([p.first_line for p in batch])[line_piece] - carry[line_piece]
    lengths = ends - starts
    last_char = buf[np.maximum(ends - 1, 0)]
    is_header = (lengths > 0) & (last_char == _COLON)

    def where(i):
        return batch[line_piece[i]].source.label, int(line_no[i])

    def text(i):
        return data[starts[i]:ends[i]].decode("latin-1")

    # Header lines: few (one per movie), so a Python loop over them is fine.
    header_idx = np.flatnonzero(is_header)
    header_movie = np.empty(len(header_idx), np.int64)
    drop = np.zeros(total, bool)
    for k, i in enumerate(header_idx):
        s = data[starts[i]:ends[i] - 1]
        if s.isdigit() and int(s) <= MAX_ID:
            header_movie[k] = int(s)
        else:
            path, line = where(i)
            bad.add(DataError("malformed MovieID header", path=path, line=line, text=text(i),
                              expected=f"MovieID: (digits, at most {MAX_ID}, then a colon)"))
            header_movie[k] = -1
            drop[i] = True
    empty = lengths == 0
    n_empty = int(np.count_nonzero(empty))
    if n_empty:
        path, line = where(int(np.argmax(empty)))
        bad.add_many(DataError("empty line", path=path, line=line, expected=fmt.expected),
                     n_empty)
        drop |= empty
    # Which header each data line falls under; a data line before any header is an error.
    data_idx = np.flatnonzero(~is_header & (lengths > 0))
    owner = np.searchsorted(header_idx, data_idx, side="right") - 1
    if len(header_idx):
        crossing = (owner >= 0) & (line_piece[header_idx[np.maximum(owner, 0)]]
                                   != line_piece[data_idx])
        owner[crossing] = -1  # a header in an earlier file does not cover this one
    orphan = owner < 0
    if orphan.any():
        for i in data_idx[orphan]:
            path, line = where(i)
            bad.add(DataError("rating line before any MovieID: header", path=path, line=line,
                              text=text(i), expected="a 'MovieID:' line first"))
            drop[i] = True
    owner_movie = np.where(owner >= 0, header_movie[np.maximum(owner, 0)], -1)
    bad_header_rows = owner_movie < 0
    drop[data_idx[bad_header_rows & ~orphan]] = True

    keep = ~drop[data_idx]
    numbers = _numbers(_cut(data, starts, ends, data_idx[keep]), fmt)
    if numbers is None:
        # Slow path: find every bad line of this batch exactly, then parse what is left.
        n_last = np.cumsum(piece_nlines) - 1
        for i in data_idx[keep]:
            err = _check_line(data[starts[i]:ends[i]], fmt, *where(i),
                              last=bool(i == n_last[line_piece[i]])
                              and batch[line_piece[i]].unterminated)
            if err is not None:
                bad.add(err)
                drop[i] = True
        keep = ~drop[data_idx]
        numbers = _numbers(_cut(data, starts, ends, data_idx[keep]), fmt)
        if numbers is None:  # pragma: no cover - the validator and pandas disagree
            path, line = where(int(data_idx[keep][0]))
            raise DataError("could not parse this file", path=path, line=line,
                            expected=fmt.expected)
    rows = data_idx[keep]
    movie = owner_movie[keep]
    # Values: ratings in range, real calendar dates.
    ok = np.ones(len(rows), bool)
    if "rating" in numbers:
        r = numbers["rating"]
        lo, hi = rating_range
        out_of_range = (r < lo) | (r > hi)
        for j in np.flatnonzero(out_of_range):
            bad.add(DataError(f"rating {r[j]} out of range", path=where(rows[j])[0],
                              line=where(rows[j])[1], text=text(rows[j]),
                              expected=f"an integer from {lo} to {hi}"))
        ok &= ~out_of_range
    if "year" in numbers:
        good = valid_date(numbers["year"], numbers["month"], numbers["mday"])
        for j in np.flatnonzero(~good):
            bad.add(DataError("malformed date: no such day", path=where(rows[j])[0],
                              line=where(rows[j])[1], text=text(rows[j]),
                              expected="a real date YYYY-MM-DD"))
        ok &= good
    out = {c: v[ok] for c, v in numbers.items()}
    if "customer" in out and len(out["customer"]) and out["customer"].max() < 2**31:
        out["customer"] = out["customer"].astype(np.int32)  # Netflix's ids fit: half the memory
    if "year" in out:
        out["day"] = civil_to_days(out.pop("year"), out.pop("month"), out.pop("mday"))
    out["movie"] = movie[ok]
    rows = rows[ok]
    out["line"] = line_no[rows]
    # Row ranges per piece, for attributing rows to files.
    bounds = np.searchsorted(line_piece[rows], np.arange(len(batch) + 1))
    out["piece_rows"] = list(zip(bounds[:-1], bounds[1:], strict=True))
    _check_pieces(batch, fmt, is_header, piece_line0, piece_nlines, where, text, bad)
    return out


def _check_pieces(batch, fmt, is_header, piece_line0, piece_nlines, where, text, bad):
    """Whole-file checks: empty files, and files that stop right after a header."""
    for k, p in enumerate(batch):
        if p.movie is None and piece_nlines[k] == 0:
            bad.add(DataError("empty file", path=p.source.label,
                              expected="a 'MovieID:' line followed by data lines"))
            continue
        if not fmt.require_rows or piece_nlines[k] == 0 or not p.last:
            continue
        i = piece_line0[k] + piece_nlines[k] - 1
        if is_header[i]:
            path, line = where(i)
            bad.add(DataError("file ends right after a MovieID header (truncated?)", path=path,
                              line=line, text=text(i), expected="data lines after the header"))


def _cut(data: bytes, starts, ends, keep_idx: np.ndarray) -> bytes:
    """The bytes of the lines ``keep_idx`` (sorted), newline-terminated, without copying
    line by line: contiguous runs of kept lines are sliced whole."""
    if len(keep_idx) == 0:
        return b""
    breaks = np.flatnonzero(np.diff(keep_idx) != 1)
    run_first = np.r_[keep_idx[0], keep_idx[breaks + 1]]
    run_last = np.r_[keep_idx[breaks], keep_idx[-1]]
    if len(run_first) == 1 and run_first[0] == 0 and ends[run_last[0]] == len(data) - 1:
        return data
    return b"".join(data[s:e + 1] for s, e in zip(starts[run_first], ends[run_last], strict=True))


def _carried_movie(part: bytes, movie: int | None) -> int | None:
    """The movie id that the piece after ``part`` continues: the last header in ``part``,
    else ``movie`` (the one ``part`` itself continued)."""
    h = part.rfind(b":\n")
    if h >= 0:
        head = part[part.rfind(b"\n", 0, h) + 1:h]
        if head.isdigit():
            return int(head)
    return movie


def chunk_file(src: SourceFile, data: bytes, chunk: int | None = None) -> Iterator[Piece]:
    """Cut one big movie-block file (combined_data_*.txt) into pieces at line boundaries,
    carrying the current movie id into each next piece."""
    chunk = chunk or BATCH_BYTES
    data = _normalise(data)
    pos, line = 0, 1
    movie = None
    while pos < len(data):
        end = data.find(b"\n", min(pos + chunk, len(data)) - 1) + 1 or len(data)
        piece = data[pos:end]
        yield Piece(src, piece, first_line=line, movie=movie, last=end >= len(data))
        movie = _carried_movie(piece, movie)
        line += piece.count(b"\n")
        pos = end


# ------------------------------------------------------------------- delimited tables


@dataclass(frozen=True)
class TableFormat:
    """A delimited file of one rating per line (MovieLens, generic CSV/TSV).

    ``fields`` names every field in file order: ``user``, ``item``, ``rating``, ``time``, or
    ``_`` for a field to ignore. ``time`` is Unix seconds unless ``time_format`` is a
    strftime format (then the field is a date string).
    """

    sep: str
    fields: tuple[str, ...]
    header: bool = False
    time_format: str | None = None
    replace: tuple[tuple[bytes, bytes], ...] = ()
    expected: str = ""
    string_ids: bool = False  # user/item ids may be arbitrary strings

    @property
    def shown(self) -> str:
        return self.expected or self.sep.join(self.fields)


@dataclass
class TableResult:
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    day: np.ndarray
    line: np.ndarray  # 1-based line of each row
    source: SourceFile


def parse_table(src: SourceFile, fmt: TableFormat, bad: BadLines,
                scale: tuple[float, float, float] = (1.0, 5.0, 1.0), data: bytes | None = None
                ) -> TableResult:
    """Parse one delimited rating file with pandas' C engine; bad lines named exactly."""
    if data is None:
        data = src.read()
    if src.name.endswith(".gz"):
        data = decompress(data, src.label)
    unterminated = bool(data) and not data.endswith(b"\n")
    data = _normalise(data)
    for old, new in fmt.replace:
        data = data.replace(old, new)
    if not data.strip():
        raise DataError("empty file", path=src.label, expected=fmt.shown)
    data, orig_line = _drop_blank_lines(data, src.label, fmt.shown, bad)

    def orig(n):  # the line number in the file of line n of `data`
        return int(n) if orig_line is None else int(orig_line[int(n) - 1])

    first_line = 2 if fmt.header else 1
    df = _read_table(data, fmt)
    rows_ok = None if df is None else _table_rows_ok(df, fmt)
    if df is None or not rows_ok.all():
        # Slow path: validate each line, drop (or report) the bad ones, parse again.
        lines = data.split(b"\n")[:-1]
        body = lines[1:] if fmt.header else lines
        good = []
        for k, raw in enumerate(body):
            err = _check_table_line(raw, fmt, src.label, orig(k + first_line),
                                    last=k == len(body) - 1 and unterminated)
            if err is None:
                good.append(k)
            else:
                bad.add(err)
        kept = b"\n".join(body[k] for k in good) + b"\n" if good else b""
        if fmt.header:
            kept = lines[0] + b"\n" + kept
        df = _read_table(kept, fmt) if good else None
        if df is None or not _table_rows_ok(df, fmt).all():  # pragma: no cover
            raise DataError("could not parse this file", path=src.label, expected=fmt.shown)
        line = np.asarray(good, np.int64) + first_line
    else:
        line = np.arange(len(df), dtype=np.int64) + first_line
    rating = df["rating"].to_numpy(np.float64)
    lo, hi, step = scale
    bad_rating = (rating < lo) | (rating > hi)
    if step:
        bad_rating |= np.abs((rating - lo) / step - np.round((rating - lo) / step)) > 1e-6
    text_lines = None
    ok = ~bad_rating
    for j in np.flatnonzero(bad_rating):
        text_lines = text_lines or data.split(b"\n")
        bad.add(DataError(f"rating {rating[j]:g} out of range", path=src.label, line=orig(line[j]),
                          text=text_lines[line[j] - 1].decode("latin-1"),
                          expected=f"a rating from {lo:g} to {hi:g} in steps of {step:g}"))
    if "time" in df:
        day, good_time = _to_days(df["time"], fmt.time_format)
        for j in np.flatnonzero(~good_time & ok):
            text_lines = text_lines or data.split(b"\n")
            bad.add(DataError("malformed date" if fmt.time_format else "time out of range",
                              path=src.label, line=orig(line[j]),
                              text=text_lines[line[j] - 1].decode("latin-1"),
                              expected=fmt.time_format or f"Unix seconds from years {_Y0} to "
                                                          f"{_Y1}"))
        ok &= good_time
    else:
        day = np.zeros(len(df), np.int32)
    ids = {}
    for c in ("user", "item"):
        col = df[c]
        ids[c] = (col.to_numpy(np.int64) if pd.api.types.is_integer_dtype(col.dtype)
                  else col.astype(str).to_numpy(str))
    line = line[ok] if orig_line is None else orig_line[line[ok] - 1]
    return TableResult(ids["user"][ok], ids["item"][ok], rating[ok].astype(np.float32), day[ok],
                       line, src)


def _drop_blank_lines(data: bytes, label: str, expected: str, bad: BadLines):
    """(data without its empty lines, the file's line number of each line kept, or None
    when there were none). Without ``skip_bad_lines`` the first empty line is an error,
    found before any per-line structure is built; with it, empty lines are counted at once
    and dropped, in memory proportional to the file (a file of blank lines would otherwise
    cost a Python object per line)."""
    first = _first_blank(data)
    if first is None:
        return data, None
    err = DataError("empty line", path=label, line=data.count(b"\n", 0, first) + 1,
                    expected=expected)
    if not bad.skip:
        raise err
    buf = np.frombuffer(data, np.uint8)
    starts, ends = _lines(buf)
    kept = np.flatnonzero(ends > starts)
    bad.add_many(err, len(ends) - len(kept))
    if not len(kept):
        raise DataError("no data lines, only empty ones", path=label, expected=expected)
    return _cut(data, starts, ends, kept), kept + 1


def _read_table(data: bytes, fmt: TableFormat):
    try:
        return pd.read_csv(
            io.BytesIO(data), sep=fmt.sep, header=0 if fmt.header else None,
            names=list(fmt.fields), engine="c", na_filter=False, skip_blank_lines=False,
            quoting=csv.QUOTE_MINIMAL if fmt.string_ids else csv.QUOTE_NONE,
            dtype={"user": str, "item": str} if fmt.string_ids else None,
        )
    except (pd.errors.ParserError, ValueError):
        return None


def _table_rows_ok(df, fmt: TableFormat) -> np.ndarray:
    ok = np.ones(len(df), bool)
    for c in ("user", "item") if not fmt.string_ids else ():
        if not pd.api.types.is_signed_integer_dtype(df[c].dtype):  # uint64: past int64
            return np.zeros(len(df), bool)
        if len(df) and df[c].max() > MAX_ID:
            return np.zeros(len(df), bool)
    if not pd.api.types.is_numeric_dtype(df["rating"].dtype):
        return np.zeros(len(df), bool)
    ok &= np.isfinite(df["rating"].to_numpy(np.float64))
    if fmt.string_ids:
        for c in ("user", "item"):
            ok &= df[c].astype(str).str.len().to_numpy() > 0
    if "time" in df and fmt.time_format is None and not pd.api.types.is_signed_integer_dtype(
            df["time"].dtype):
        return np.zeros(len(df), bool)
    return ok


def _check_table_line(raw: bytes, fmt: TableFormat, label: str, line: int, last: bool):
    s = raw.decode("latin-1")
    if not s.strip():
        return DataError("empty line", path=label, line=line, text=s, expected=fmt.shown)
    parts = next(csv.reader([s], delimiter=fmt.sep)) if fmt.string_ids else s.split(fmt.sep)
    if len(parts) != len(fmt.fields):
        hint = " (the file may be truncated)" if last else ""
        return DataError(f"wrong number of fields: {len(parts)}{hint}", path=label, line=line,
                         text=s, expected=f"{len(fmt.fields)} fields: {fmt.shown}")
    for name, value in zip(fmt.fields, parts, strict=True):
        if name in ("user", "item") and not fmt.string_ids and not value.strip().isdigit():
            return DataError(f"malformed {name} id", path=label, line=line, text=s,
                             expected=fmt.shown)
        if name in ("user", "item") and not fmt.string_ids and int(value) > MAX_ID:
            return DataError(f"{name} id {value.strip()} too large", path=label, line=line,
                             text=s, expected=f"{fmt.shown} with ids at most {MAX_ID}")
        if name in ("user", "item") and fmt.string_ids and not value.strip():
            return DataError(f"empty {name} id", path=label, line=line, text=s,
                             expected=fmt.shown)
        if name == "rating":
            try:
                finite = math.isfinite(float(value))
            except ValueError:
                return DataError("malformed rating", path=label, line=line, text=s,
                                 expected=fmt.shown)
            if not finite:
                return DataError(f"rating {value.strip()} is not a finite number", path=label,
                                 line=line, text=s, expected=f"{fmt.shown} with a numeric "
                                                            "rating")
        if name == "time" and fmt.time_format is None:
            v = value.strip()
            if not (v[1:] if v.startswith("-") else v).isdigit():
                return DataError("malformed date", path=label, line=line, text=s,
                                 expected="Unix seconds")
            if not FIRST_DAY <= int(v) // 86400 <= LAST_DAY:
                return DataError("time out of range", path=label, line=line, text=s,
                                 expected=f"Unix seconds from years {_Y0} to {_Y1}")
    return None


def _to_days(col, time_format: str | None) -> tuple[np.ndarray, np.ndarray]:
    if time_format is None:
        if not pd.api.types.is_signed_integer_dtype(col.dtype):  # past int64: all refused
            return np.zeros(len(col), np.int32), np.zeros(len(col), bool)
        days = col.to_numpy(np.int64) // 86400
        good = (days >= FIRST_DAY) & (days <= LAST_DAY)  # else int32 would wrap them
        return np.where(good, days, 0).astype(np.int32), good
    t = pd.to_datetime(col.astype(str), format=time_format, errors="coerce")
    good = ~t.isna().to_numpy()
    days = np.zeros(len(col), np.int32)
    days[good] = (t[good].to_numpy("datetime64[D]").astype(np.int64)).astype(np.int32)
    return days, good
