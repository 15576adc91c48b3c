"""The stored magic-barrier estimate: ``prize barrier`` writes it, the leaderboard reads it.

Light on purpose (no numba, no estimators): reading an estimate must not load the sampler.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from prize._atomic import write_json

if TYPE_CHECKING:
    from prize.data.dataset import Dataset


def barrier_path(home, dataset: str):
    """Where ``prize barrier`` keeps a data set's last estimate: ``$PRIZE_HOME/barrier/``."""
    return Path(home) / "barrier" / f"{dataset}.json"


def save_estimate(home, ds: Dataset, result: dict) -> None:
    """Store an estimate with the data set's fingerprint (atomically), so that the
    leaderboard can show it without re-running the sampler (minutes on large data)."""
    path = barrier_path(home, ds.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**json.loads(json.dumps(result, default=float)),
                      "fingerprint": ds.fingerprint})


def load_estimate(home, ds: Dataset) -> dict | None:
    """The stored estimate of ``ds``, or None when there is none or it was made on another
    version of the data (another fingerprint)."""
    path = barrier_path(home, ds.name)
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return r if r.get("fingerprint") == ds.fingerprint else None
