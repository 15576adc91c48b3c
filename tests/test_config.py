"""Configs: TOML values, --set overrides, and errors that list what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from prize.config import build, parse_overrides
from prize.errors import ConfigError


@dataclass(frozen=True)
class Cfg:
    n_factors: int = 10
    """Number of latent factors."""
    lr: float = 0.01
    early_stopping: bool = True
    implicit: Literal["all", "train"] = "all"
    name: str = "x"
    bins: tuple[int, ...] = (1, 2)


def test_overrides_are_toml_values_checked_against_fields():
    v = parse_overrides(Cfg, ["n_factors=50", "lr=0.005", "early_stopping=false",
                              "implicit=train", 'name="y"', "bins=[3, 4]"])
    cfg = build(Cfg, v)
    assert cfg == Cfg(50, 0.005, False, "train", "y", (3, 4))


def test_int_given_to_float_field_is_accepted():
    assert build(Cfg, {"lr": 1}).lr == 1.0


@pytest.mark.parametrize("pair,msg", [
    ("n_factors=1.5", "expected an integer"),
    ("n_factors=abc", "expected an integer"),
    ("lr=fast", "expected a number"),
    ("early_stopping=1", "expected true or false"),
    ("implicit=some", "not allowed"),
])
def test_type_errors(pair, msg):
    with pytest.raises(ConfigError, match=msg):
        build(Cfg, parse_overrides(Cfg, [pair]))


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError) as e:
        parse_overrides(Cfg, ["n_factor=5"])
    assert "n_factor" in str(e.value) and "n_factors, lr, early_stopping" in str(e.value)
    with pytest.raises(ConfigError, match="allowed keys: n_factors"):
        build(Cfg, {"learning_rate": 0.1}, source="x.toml")


def test_missing_equals_sign():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(Cfg, ["n_factors"])


def test_pinned_configs_write_out_every_field():
    """A config that says it writes out every field (the ladder's rungs, Funk's as he ran it)
    must: a file does not inherit its family's default.toml, so a field it leaves out takes
    the dataclass's default and moves when that is retuned. Only a field whose default
    derives from another (None: ``lr_y`` takes ``lr``) may stand commented out, ``# lr_y =
    ...``."""
    import dataclasses
    import re
    from pathlib import Path

    from prize.config import load_toml
    from prize.models import family_module

    root = Path(__file__).resolve().parents[1] / "prize" / "configs"
    pinned = [p for p in sorted(root.glob("*/*.toml"))
              if "Every field is written out" in p.read_text()]
    assert len(pinned) >= 5, pinned
    for path in pinned:
        text = path.read_text()
        mod = family_module(path.parent.name)
        named = load_toml(path).get("model")
        cls = mod.MODELS[named] if named else next(iter(mod.MODELS.values()))
        missing = [f.name for f in dataclasses.fields(cls.Config)
                   if not re.search(rf"^{'(# )?' if f.default is None else ''}{f.name} *=",
                                    text, re.M)]
        assert not missing, f"{path.relative_to(root)} leaves out {missing}"
