"""Scoring predictions against the truth the dataset holds: probe, quiz, and (on request) test."""

from __future__ import annotations

import numpy as np

from prize.data.dataset import Dataset, Split
from prize.metrics import rmse


def qualifying_sets(ds: Dataset) -> dict[str, np.ndarray]:
    """Positions (in qualifying order) of the quiz and test pairs whose truth is known."""
    order = ds.qualifying_order
    flags = np.asarray(ds.split)[order]
    known = ~np.isnan(np.asarray(ds.rating)[order])
    return {"quiz": np.flatnonzero(((flags & Split.QUIZ) != 0) & known),
            "test": np.flatnonzero(((flags & Split.TEST) != 0) & known)}


def score_qualifying(ds: Dataset, pred: np.ndarray) -> dict[str, float | None]:
    """RMSE on quiz and test where truth exists (None otherwise)."""
    truth = np.asarray(ds.rating)[ds.qualifying_order]
    out = {}
    for name, pos in qualifying_sets(ds).items():
        out[name] = rmse(pred[pos], truth[pos]) if len(pos) else None
    return out


def score_probe(ds: Dataset, pred: np.ndarray) -> float | None:
    rows = ds.rows(Split.PROBE)
    return rmse(pred, np.asarray(ds.rating)[rows]) if len(rows) else None
