"""Blending: combine the stored predictors' probe predictions into one better predictor.

``BLENDERS`` maps the names ``prize blend --method`` takes to their classes; each has a
frozen config dataclass (``configs/blend/<method>.toml`` holds the defaults) and the
contract of :class:`prize.blend.base.Blender`. :func:`prize.blend.run.run_blend` does the
whole protocol: read the probe store, cross-validate on probe, refit, apply to
qualifying, store the blend as a predictor of its own (family ``blend``).
"""

from __future__ import annotations

from prize.blend.base import BlendConfig, Blender, CVResult, make_folds
from prize.blend.gbdt import GBDTBlender
from prize.blend.nn import NNBlender
from prize.blend.ridge import FWLSBlender, LinearBlender

BLENDERS: dict[str, type[Blender]] = {
    "linear": LinearBlender,
    "gbdt": GBDTBlender,
    "fwls": FWLSBlender,
    "nn": NNBlender,
}

__all__ = ["BLENDERS", "Blender", "BlendConfig", "CVResult", "make_folds"]
