"""Fitted models as plain arrays plus JSON: one ``.npz`` file, nothing pickled.

A saved model is what it needs to predict, not to resume training: every public fitted
attribute (a name ending in ``_`` that does not start with ``_``, scikit-learn's rule) of
the model, encoded as a tree whose leaves are JSON scalars or arrays. The tree's JSON is
stored inside the ``.npz`` as bytes (``header``), the arrays beside it (``a0``, ``a1``, …),
the way :mod:`prize.models.epochs` stores checkpoints. Loading uses ``allow_pickle=False``
throughout, so a model file someone hands you cannot run code.

What the tree may hold:

- ``None``, booleans, ints, floats, strings; lists, tuples and string-keyed dicts of them;
- numpy arrays of numbers or strings and numpy scalars (kept with their dtype, so that a
  loaded model predicts bit for bit what the fitted one did: ``mu_`` is a float32 in the
  factor models), and scipy CSR matrices (as their three arrays and shape: EASE's ``X_``);
- another :class:`~prize.models.base.Predictor` (a kNN model's global-effects baseline),
  saved as family, model, config and its own tree;
- instances of the few plain containers of arrays listed in :data:`CONTAINERS` (a kNN
  model's CSR and neighbour table, the global effects' statistics). A class is rebuilt only
  if it is listed there: the file names a class, and the loader refuses any other.
- attributes a model names in ``state_dict_attrs`` (the RBM's torch network, ``net_``): the
  model's own ``state_dict`` is saved instead, and ``load_state_dict`` rebuilds them after
  the other attributes are restored.

Private attributes (``_csr``, ``_nptr``, ``_block_cache`` …) are training-time caches and
are never saved; prediction-time state derived from them is public (``PU_`` of SVD++).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path

import numpy as np

from prize._npz import pack, unpack
from prize.config import build, to_dict
from prize.errors import DataError

FORMAT = 1

#: The plain containers of arrays a saved model may hold ("module:qualname").
CONTAINERS = frozenset({
    "prize.models.knn._neighbours:UserMajor",
    "prize.models.knn._neighbours:Neighbours",
    "prize.models.baseline.global_effects:_Stats",
    "prize.models.baseline.global_effects:Effect",
})

#: ``prize train`` keeps a fitted model when its arrays take at most this many bytes
#: (``--save-model`` keeps it whatever its size; ``--no-save-model`` never). 256 MiB keeps
#: every model on MovieLens and the synthetic presets up to ``small``, and MF at f <= 100 on
#: Netflix; a dense kNN table at Netflix's 17,770 movies (1.3 GB) is left out.
SIZE_LIMIT = 256 * 2**20


def _class_name(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return key

    def encode(self, v, where: str):
        from prize.models.base import Predictor

        if v is None or isinstance(v, bool | int | float | str):
            return {"v": v}
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biufcU":
                raise TypeError(f"{where}: an array of {v.dtype} cannot be saved without pickle")
            return {"a": self.array(np.ascontiguousarray(v))}
        if isinstance(v, np.generic):
            return {"s": self.array(np.asarray(v))}
        if isinstance(v, Predictor):
            return {"p": self.model(v)}
        if type(v).__module__.startswith("scipy.sparse") and getattr(v, "format", "") == "csr":
            return {"csr": {"data": self.array(np.ascontiguousarray(v.data)),
                            "indices": self.array(np.ascontiguousarray(v.indices)),
                            "indptr": self.array(np.ascontiguousarray(v.indptr)),
                            "shape": list(v.shape)}}
        if isinstance(v, tuple) and hasattr(v, "_fields") or dataclasses.is_dataclass(v):
            name = _class_name(v)
            if name not in CONTAINERS:
                raise TypeError(f"{where}: {name} is not a container a model may save "
                                "(prize.models.persist.CONTAINERS)")
            fields = v._asdict() if isinstance(v, tuple) else {
                f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
            return {"o": name, "f": {k: self.encode(x, f"{where}.{k}")
                                     for k, x in fields.items()}}
        if isinstance(v, list | tuple):
            return {"l" if isinstance(v, list) else "t":
                    [self.encode(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"d": {k: self.encode(x, f"{where}[{k!r}]") for k, x in v.items()}}
        raise TypeError(f"{where}: a {type(v).__name__} cannot be saved without pickle")

    def model(self, model) -> dict:
        model.check_is_fitted()
        through_state = set(getattr(model, "state_dict_attrs", ()))
        attrs = {}
        for k, v in sorted(vars(model).items()):
            if k.startswith("_") or not k.endswith("_") or k in through_state:
                continue
            attrs[k] = self.encode(v, f"{type(model).__name__}.{k}")
        out = {"family": model.family, "model": model.name, "config": to_dict(model.config),
               "attrs": attrs}
        if through_state:
            out["state"] = {k: self.encode(np.asarray(v), f"{type(model).__name__}.state.{k}")
                            for k, v in model.state_dict().items()}
        return out


class _Decoder:
    def __init__(self, arrays):
        self.arrays = arrays

    def decode(self, node):
        tag = next(iter(node))
        val = node[tag]
        if tag == "v":
            return val
        if tag == "a":
            return self.arrays[val]
        if tag == "s":
            return self.arrays[val][()]
        if tag == "l":
            return [self.decode(x) for x in val]
        if tag == "t":
            return tuple(self.decode(x) for x in val)
        if tag == "d":
            return {k: self.decode(x) for k, x in val.items()}
        if tag == "p":
            return self.model(val)
        if tag == "csr":
            from scipy.sparse import csr_matrix

            return csr_matrix((self.arrays[val["data"]], self.arrays[val["indices"]],
                               self.arrays[val["indptr"]]), shape=tuple(val["shape"]))
        if tag == "o":
            if val not in CONTAINERS:
                raise DataError(f"a saved model names the class {val!r}, which is not one a "
                                "model may hold", fix="Do not load this file; retrain the model")
            module, _, qualname = val.partition(":")
            cls = getattr(importlib.import_module(module), qualname)
            fields = {k: self.decode(x) for k, x in node["f"].items()}
            if isinstance(cls, type) and issubclass(cls, tuple):
                return cls(**fields)
            obj = cls.__new__(cls)
            obj.__dict__.update(fields)
            return obj
        raise DataError(f"a saved model holds an unknown node {tag!r}",
                        fix="It was written by a newer prize, or is damaged; retrain it")

    def model(self, node: dict):
        from prize.models import family_module

        cls = family_module(node["family"]).MODELS[node["model"]]
        model = cls(build(cls.Config, node["config"], source="saved model"))
        for k, v in node["attrs"].items():
            setattr(model, k, self.decode(v))
        if "state" in node:
            model.load_state_dict({k: self.decode(v) for k, v in node["state"].items()})
        return model


def dumps(model, extra: dict | None = None) -> bytes:
    """The ``.npz`` bytes of a fitted model; ``extra`` (JSON) rides in its header, beside
    the model's tree under ``"predictor"`` (a key ``extra`` must not use)."""
    enc = _Encoder()
    tree = enc.model(model)
    if extra and ("predictor" in extra or "format" in extra):
        raise ValueError("extra header keys 'predictor' and 'format' are the file's own")
    return pack({"format": FORMAT, **(extra or {}), "predictor": tree}, enc.arrays)


def nbytes(model) -> int:
    """The bytes of a fitted model's arrays (what :func:`dumps` would write, nearly)."""
    enc = _Encoder()
    enc.model(model)
    return sum(a.nbytes for a in enc.arrays.values())


def load(path: str | os.PathLike | Path):
    """(model, header): a model saved by :func:`dumps`, ready to predict."""
    try:
        header, arrays = unpack(path)
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as e:
        raise DataError(f"not a prize model file, or one holding pickled objects: {e}",
                        path=str(path), fix="Retrain the model rather than trust this file"
                        ) from None
    if header.get("format") != FORMAT:
        raise DataError(f"model file format {header.get('format')!r}, this prize reads "
                        f"{FORMAT}", path=str(path), fix="Retrain the model with this prize")
    return _Decoder(arrays).model(header["predictor"]), header
