"""What the torch families (the RBM, AutoRec) share: a block of torch work with the
config's threads and determinism, restored afterwards, and no autograd (their gradients
are written out by hand); the device check; the per-sample CSR they batch from."""

from __future__ import annotations

import os
from contextlib import contextmanager


@contextmanager
def torch_session(threads: int, deterministic: bool, *, inference: bool = True):
    """Run a block with ``threads`` torch threads -- capped by ``PRIZE_MAX_THREADS``, which a
    worker beside others on one machine sets (:func:`prize.runs.executors.limit_threads`) --
    and ``torch.use_deterministic_algorithms`` when ``deterministic``; yields torch.

    ``inference``: under ``torch.inference_mode()`` (the RBM); else only ``no_grad()``, for
    tensors that must stay usable outside inference mode (AutoRec's Adam state)."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    cap = int(os.environ.get("PRIZE_MAX_THREADS", "0") or 0)
    torch.set_num_threads(min(threads, cap) if cap > 0 else threads)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        if inference:
            with torch.inference_mode():
                yield torch
        else:
            with torch.inference_mode(False), torch.no_grad():
                yield torch
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def check_device(device: str) -> None:
    """Refuse ``device = "cuda"`` up front where torch sees no GPU."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            from prize.errors import ConfigError

            raise ConfigError("device = 'cuda' but torch sees no CUDA device; use "
                              "--set device=cpu")


def group_by(key, n: int, *values):
    """(indptr over ``n`` keys, each of ``values`` grouped by key, order kept within a key):
    the per-sample CSR the torch families batch from. Rows already sorted by key (a
    dataset's rows are sorted by user) skip the sort."""
    import numpy as np

    key = np.asarray(key)
    if len(key) > 1 and np.any(key[1:] < key[:-1]):
        order = np.argsort(key, kind="stable")
        key, values = key[order], tuple(np.asarray(v)[order] for v in values)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(key, minlength=n), out=indptr[1:])
    return (indptr, *(np.ascontiguousarray(v) for v in values))
