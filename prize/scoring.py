"""Scoring predictions against the truth the dataset holds: probe, quiz, and (on request) test."""

from __future__ import annotations

import numpy as np

from prize.data.dataset import Dataset
from prize.metrics import rmse


def score_qualifying(ds: Dataset, pred: np.ndarray) -> dict[str, float | None]:
    """RMSE on quiz and test where truth exists (None otherwise)."""
    out = {}
    for kind in ("quiz", "test"):
        pos = ds.positions(kind)
        out[kind] = rmse(pred[pos], ds.truth(kind)) if len(pos) else None
    return out


def score_probe(ds: Dataset, pred: np.ndarray) -> float | None:
    truth = ds.truth("probe")
    return rmse(pred, truth) if len(truth) else None
