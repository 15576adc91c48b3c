"""What the torch families (the RBM, AutoRec) share: a block of torch work with the
config's threads and determinism, restored afterwards, and no autograd (their gradients
are written out by hand)."""

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
