"""Typed, frozen configs loaded from TOML, with checked ``--set key=value`` overrides, and
the registries that name what a config builds.

Every model and blender has one ``@dataclass(frozen=True)`` config whose fields carry a
docstring; values come from ``configs/<folder>/<name>.toml`` and the command line. An
unknown key is an error naming the key and listing the allowed ones; a value of the wrong
type is an error naming the field, the value and the type expected.

:func:`assemble` is the one way a thing is built from a config name plus overrides: model
families (:func:`prize.models.make_predictor`), blenders
(:func:`prize.blend.run.make_blender`) and sweeps (:mod:`prize.runs.sweep`) all call it.
A :class:`Registry` maps names to ``"module:attribute"`` strings imported on first use, so
the CLI can list the names (``--help``, ``click.Choice``) without importing numba or torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path

from prize.errors import ConfigError

#: Where the shipped configs live: the package's configs/ folder (shipped in the wheel).
CONFIG_ROOT = Path(__file__).resolve().parent / "configs"


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _check(cls, name: str, value, tp):
    """Return ``value`` converted to the field type ``tp``, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(cls, name, value, a)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{cls.__name__}.{name} = {value!r} is not allowed; "
                              f"expected one of {', '.join(map(repr, allowed))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected a list")
        (inner, *rest) = typing.get_args(tp)
        return tuple(_check(cls, name, v, inner) for v in value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected a string")
        return value
    if not isinstance(value, tp):
        raise ConfigError(f"{cls.__name__}.{name} = {value!r}: expected {_type_name(tp)}")
    return value


def at_least(cfg, low: float, *names: str) -> None:
    """A range check for a config's ``__post_init__``: each named field must be >= ``low``
    (NaN fails too); raised as ValueError, which the loader reports with the source."""
    for name in names:
        v = getattr(cfg, name)
        if not v >= low:
            kind = "an integer" if isinstance(v, int) else "a number"
            raise ValueError(f"{name} = {v}: expected {kind} >= {low:g}")


def finite(cfg, *names: str) -> None:
    """Each named float field must be a finite number (not NaN, not ±inf)."""
    for name in names:
        v = getattr(cfg, name)
        if v is not None and not math.isfinite(v):
            raise ValueError(f"{name} = {v}: expected a finite number")


def positive(cfg, *names: str) -> None:
    """Each named field must be a finite number > 0 (learning rates)."""
    finite(cfg, *names)
    for name in names:
        v = getattr(cfg, name)
        if v is not None and not v > 0:
            raise ValueError(f"{name} = {v}: expected a number > 0")


def max_threads() -> int:
    """The most threads a model may ask for: 4 per core (more only wait for a core, and
    each costs a stack; a hundred thousand crashed torch)."""
    return 4 * (os.cpu_count() or 1)


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse an allocation of ``nbytes`` that exceeds the memory available now (Linux's
    MemAvailable; no check where that is unknown), before it is attempted."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise ConfigError(f"{what} needs about {nbytes / 2**30:.1f} GiB of memory, and "
                          f"{available / 2**30:.1f} GiB is available. {fix}")


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def fields_of(cls) -> dict[str, dataclasses.Field]:
    """The config's fields, those the class itself declares first, in its order (a model's
    own settings before those it inherits, as error messages and help list them)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    own = [k for k in vars(cls).get("__annotations__", {}) if k in fields]
    return {k: fields[k] for k in own + [k for k in fields if k not in own]}


def build(cls, values: dict, *, source: str = "config"):
    """An instance of the config dataclass ``cls`` from a dict, every key and type checked."""
    hints = typing.get_type_hints(cls)
    allowed = fields_of(cls)
    unknown = [k for k in values if k not in allowed]
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r} for {cls.__name__}; allowed keys: "
            + ", ".join(allowed))
    checked = {k: _check(cls, k, v, hints[k]) for k, v in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {e}") from None


def parse_value(text: str, tp):
    """A ``--set`` value: read as TOML; a bare word that is not TOML is a string for string
    fields (``implicit=train``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(cls, pairs: list[str] | tuple[str, ...]) -> dict:
    hints = typing.get_type_hints(cls)
    allowed = fields_of(cls)
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value")
        key, text = pair.split("=", 1)
        key = key.strip()
        if key not in allowed:
            raise ConfigError(f"--set {key}: unknown key for {cls.__name__}; allowed keys: "
                              + ", ".join(allowed))
        out[key] = parse_value(text.strip(), hints[key])
    return out


def resolve_config_path(family: str, config: str | os.PathLike | None,
                        default: str = "default") -> Path:
    """A config file: a path, or a name under ``configs/<family>/`` (``biases`` →
    ``configs/baseline/biases.toml``)."""
    if config is None:
        config = default
    p = Path(config)
    if p.suffix == ".toml" and p.is_file():
        return p
    candidate = CONFIG_ROOT / family / f"{p.stem if p.suffix == '.toml' else config}.toml"
    if candidate.is_file():
        return candidate
    shipped = sorted(q.stem for q in (CONFIG_ROOT / family).glob("*.toml"))
    raise ConfigError(f"no config {str(config)!r} for family {family!r}; give a .toml path or "
                      f"one of: {', '.join(shipped) or '(none shipped)'}")


def load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}") from None


