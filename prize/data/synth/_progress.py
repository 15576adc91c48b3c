"""The progress reporting of the synthetic generator (stage lines, tqdm bars)."""

from __future__ import annotations

import sys


class _Progress:
    """tqdm bars and stage lines on stderr when asked; silent otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def stage(self, text: str) -> None:
        if self.enabled:
            print(f"[synth] {text}", file=sys.stderr, flush=True)

    def start(self, desc: str, total: int, unit: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"[synth] {desc}", unit=unit, file=sys.stderr,
                            dynamic_ncols=True)

    def update(self, k: int) -> None:
        if self.bar is not None:
            self.bar.update(k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
