"""Registry entries of the four MF families (see ``prize.models.FAMILIES``)."""

from __future__ import annotations

from types import SimpleNamespace

from prize.models.mf.svd import SVD
from prize.models.mf.svdpp import NSVD, SVDpp
from prize.models.mf.timesvdpp import TimeSVDpp

mf = SimpleNamespace(MODELS={"svd": SVD}, DEFAULT_CONFIG="default")
svdpp = SimpleNamespace(MODELS={"svdpp": SVDpp}, DEFAULT_CONFIG="default")
nsvd = SimpleNamespace(MODELS={"nsvd": NSVD}, DEFAULT_CONFIG="default")
timesvdpp = SimpleNamespace(MODELS={"timesvdpp": TimeSVDpp}, DEFAULT_CONFIG="default")