def to_dict(config) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(config).items()}


class Registry(Mapping):
    """Names -> ``"module:attribute"`` (or ``"module"``), imported when first looked up."""

    def __init__(self, what: str, entries: dict[str, str]):
        self.what = what
        self._entries = dict(entries)
        self._loaded: dict[str, object] = {}

    def __getitem__(self, name: str):
        if name not in self._entries:
            raise KeyError(name)
        if name not in self._loaded:
            module, _, attr = self._entries[name].partition(":")
            mod = importlib.import_module(module)
            self._loaded[name] = getattr(mod, attr) if attr else mod
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_fail(self, name: str):
        """The entry, or a ConfigError that lists the known names."""
        if name not in self._entries:
            raise ConfigError(f"unknown {self.what} {name!r}; known {self.what}s: "
                              f"{', '.join(self._entries)}")
        return self[name]


def choose(registry: Mapping[str, type], folder: str, *, config: str | os.PathLike | None = None,
           default: str | None = "default", selector: str = "model", choice: str | None = None,
           values: dict | None = None) -> tuple[str, type, dict, Path | None]:
    """(name, class, values, path): the entry of ``registry`` a config names, and the config's
    values without the selector key.

    The values come from ``values`` if given, else from a TOML file: ``config`` (a path, or a
    name under ``configs/<folder>/``), or ``default`` when ``config`` is None (no file at all
    when ``default`` is None too). The TOML may name its entry with ``selector``
    (``model = "svdpp"``, ``method = "gbdt"``); ``choice`` is the entry asked for on the
    command line, which must agree with it; with neither, the registry's first entry.
    """
    path = None
    if values is None:
        if config is None and default is None:
            values = {}
        else:
            path = resolve_config_path(folder, config, default or "default")
            values = load_toml(path)
    values = dict(values)
    named = values.pop(selector, None)
    where = str(path or "config")
    if choice is not None and named is not None and named != choice:
        raise ConfigError(f"{where}: a config for {selector} {named!r}, not {choice!r}")
    name = choice or named or next(iter(registry))
    if name not in registry:
        raise ConfigError(f"{where}: unknown {selector} {name!r} in {folder!r}; known: "
                          f"{', '.join(registry)}")
    return name, registry[name], values, path


def assemble(registry: Mapping[str, type], folder: str, *,
             config: str | os.PathLike | None = None, default: str | None = "default",
             selector: str = "model", choice: str | None = None, overrides=(),
             values: dict | None = None):
    """(name, class, config object, path): :func:`choose`, then the class's ``Config``
    built from the values and the ``--set`` overrides, every key and type checked."""
    name, cls, values, path = choose(registry, folder, config=config, default=default,
                                     selector=selector, choice=choice, values=values)
    values.update(parse_overrides(cls.Config, overrides))
    # Name what the values came from: a bad --set is not the file's fault.
    source = str(path or "config") + ("".join(f" --set {o}" for o in overrides)
                                       if overrides else "")
    return name, cls, build(cls.Config, values, source=source), path
