"""The progress reporting of the synthetic generator (stage lines, bars of
:mod:`prize.progress`)."""

from __future__ import annotations

import sys


class _Progress:
    """Bars and stage lines on stderr when asked; silent otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def stage(self, text: str) -> None:
        if self.enabled:
            print(f"[synth] {text}", file=sys.stderr, flush=True)

    def start(self, desc: str, total: int, unit: str) -> None:
        if self.enabled:
            from prize.progress import bar

            self.bar = bar(total, f"[synth] {desc}", unit, leave=True)

    def update(self, k: int) -> None:
        if self.bar is not None:
            self.bar.update(k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
