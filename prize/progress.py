"""Feedback on long work: a progress bar on a terminal, plain periodic lines in a log file.

Every step that can take more than a few seconds reports through here, so that a person
at a terminal sees a live bar and a log file (``prize ... 2> log``, CI, a cluster job)
gets one readable line every :data:`LOG_EVERY` seconds instead of carriage-return frames.

- :func:`bar` for work that counts (epochs, predictors, bytes);
- :func:`heartbeat` for a step that cannot count (a GBDT's cross-validation, the magic
  barrier's sampler, a report): after :data:`QUIET_FOR` seconds it prints the elapsed time
  until the step ends.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

#: Seconds between two plain lines off a terminal.
LOG_EVERY = 10.0
#: A heartbeat stays silent for a step shorter than this.
QUIET_FOR = 5.0


def _is_terminal(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LogLines:
    """tqdm's interface (``update``, ``set_postfix``, ``set_postfix_str``, ``close``) as plain
    lines: at most one every :data:`LOG_EVERY` seconds, and one at the end."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0,
                 file=None, every: float = LOG_EVERY):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = initial
        self.file = file or sys.stderr
        self.every = every
        self.postfix = ""
        self.t0 = self.last = time.monotonic()

    def _line(self, final: bool = False) -> str:
        elapsed = time.monotonic() - self.t0
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        line = f"{self.desc}: {count} {self.unit}, {_clock(elapsed)} elapsed"
        if not final and self.total and self.n:
            line += f", about {_clock(elapsed / self.n * (self.total - self.n))} left"
        return line + (f" ({self.postfix})" if self.postfix else "")

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            print(self._line(), file=self.file, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        self._maybe_print()

    def set_postfix(self, values: dict | None = None, **kw) -> None:
        values = {**(values or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        if time.monotonic() - self.t0 >= self.every or self.last != self.t0:
            print(self._line(final=True) + " done", file=self.file, flush=True)


class _Silent:
    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *a, **kw) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def bar(total: int | None, desc: str, unit: str = "it", *, enabled: bool = True,
        initial: int = 0, leave: bool = False, file=None):
    """A progress bar: tqdm on a terminal, :class:`LogLines` elsewhere, nothing when not
    ``enabled`` (``-q``, library calls)."""
    file = file or sys.stderr
    if not enabled:
        return _Silent()
    if not _is_terminal(file):
        return LogLines(total, desc, unit, initial, file)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                dynamic_ncols=True, file=file)


@contextmanager
def heartbeat(desc: str, *, enabled: bool = True, every: float | None = None,
              quiet_for: float = QUIET_FOR, file=None):
    """Say that ``desc`` is still running: after ``quiet_for`` seconds, the elapsed time
    every ``every`` seconds (1 s on a terminal, rewriting one line; :data:`LOG_EVERY` in a
    log), then how long it took. Silent for a step shorter than ``quiet_for``."""
    file = file or sys.stderr
    if not enabled:
        yield
        return
    tty = _is_terminal(file)
    every = every if every is not None else (1.0 if tty else LOG_EVERY)
    stop = threading.Event()
    t0 = time.monotonic()
    spoke = []

    def beat():
        if stop.wait(quiet_for):
            return
        while True:
            text = f"{desc}: {_clock(time.monotonic() - t0)} elapsed"
            print("\r" + text if tty else text, end="" if tty else "\n", file=file, flush=True)
            spoke.append(True)
            if stop.wait(every):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if spoke:
            end = f"{desc}: done in {_clock(time.monotonic() - t0)}"
            print("\r" + end if tty else end, file=file, flush=True)
