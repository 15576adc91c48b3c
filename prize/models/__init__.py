"""Model families: a registry from the names `prize train FAMILY` uses to their modules.

A family module (or a ``module:attribute`` object) defines ``MODELS`` (model name ->
Predictor class) and ``DEFAULT_CONFIG`` (the stem of its default file in
``configs/<family>/``). Modules are imported on first
use, so `prize --help` loads neither numba nor torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from prize.config import build, load_toml, parse_overrides, resolve_config_path, to_dict
from prize.errors import ConfigError

FAMILIES: dict[str, str] = {
    "baseline": "prize.models.baseline",
    "knn": "prize.models.knn",
    "mf": "prize.models.mf.families:mf",
    "svdpp": "prize.models.mf.families:svdpp",
    "timesvdpp": "prize.models.mf.families:timesvdpp",
    "nsvd": "prize.models.mf.families:nsvd",
    "rbm": "prize.models.rbm",
}


def family_module(family: str):
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}; known families: {', '.join(FAMILIES)}")
    module, _, attr = FAMILIES[family].partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def make_predictor(family: str, config: str | Path | None = None, overrides=(),
                   values: dict | None = None):
    """(predictor, config path) from a family, a config file or name, and ``--set`` pairs.

    The TOML holds ``model = "<name>"`` (optional for one-model families) and the fields of
    that model's config dataclass.
    """
    mod = family_module(family)
    if values is None:
        path = resolve_config_path(family, config, mod.DEFAULT_CONFIG)
        values = load_toml(path)
    else:
        path = None
    values = dict(values)
    model = values.pop("model", None) or next(iter(mod.MODELS))
    if model not in mod.MODELS:
        raise ConfigError(f"{path or 'config'}: unknown model {model!r} in family {family!r}; "
                          f"known: {', '.join(mod.MODELS)}")
    cls = mod.MODELS[model]
    values.update(parse_overrides(cls.Config, overrides))
    cfg = build(cls.Config, values, source=str(path or "config"))
    return cls(cfg), path


def describe(predictor) -> dict:
    return {"family": predictor.family, "model": predictor.name, **to_dict(predictor.config)}
