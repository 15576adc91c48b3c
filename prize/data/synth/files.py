"""Writing a :class:`~prize.data.synth.law.Synthesis` in the original Netflix Prize layout.

:func:`write_netflix_layout` writes ``training_set/``, ``probe.txt``, ``qualifying.txt``,
``qualifying_truth.txt`` and ``movie_titles.txt``; :func:`describe` is the content of
``synth.json``; :func:`generate` simulates a preset and writes it all atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from prize.data.synth import _kernels as K
from prize.data.synth._progress import _Progress
from prize.data.synth.law import (
    FIRST_DAY,
    HOLDOUT_PER_USER,
    LAST_DAY,
    N_DAYS,
    NETFLIX_MAX_CUSTOMER_ID,
    PROBE,
    QUIZ,
    Preset,
    Synthesis,
    simulate,
    under_law,
)


def _date_table() -> np.ndarray:
    """``(N_DAYS, 10)`` uint8: the ASCII ``YYYY-MM-DD`` of each day since 1999-12-31."""
    days = (FIRST_DAY + np.arange(N_DAYS)).astype("datetime64[D]").astype(str)
    return np.frombuffer("".join(days).encode("ascii"), np.uint8).reshape(N_DAYS, 10).copy()


_CHUNK_ROWS = 4_000_000  # formatting buffer: about 100 MB at netflix scale


def _write_blocks(syn: Synthesis, mask: np.ndarray, mode: int, dates: np.ndarray,
                  sink, bar=None) -> None:
    """Group the rows where ``mask`` holds by film and format them chunk by chunk.

    ``sink(m_lo, m_hi, buf, ends)`` receives each formatted chunk.
    """
    perm, starts = K.group_by_key(syn.item, mask, syn.n_movies)
    width = len(str(int(syn.customer_id.max()))) + {0: 14, 1: 1, 2: 12, 3: 19}[mode]
    header = len(str(syn.n_movies)) + 2
    per_movie = np.diff(starts)
    biggest = max(_CHUNK_ROWS, int(per_movie.max(initial=0)))
    buf = np.empty(biggest * width + syn.n_movies * header, np.uint8)
    ends = np.empty(syn.n_movies, np.int64)
    m_lo = 0
    while m_lo < syn.n_movies:
        m_hi = int(np.searchsorted(starts, starts[m_lo] + biggest, side="right")) - 1
        m_hi = min(syn.n_movies, max(m_hi, m_lo + 1))
        used = K.format_blocks(perm, starts, m_lo, m_hi, syn.user, syn.customer_id, syn.rating,
                               syn.day, syn.split, dates, mode, buf, ends)
        assert used <= len(buf)
        sink(m_lo, m_hi, buf, ends)
        if bar is not None:
            bar.update(m_hi - m_lo)
        m_lo = m_hi


def write_netflix_layout(syn: Synthesis, folder: str | Path, *, progress: bool = False) -> None:
    """Write ``training_set/``, ``probe.txt``, ``qualifying.txt``, ``qualifying_truth.txt``
    and ``movie_titles.txt`` into an existing empty ``folder``."""
    folder = Path(folder)
    bar = _Progress(progress)
    dates = _date_table()
    tdir = folder / "training_set"
    tdir.mkdir()

    def per_movie(m_lo, m_hi, buf, ends):
        prev = 0
        for m in range(m_lo, m_hi):
            end = int(ends[m - m_lo])
            with open(tdir / f"mv_{m + 1:07d}.txt", "wb") as fh:
                fh.write(buf[prev:end])
            prev = end

    bar.start("writing training_set/", syn.n_movies, "file")
    _write_blocks(syn, syn.split <= PROBE, K.MODE_TRAINING, dates, per_movie, bar)
    bar.close()
    for name, mask, mode in (
        ("probe.txt", syn.split == PROBE, K.MODE_PROBE),
        ("qualifying.txt", syn.split >= QUIZ, K.MODE_QUALIFYING),
        ("qualifying_truth.txt", syn.split >= QUIZ, K.MODE_TRUTH),
    ):
        bar.stage(f"writing {name}")
        with open(folder / name, "wb") as fh:
            def one_file(m_lo, m_hi, buf, ends, fh=fh):
                fh.write(buf[:ends[m_hi - m_lo - 1]])

            _write_blocks(syn, mask, mode, dates, one_file)
    lines = [f"{i + 1},{y if y else 'NULL'},{t}\n" for i, (y, t) in
             enumerate(zip(syn.years.tolist(), syn.titles, strict=True))]
    (folder / "movie_titles.txt").write_bytes("".join(lines).encode("latin-1"))


def describe(syn: Synthesis) -> dict:
    """The content of ``synth.json``."""
    got, expected = syn.oracle()
    try:
        from prize import __version__ as version
    except ImportError:  # pragma: no cover - a partial checkout
        version = "unknown"
    p = syn.preset
    params = asdict(p)
    params["model"] = asdict(p.model)
    params.update(mu=syn.mu, first_day=str(FIRST_DAY), last_day=str(LAST_DAY),
                  max_customer_id=max(NETFLIX_MAX_CUSTOMER_ID, 2 * p.n_users),
                  holdout_per_user=HOLDOUT_PER_USER)
    return {
        "format": "prize-synth",
        "version": 1,
        "preset": p.name,
        "law": p.model.law,
        "seed": syn.seed,
        "noise_scale": syn.noise_scale,
        "counts": syn.counts(),
        "oracle_rmse": got,
        "expected_oracle_rmse": expected,
        "params": params,
        "package_version": version,
    }


def generate(out: str | Path, *, preset: str | Preset = "tiny", seed: int = 0,
             noise_scale: float = 1.0, progress: bool = False, overwrite: bool = False,
             law: int | None = None) -> dict:
    """Simulate a preset and write it in the original Netflix layout to ``out``.

    ``law``: generate the preset's sizes under that version of the law
    (:func:`~prize.data.synth.law.under_law`); ``None``: the preset's own.

    Atomic: everything is built in ``.{out.name}.tmp-<pid>`` beside ``out`` and renamed
    into place; on any error the temporary folder is removed. An existing ``out`` raises
    FileExistsError unless ``overwrite``, which renames the old folder aside, renames the
    new one in, then deletes the old one. Returns the content of ``synth.json``.
    """
    out = Path(out).absolute()
    p = under_law(preset, law)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists already; choose another folder or pass "
                              "overwrite=True (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of a killed run of this pid
    try:
        tmp.mkdir()
        syn = simulate(p, seed=seed, noise_scale=noise_scale, progress=progress)
        write_netflix_layout(syn, tmp, progress=progress)
        info = describe(syn)
        del syn
        (tmp / "synth.json").write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            if not overwrite:
                raise FileExistsError(f"{out} appeared while generating; not replacing it")
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink()
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info
