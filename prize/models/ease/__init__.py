"""The EASE family: Steck's closed-form linear item-item autoencoder (WWW 2019), a ranking
model first (:meth:`EASE.scores`, :meth:`EASE.rank`) that also meets the Predictor contract
through a calibration of its scores to ratings. ``prize train ease`` uses
``configs/ease/default.toml``; see :mod:`prize.models.ease.model` for the maths and the
memory it needs.
"""

from __future__ import annotations

from prize.models.ease.model import EASE, EASEConfig

MODELS = {"ease": EASE}

DEFAULT_CONFIG = "default"

__all__ = ["MODELS", "DEFAULT_CONFIG", "EASE", "EASEConfig"]
