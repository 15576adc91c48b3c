"""Where prize keeps its files: ``$PRIZE_HOME`` (default ``./prize_home``), and the one
rule for every name that becomes part of a path.

Datasets, predictors, sweeps and sets are named by people and by files (a dataset
folder's ``meta.json``, a set's TOML), and each name becomes a folder or a file name. A
name is therefore checked (:func:`check_name`) before anything is written or deleted
under it, and a path built from names is resolved under its root (:func:`inside`), which
refuses a result outside the root, through ``..`` or through a symbolic link.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prize.errors import DataError

#: The longest name accepted: file systems allow 255 bytes per component, and a name is
#: the middle of longer ones (``.<name>.tmp-<pid>-<hex>``, ``<dataset>-<predictor>.txt``).
MAX_NAME = 100
NAME_RULE = (f"1 to {MAX_NAME} of letters, digits and . _ + = -, starting with a letter "
             "or digit")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def check_name(name, what: str = "name") -> str:
    """``name`` if it is a safe path component (:data:`NAME_RULE`), else a DataError.

    No separators, no ``..``, no leading dot (hidden names are temporaries), nothing a
    shell or a file system treats specially, and short enough to fit in a file name.
    """
    if not isinstance(name, str):
        raise DataError(f"bad {what} {name!r}: not a string", expected=NAME_RULE)
    if len(name) > MAX_NAME:
        raise DataError(f"bad {what}: {len(name)} characters long", text=name,
                        expected=NAME_RULE, fix="Choose a shorter name")
    if not _NAME.fullmatch(name):
        raise DataError(f"bad {what} {name!r}", expected=NAME_RULE)
    return name


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """``root/part/...`` after checking that it stays under ``root`` once resolved (``..``
    and symbolic links followed): the path to write or delete, or a DataError.

    Each part must be a checked name or a relative path inside root; the root itself may
    be a symbolic link (a home on another disk), the parts may not lead out of it.
    """
    base = Path(root).resolve()
    path = Path(root).joinpath(*parts)
    real = path.resolve()
    if real != base and base not in real.parents:
        raise DataError("refusing a path that leads outside its folder", path=str(path),
                        text=str(real), expected=f"a path under {base}",
                        fix="Remove the symbolic link or the '..' that leads out")
    return path


def home(override: str | os.PathLike | None = None) -> Path:
    """The prize home folder: ``override``, else ``$PRIZE_HOME``, else ``./prize_home``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("PRIZE_HOME")
    return Path(env) if env else Path.cwd() / "prize_home"


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of dataset ``name`` under the home's ``data/`` (the name checked)."""
    return inside(home(root) / "data", check_name(name, "dataset name"))


def tidy(root: str | os.PathLike | None = None) -> list[str]:
    """Remove what dead writers left in the home (hidden temporaries of imports, store
    writes, checkpoints) and put back a dataset whose replacement never arrived; run when
    a command starts. Returns what was done, in words."""
    from prize._atomic import clean_leftovers

    base = home(root)
    done = clean_leftovers(base / "data")
    for top in ("probes", "checkpoints"):
        for d in _subfolders(base / top):
            done += clean_leftovers(d)
            for sub in _subfolders(d):
                done += clean_leftovers(sub)
    return done


def _subfolders(p: Path) -> list[Path]:
    try:
        return [q for q in p.iterdir() if q.is_dir() and not q.is_symlink()
                and not q.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def shared_data() -> Path | None:
    """The real data folder named by ``$PRIZE_SHARED_DATA``, or None when unset."""
    env = os.environ.get("PRIZE_SHARED_DATA")
    return Path(env) if env else None
