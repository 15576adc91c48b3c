"""The dataset: columnar arrays on disk, one folder per data set.

Layout of ``$PRIZE_HOME/data/<name>/`` (see DESIGN.md):

=====================  =========  ==================================================
file                   dtype      meaning
=====================  =========  ==================================================
user.npy               int32      dense user index 0..n_users-1
item.npy               int32      dense item index 0..n_items-1
rating.npy             float32    stars; NaN where unknown (Netflix's qualifying set)
day.npy                int32      days since 1970-01-01
split.npy              uint8      :class:`Split` flags
user_ids.npy           int64/str  raw user id of each dense index
item_ids.npy           int64/str  raw item id of each dense index
qualifying_order.npy   int64      row index of each qualifying pair, in file order
items.csv              text       id, year, title (and genres where known)
meta.json              json       provenance, counts, scale, references, fingerprint
=====================  =========  ==================================================

Rows are sorted by (user, day): user-ordered SGD sweeps are several times faster than
random order, and on Netflix they were also more accurate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from enum import IntFlag
from pathlib import Path

import numpy as np

from prize import __version__
from prize._atomic import atomic_dir
from prize.errors import DataError
from prize.paths import check_name

COLUMNS = ("user", "item", "rating", "day", "split")
DTYPES = {"user": np.int32, "item": np.int32, "rating": np.float32, "day": np.int32,
          "split": np.uint8}

#: Cinematch's official RMSEs, the reference on the real Netflix Prize data.
CINEMATCH = {"name": "Cinematch", "kind": "official", "quiz": 0.9514, "test": 0.9525}
#: On data that is not Netflix's, the reference is a predictor trained on the data itself:
#: the Cinematch proxy, item kNN with correlation weights on user+movie-bias residuals at
#: k = 35 (``configs/knn/cinematch-proxy.toml``; see :mod:`prize.models.knn`).
DEFAULT_REFERENCE = {"name": "knn-cinematch-proxy", "kind": "predictor", "family": "knn",
                     "config": "cinematch-proxy"}
#: The calibrated synthetic twin's reference (law 4 and later): Bell & Koren's correlation
#: kNN as published, the proxy without its shrinkage toward the baseline
#: (``configs/knn/cinematch-plain.toml``). On the twin that shrinkage, made for small noisy
#: data sets, makes the proxy a point and a half better than the model whose Netflix score
#: it stands for, and every rung of the Prize's ladder lands short of Netflix's.
TWIN_REFERENCE = {"name": "knn-cinematch-plain", "kind": "predictor", "family": "knn",
                  "config": "cinematch-plain"}
#: The first law of the synthetic twin measured against :data:`TWIN_REFERENCE`.
TWIN_REFERENCE_LAW = 4


def synthetic_reference(law: int | None) -> dict:
    """The reference of a synthetic data set generated under ``law`` (``None``: unknown,
    as in files written before the law was recorded): :data:`TWIN_REFERENCE` from law 4
    on, :data:`DEFAULT_REFERENCE` before it (the laws calibrated against the proxy)."""
    twin = law is not None and law >= TWIN_REFERENCE_LAW
    return dict(TWIN_REFERENCE if twin else DEFAULT_REFERENCE)


#: The prediction kinds whose arrays the probe store keeps.
STORED_KINDS = ("probe", "qualifying", "train")
#: Every prediction kind :meth:`Dataset.rows_of` aligns.
KINDS = ("train", "probe", "qualifying", "quiz", "test")


class Split(IntFlag):
    """Which set a row belongs to. A qualifying row with known truth is also QUIZ or TEST."""

    TRAIN = 1
    PROBE = 2
    QUALIFYING = 4
    QUIZ = 8
    TEST = 16


@dataclass(frozen=True)
class Ratings:
    """Parallel arrays of one set of ratings (the interactions struct predictors receive)."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    day: np.ndarray
    n_users: int
    n_items: int
    scale: tuple[float, float] = (1.0, 5.0)  # rating scale (min, max); predictions clip to it

    def __post_init__(self):
        self._check()

    def _check(self) -> None:
        n = len(self.user)
        for name in ("item", "rating", "day"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Ratings.{name} has {len(getattr(self, name))} rows, user {n}")
        if n:
            if int(self.user.min()) < 0 or int(self.user.max()) >= self.n_users:
                raise ValueError(f"user index outside 0..{self.n_users - 1}")
            if int(self.item.min()) < 0 or int(self.item.max()) >= self.n_items:
                raise ValueError(f"item index outside 0..{self.n_items - 1}")

    def __len__(self) -> int:
        return len(self.user)


def days_to_iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def fingerprint(columns: dict[str, np.ndarray]) -> str:
    """A short hash of the row order and contents: any change to rows or splits changes it."""
    h = hashlib.sha256()
    for name in COLUMNS:
        a = np.ascontiguousarray(columns[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


def release_pages(*arrays) -> None:
    """Unmap the resident pages of memory-mapped arrays from this process.

    The data stays in the OS page cache and faults back in on the next access, so nothing
    changes but the process's resident set: after a pass over a Netflix-sized column
    (400 MB) its pages would otherwise count toward this process's memory until the
    dataset is closed. Arrays that are not memory-mapped are left alone.
    """
    import mmap

    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is None or not hasattr(m, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            continue
        try:
            m.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


class Dataset:
    """A dataset folder opened read-only, its arrays memory-mapped."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise DataError(
                "no dataset here (meta.json missing)", path=str(self.path),
                fix="Create it with `prize data import` or `prize data synth`",
            )
        try:
            self.meta = json.loads(meta_path.read_text())
            name = self.meta["name"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise DataError(f"unreadable dataset metadata ({type(e).__name__}: {e})",
                            path=str(meta_path),
                            fix="Re-import the dataset with `prize data import ... --force`"
                            ) from None
        # The name becomes part of every path written for this dataset (probe store,
        # checkpoints, submissions): it must be a safe name, and the folder's own.
        check_name(name, f"dataset name in {meta_path}")
        if name != self.path.name:
            raise DataError(f"the dataset folder is named {self.path.name!r} but its "
                            f"meta.json names {name!r}", path=str(meta_path),
                            expected="the folder's name",
                            fix="Rename the folder to its dataset's name, or re-import it")
        for name in COLUMNS:
            setattr(self, name, np.load(self.path / f"{name}.npy", mmap_mode="r",
                                        allow_pickle=False))
        self.n_users = int(self.meta["counts"]["users"])
        self.n_items = int(self.meta["counts"]["items"])

    def check_unchanged(self) -> None:
        """Refuse to go on when the folder now holds another version of the dataset (a
        re-split or a forced re-import since it was opened): results computed on the rows
        opened would not line up with the rows there now."""
        try:
            now = json.loads((self.path / "meta.json").read_text()).get("fingerprint")
        except (OSError, ValueError):
            now = None
        if now != self.fingerprint:
            raise DataError(
                f"dataset {self.name!r} changed while this job ran on it (fingerprint "
                f"{self.fingerprint} when opened, {now} now): its results would not line up "
                "with the rows there now, so nothing was stored", path=str(self.path),
                fix="Run the job again on the dataset as it is now")

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    def __len__(self) -> int:
        return len(self.user)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self):,} rows, fingerprint {self.fingerprint})"

    def mask(self, flags: Split | int) -> np.ndarray:
        out = (np.asarray(self.split) & np.uint8(flags)) != 0
        release_pages(self.split)
        return out

    def rows(self, flags: Split | int) -> np.ndarray:
        """Row indices (ascending) of every row carrying any of ``flags``."""
        return np.flatnonzero(self.mask(flags))

    @functools.cached_property
    def qualifying_order(self) -> np.ndarray:
        """Row index of each qualifying pair in file order (read once: scoring asks for it
        several times, and at Netflix's size it is 22 MB)."""
        order = np.load(self.path / "qualifying_order.npy", allow_pickle=False)
        order.setflags(write=False)  # shared by every caller: nobody may change it
        return order

    # -- the row alignment of predictions: decided here and nowhere else ------------------
    def count(self, kind: str) -> int:
        """Length of a stored prediction array of ``kind`` (train, probe or qualifying), from
        the counts in meta.json (no scan of the split column)."""
        if kind not in STORED_KINDS:
            raise ValueError(f"prediction kind {kind!r}: expected one of {STORED_KINDS}")
        return int(self.meta["counts"][kind])

    def rows_of(self, kind: str) -> np.ndarray:
        """The dataset rows a prediction array of ``kind`` is aligned with.

        ``train`` and ``probe``: the TRAIN or PROBE rows in row order (so, by user and
        day); ``qualifying``: the qualifying pairs in the order of the qualifying file
        (``qualifying_order``, the order a submission follows); ``quiz`` and ``test``: the
        qualifying pairs of that half whose truth is known, in qualifying order -- the
        qualifying predictions at :meth:`positions` ``(kind)``.
        """
        if kind == "train":
            return self.rows(Split.TRAIN)
        if kind == "probe":
            return self.rows(Split.PROBE)
        if kind == "qualifying":
            return self.qualifying_order
        if kind in ("quiz", "test"):
            return self.qualifying_order[self.positions(kind)]
        raise ValueError(f"prediction kind {kind!r}: expected one of {KINDS}")

    def positions(self, kind: str) -> np.ndarray:
        """Where the quiz (or test) pairs with known truth sit among the qualifying
        predictions."""
        if kind not in ("quiz", "test"):
            raise ValueError(f"positions of {kind!r}: expected quiz or test")
        order = self.qualifying_order
        flags = np.asarray(self.split)[order]
        known = ~np.isnan(np.asarray(self.rating)[order])
        flag = Split.QUIZ if kind == "quiz" else Split.TEST
        return np.flatnonzero(((flags & flag) != 0) & known)

    def truth(self, kind: str) -> np.ndarray:
        """The known ratings aligned with a prediction kind (NaN where unknown: Netflix's
        qualifying ratings)."""
        return np.asarray(self.rating[self.rows_of(kind)])

    def ids(self, which: str) -> np.ndarray:
        return np.load(self.path / f"{which}_ids.npy", allow_pickle=False)

    def select(self, rows: np.ndarray) -> Ratings:
        cols = {}
        for name in ("user", "item", "rating", "day"):
            mapped = getattr(self, name)
            cols[name] = np.asarray(mapped[rows])
            release_pages(mapped)  # one column's file pages resident at a time, not four
        return Ratings(**cols, n_users=self.n_users, n_items=self.n_items, scale=self.scale)

    @property
    def scale(self) -> tuple[float, float]:
        s = self.meta["rating_scale"]
        return float(s["min"]), float(s["max"])

    def all_pairs(self) -> Ratings:
        """Every row, memory-mapped (no copy): the implicit "who rated what" feedback."""
        return Ratings(user=self.user, item=self.item, rating=self.rating, day=self.day,
                       n_users=self.n_users, n_items=self.n_items, scale=self.scale)

    def ratings(self, flags: Split | int) -> Ratings:
        return self.select(self.rows(flags))


def open_dataset(name_or_path: str | os.PathLike, home: str | os.PathLike | None = None) -> Dataset:
    """Open a dataset by name (under ``$PRIZE_HOME/data``) or by folder path."""
    from prize.paths import NAME_RULE, dataset_dir

    p = Path(name_or_path)
    if not (p / "meta.json").is_file():
        try:
            candidate = dataset_dir(str(name_or_path), home)
        except DataError:  # neither a dataset folder nor a valid dataset name
            raise DataError(f"no dataset {str(name_or_path)!r}", path=str(p),
                            expected=f"a dataset folder, or a dataset name ({NAME_RULE})"
                            ) from None
        if (candidate / "meta.json").is_file() or not p.exists():
            p = candidate
    if not (p / "meta.json").is_file():
        raise DataError(
            f"no dataset named {str(name_or_path)!r}", path=str(p),
            fix="List datasets under $PRIZE_HOME/data, or create one with `prize data import`",
        )
    return Dataset(p)


_CHUNK = 1 << 22


def summarize(columns: dict[str, np.ndarray]) -> dict:
    """Counts per split, the date range and the rating histogram of a set of columns."""
    split = columns["split"]
    rating = columns["rating"]
    day = columns["day"]

    def count(flag):
        return int(np.count_nonzero(split & np.uint8(flag)))

    # The histogram chunk by chunk: at Netflix scale a copy of the known ratings and
    # np.unique's sorted copy of it would add a gigabyte to an import's peak memory.
    hist: dict[float, int] = {}
    for lo in range(0, len(rating), _CHUNK):
        part = rating[lo:lo + _CHUNK]
        values, counts = np.unique(part[~np.isnan(part)], return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            hist[v] = hist.get(v, 0) + c
    return {
        "counts": {
            "rows": int(len(split)),
            "ratings_known": sum(hist.values()),
            "users": None,
            "items": None,
            "train": count(Split.TRAIN),
            "probe": count(Split.PROBE),
            "qualifying": count(Split.QUALIFYING),
            "quiz": count(Split.QUIZ),
            "test": count(Split.TEST),
        },
        "date_range": [days_to_iso(day.min()), days_to_iso(day.max())] if len(day) else None,
        "histogram": {f"{v:g}": hist[v] for v in sorted(hist)},
    }


def write_dataset(
    target: str | os.PathLike,
    columns: dict[str, np.ndarray],
    *,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    qualifying_order: np.ndarray,
    meta: dict,
    items_csv: str | None = None,
    extra: dict[str, np.ndarray] | None = None,
    overwrite: bool = False,
) -> dict:
    """Sort-checked, atomic write of a dataset folder; returns the completed meta."""
    target = Path(target)
    check_name(meta.get("name"), "dataset name")
    if meta["name"] != target.name:
        raise ValueError(f"dataset {meta['name']!r} written to a folder named "
                         f"{target.name!r}: a dataset folder bears its dataset's name")
    cols = {name: np.ascontiguousarray(columns[name], dtype=DTYPES[name]) for name in COLUMNS}
    n = len(cols["user"])
    for name in COLUMNS:
        if len(cols[name]) != n:
            raise ValueError(f"column {name} has {len(cols[name])} rows, expected {n}")
    if n > 1:
        u, d = cols["user"], cols["day"]
        unsorted = (u[1:] < u[:-1]) | ((u[1:] == u[:-1]) & (d[1:] < d[:-1]))
        if unsorted.any():
            raise ValueError("rows must be sorted by (user, day)")
    meta = dict(meta)
    summary = summarize(cols)
    summary["counts"]["users"] = int(len(user_ids))
    summary["counts"]["items"] = int(len(item_ids))
    meta.update(summary)
    meta["fingerprint"] = fingerprint(cols)
    meta.setdefault("package_version", __version__)
    with atomic_dir(target, overwrite=overwrite) as tmp:
        for name, a in cols.items():
            np.save(tmp / f"{name}.npy", a, allow_pickle=False)
        for which, ids in (("user", user_ids), ("item", item_ids)):
            ids = np.asarray(ids)  # int64, or unicode strings for arbitrary CSV ids
            np.save(tmp / f"{which}_ids.npy", ids if ids.dtype.kind == "U" else
                    ids.astype(np.int64), allow_pickle=False)
        np.save(tmp / "qualifying_order.npy", np.asarray(qualifying_order, dtype=np.int64),
                allow_pickle=False)
        for name, a in (extra or {}).items():
            np.save(tmp / f"{name}.npy", a, allow_pickle=False)
        if items_csv is not None:
            (tmp / "items.csv").write_text(items_csv, encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
