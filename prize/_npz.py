"""One ``.npz`` file of plain arrays with a JSON header stored inside as bytes: the format of
checkpoints (:mod:`prize.models.epochs`) and kept models (:mod:`prize.models.persist`).

Nothing in it is ever unpickled (``allow_pickle=False``), so a file someone hands you
cannot run code."""

from __future__ import annotations

import io
import json
import os

import numpy as np


def pack(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The file's bytes: ``arrays`` plus ``header`` as JSON under the key ``"header"``."""
    if "header" in arrays:
        raise ValueError("'header' is the file's own key")
    buf = io.BytesIO()
    np.savez(buf, **arrays, header=np.frombuffer(json.dumps(header).encode(), np.uint8))
    return buf.getvalue()


def unpack(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a file made by :func:`pack`. Raises ValueError, KeyError,
    OSError or json.JSONDecodeError on anything else (pickled objects included)."""
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(bytes(z["header"]).decode())
        return header, {k: z[k] for k in z.files if k != "header"}
