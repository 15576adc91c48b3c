"""Where prize keeps its files: ``$PRIZE_HOME`` (default ``./prize_home``)."""

from __future__ import annotations

import os
from pathlib import Path


def home(override: str | os.PathLike | None = None) -> Path:
    """The prize home folder: ``override``, else ``$PRIZE_HOME``, else ``./prize_home``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("PRIZE_HOME")
    return Path(env) if env else Path.cwd() / "prize_home"


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    return home(root) / "data" / name


def shared_data() -> Path | None:
    """The real data folder named by ``$PRIZE_SHARED_DATA``, or None when unset."""
    env = os.environ.get("PRIZE_SHARED_DATA")
    return Path(env) if env else None
