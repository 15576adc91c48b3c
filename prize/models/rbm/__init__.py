"""The RBM family: Salakhutdinov, Mnih & Hinton's restricted Boltzmann machines for
collaborative filtering (ICML 2007), plain, conditional and factored, in torch with sparse
mini-batches. ``prize train rbm`` uses ``configs/rbm/default.toml`` (the conditional RBM
with 100 hidden units) unless ``--config`` names another.
"""

from __future__ import annotations

from prize.models.rbm.model import RBM, RBMConfig, rating_values

MODELS = {"rbm": RBM}

DEFAULT_CONFIG = "default"

__all__ = ["MODELS", "DEFAULT_CONFIG", "RBM", "RBMConfig", "rating_values"]
