"""Atomic writes: a reader sees the old version or the new one, never half of either.

Files go to a temporary name in the same folder, are fsynced, then renamed (``os.replace``
is atomic on POSIX file systems). Folders are built beside their target and renamed into
place; an existing target is swapped with the new folder in one step (Linux's
``renameat2(RENAME_EXCHANGE)``), else renamed aside first (two renames, with a window in
between that :func:`clean_leftovers` repairs).

Every temporary name is hidden and says who made it (``.<target>.tmp-<host>-<pid>-<hex>``,
an old folder set aside ``.<target>.old-...``), so that :func:`clean_leftovers`, run when
the next command starts, removes those of writers that died (killed, power lost) and puts
back a target whose replacement never arrived.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_LEFTOVER = re.compile(r"\.(?P<target>.+)\.(?P<kind>tmp|old)-(?:(?P<host>[0-9a-f]{6})-)?"
                       r"(?P<pid>\d+)-[0-9a-f]{8}")
#: A temporary of another machine (a shared file system) counts as dead after this long.
FOREIGN_AGE = 24 * 3600.0


def tmp_name(target: Path, kind: str = "tmp") -> Path:
    """A unique hidden sibling of ``target``; readers skip names starting with '.'."""
    return target.parent / (f".{target.name}.{kind}-{_HOST}-{os.getpid()}-"
                            f"{uuid.uuid4().hex[:8]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def clean_leftovers(folder: str | os.PathLike) -> list[str]:
    """Remove the temporaries of dead writers in ``folder``; put back a target that was
    set aside for a replacement that never came. Returns what was done, in words.

    A writer is dead when its process is gone (same machine) or, for another machine's,
    when its temporary is older than :data:`FOREIGN_AGE`. Live writers' are left alone.
    """
    folder = Path(folder)
    done: list[str] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return done
    for p in entries:
        m = _LEFTOVER.fullmatch(p.name)
        if m is None:
            continue
        if m["host"] == _HOST:
            if _alive(int(m["pid"])):
                continue
        else:
            try:
                if time.time() - p.lstat().st_mtime < FOREIGN_AGE:
                    continue
            except FileNotFoundError:
                continue
        target = folder / m["target"]
        if m["kind"] == "old" and not target.exists():
            os.replace(p, target)  # the replacement never arrived: the old one is current
            done.append(f"restored {target}")
        else:
            _remove(p)
            done.append(f"removed {p}")
    return done


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json(path: str | os.PathLike, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    path = Path(path)
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``target`` when the block succeeds.

    On any exception (or KeyboardInterrupt) the temporary folder is removed and ``target``
    is left as it was; a process killed outright leaves hidden leftovers that
    :func:`clean_leftovers` removes (or puts back) when the next command starts.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(target)
    tmp.mkdir()
    old = None
    try:
        yield tmp
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
        if target.exists():
            if _exchange(tmp, target):  # one step: the target is never missing
                old = tmp
            else:  # two renames; a crash between them is repaired by clean_leftovers
                old = tmp_name(target, "old")
                os.replace(target, old)
                os.replace(tmp, target)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        if old is not None and old != tmp and old.exists() and not target.exists():
            os.replace(old, target)  # the new folder never arrived: put the old one back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
