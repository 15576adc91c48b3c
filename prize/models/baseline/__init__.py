"""The baseline family: global mean, movie and user means, biases, and global effects.

These are the predictors every other family is measured against (and the fallback of
every other family for unknown users and movies). ``prize train baseline`` uses
``configs/baseline/biases.toml`` unless ``--config`` names another.
"""

from __future__ import annotations

from prize.models.baseline.global_effects import GlobalEffects
from prize.models.baseline.simple import Biases, GlobalMean, MovieMean, UserMean

MODELS = {
    "global_mean": GlobalMean,
    "movie_mean": MovieMean,
    "user_mean": UserMean,
    "biases": Biases,
    "global_effects": GlobalEffects,
}

DEFAULT_CONFIG = "biases"

__all__ = ["MODELS", "DEFAULT_CONFIG", "Biases", "GlobalEffects", "GlobalMean", "MovieMean",
           "UserMean"]
