"""Blending: combine the stored predictors' probe predictions into one better predictor.

``BLENDERS`` maps the names ``prize blend --method`` takes to their classes (imported on
first use); each has a frozen config dataclass (``configs/blend/<method>.toml`` holds the
defaults) and the contract of :class:`prize.blend.base.Blender`.
:func:`prize.blend.run.run_blend` does the whole protocol: read the probe store,
cross-validate on probe, refit, apply to qualifying, store the blend as a predictor of its
own (family ``blend``).

Adding a blender
----------------
1. A :class:`prize.blend.base.Blender` subclass with its ``Config`` (a subclass of
   :class:`prize.blend.base.BlendConfig`) in a module of this package.
2. ``configs/blend/<method>.toml`` with ``method = "<method>"`` and its defaults.
3. One line in :data:`BLENDERS` below: ``prize blend --method``, leaderboard sets'
   ``blends`` and :func:`~prize.blend.run.make_blender` find it from there.
"""

from __future__ import annotations

from prize.config import Registry

BLENDERS = Registry("blend method", {
    "linear": "prize.blend.ridge:LinearBlender",
    "gbdt": "prize.blend.gbdt:GBDTBlender",
    "fwls": "prize.blend.ridge:FWLSBlender",
    "nn": "prize.blend.nn:NNBlender",
})

__all__ = ["BLENDERS"]
