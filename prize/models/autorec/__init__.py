"""The AutoRec family: Sedhain, Menon, Sanner & Xie's autoencoders for collaborative
filtering (WWW 2015), item-based (I-AutoRec, the default) and user-based (U-AutoRec), in
torch with sparse mini-batches. ``prize train autorec`` uses ``configs/autorec/default.toml``
(I-AutoRec, 500 hidden units); ``--config user`` is U-AutoRec.
"""

from __future__ import annotations

from prize.models.autorec.model import AutoRec, AutoRecConfig, IAutoRec, UAutoRec

MODELS = {"i-autorec": IAutoRec, "u-autorec": UAutoRec}

DEFAULT_CONFIG = "default"

__all__ = ["MODELS", "DEFAULT_CONFIG", "AutoRec", "AutoRecConfig", "IAutoRec", "UAutoRec"]
