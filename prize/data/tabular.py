"""From parsed one-rating-per-line tables (MovieLens, CSV) to a dataset folder.

:func:`build_tables` is shared by :mod:`prize.data.movielens` and :mod:`prize.data.csv`:
dense ids, duplicate pairs reported as bad lines, the hold-out protocol
(:mod:`prize.data.split`), the atomic write (:mod:`prize.data.build`).
"""

from __future__ import annotations

import time

import numpy as np

from prize.data._parse import BadLines, TableResult
from prize.data.build import dense, finish, items_table, pair_keys, user_day_order
from prize.data.dataset import DEFAULT_REFERENCE
from prize.data.split import given_split, netflix_split, qualifying_order
from prize.errors import DataError

#: What an import does with a (user, item) pair rated more than once.
DUPLICATES = ("error", "first", "last")


def build_tables(tables: list[TableResult], target, *, name, seed, scale, given, titles,
                 genres, bad: BadLines, source: dict, t0: float, overwrite: bool,
                 probe: str = "recent", duplicates: str = "last") -> dict:
    """Parsed tables to a dataset at ``target``: dense ids, duplicates to ``bad`` (or, with
    ``duplicates`` "first" or "last", each repeated pair's earliest or most recent rating
    kept, file order breaking ties), the protocol (``given`` test rows, else netflix), the
    atomic write; the import summary."""
    if duplicates not in DUPLICATES:
        raise DataError(f"unknown duplicates rule {duplicates!r}", expected=" or ".join(DUPLICATES))
    user_raw = np.concatenate([t.user for t in tables])
    item_raw = np.concatenate([t.item for t in tables])
    rating = np.concatenate([t.rating for t in tables])
    day = np.concatenate([t.day for t in tables])
    if len(rating) == 0:
        raise DataError("no ratings were read", path=source["path"])
    user_ids, user = dense(user_raw)
    item_ids, item = dense(item_raw)
    keys = pair_keys(item, user, len(user_ids))
    n_dropped = 0
    if duplicates != "error":  # sorted by pair, then date, then file order
        order = np.lexsort((np.arange(len(keys)), day, keys))
        new_pair = np.ones(len(keys), bool)
        new_pair[1:] = keys[order][1:] != keys[order][:-1]
        if duplicates == "first":
            keep_rows = order[new_pair]
        else:  # the last row of each run of one pair
            keep_rows = order[np.append(new_pair[1:], True)]
        n_dropped = len(keys) - len(keep_rows)
        if n_dropped:
            keep = np.zeros(len(keys), bool)
            keep[keep_rows] = True
            user, item, rating, day, keys = user[keep], item[keep], rating[keep], day[keep], \
                keys[keep]
            given = given[keep] if given is not None else None
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
                expected="one rating per user and item",
                fix="--duplicates last keeps each pair's most recent rating (first: the "
                    "earliest); --skip-bad-lines drops the repeats and counts them"))
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
        "duplicates_dropped": int(n_dropped),
        "fingerprint": meta["fingerprint"],
    }
