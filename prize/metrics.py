"""Scores as the Prize computed them."""

from __future__ import annotations

import numpy as np


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error, accumulated in float64."""
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"shapes differ: {pred.shape} vs {truth.shape}")
    if len(pred) == 0:
        return float("nan")
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def improvement(score: float, reference: float) -> float:
    """Percent improvement over a reference RMSE: 100 · (ref − score) / ref (the Prize's
    definition; the Grand Prize asked for 10% over Cinematch's 0.9525 on test, i.e. 0.8572)."""
    return 100.0 * (reference - score) / reference


def target(reference: float, percent: float = 10.0) -> float:
    """The RMSE that is ``percent`` better than ``reference``."""
    return reference * (1.0 - percent / 100.0)


def fmt(value: float | None, spec: str = ".4f") -> str:
    """A score for a table: formatted with ``spec``, "—" where there is none."""
    return "—" if value is None else format(value, spec)
