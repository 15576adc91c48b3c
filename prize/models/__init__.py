"""Model families: the registry from the names `prize train FAMILY` uses to their modules.

A family module (or a ``module:attribute`` object) defines ``MODELS`` (model name ->
Predictor class) and ``DEFAULT_CONFIG`` (the stem of its default file in
``configs/<family>/``). Modules are imported on first use, so `prize --help` loads neither
numba nor torch.

Adding a family
---------------
1. ``prize/models/<family>/``: one short module per model, a frozen config dataclass per
   model (subclass :class:`prize.models.epochs.IterativeConfig` if it trains by epochs), the
   numba kernels in a private ``_kernels.py`` that imports nothing from prize, and a
   ``MODELS`` dict plus ``DEFAULT_CONFIG`` in the package's ``__init__``.
2. ``configs/<family>/default.toml``: the default settings.
3. One line in :data:`FAMILIES` below: the CLI (``prize train --help``), leaderboard sets,
   sweeps and the run layer find it from there. Nothing else is registered.
4. Tests: ``tests/contract.py``'s mixin, and each kernel against a pure-Python twin.
"""

from __future__ import annotations

from pathlib import Path

from prize.config import Registry, assemble

FAMILIES = Registry("family", {
    "baseline": "prize.models.baseline",
    "knn": "prize.models.knn",
    "mf": "prize.models.mf.families:mf",
    "svdpp": "prize.models.mf.families:svdpp",
    "timesvdpp": "prize.models.mf.families:timesvdpp",
    "nsvd": "prize.models.mf.families:nsvd",
    "rbm": "prize.models.rbm",
    "ease": "prize.models.ease",
    "autorec": "prize.models.autorec",
})


def family_module(family: str):
    return FAMILIES.get_or_fail(family)


def make_predictor(family: str, config: str | Path | None = None, overrides=(),
                   values: dict | None = None):
    """(predictor, config path) from a family, a config file or name, and ``--set`` pairs.

    The TOML holds ``model = "<name>"`` (optional for one-model families) and the fields of
    that model's config dataclass.
    """
    mod = family_module(family)
    _, cls, cfg, path = assemble(mod.MODELS, family, config=config,
                                 default=mod.DEFAULT_CONFIG, overrides=overrides,
                                 values=values)
    return cls(cfg), path
