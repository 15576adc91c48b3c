"""The leaderboard of a dataset, the pipeline that fills it, and its report.

- :mod:`~prize.leaderboard.table`: every stored predictor beside the reference (Cinematch,
  or its proxy trained on the data), the 10% target, the magic barrier and the oracle;
  :func:`score` gives one predictor's line of it.
- :mod:`~prize.leaderboard.pipeline`: :func:`run` trains a predictor set, blends it,
  picks the blend to submit and writes the submission.
- :mod:`~prize.leaderboard.report`: the Markdown/JSON report and its charts.

This package sits on top of the run layer (:mod:`prize.runs`) and the probe store; the
CLI only parses, calls these and prints.
"""

from __future__ import annotations

from prize.leaderboard.pipeline import run
from prize.leaderboard.table import (
    reference,
    render_markdown,
    render_text,
    score,
    table,
    train_command,
)

__all__ = ["reference", "render_markdown", "render_text", "run", "score", "table",
           "train_command"]
