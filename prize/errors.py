"""Errors meant for people: which file, which line, what was found, what to do."""

from __future__ import annotations


class PrizeError(Exception):
    """Base class of errors that the CLI reports without a traceback (exit code 2)."""

    exit_code = 2


class DataError(PrizeError):
    """Bad input data, located as precisely as we can.

    The message reads ``FILE:LINE: problem: 'offending text' (expected ...). fix``.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        text: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ):
        self.problem = problem
        self.path = path
        self.line = line
        self.text = text
        self.expected = expected
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path) + (f":{self.line}" if self.line is not None else "") + ": "
        msg = where + self.problem
        if self.text is not None:
            shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
            msg += f": {shown!r}"
        if self.expected:
            msg += f" (expected {self.expected})"
        if self.fix:
            msg += f". {self.fix}"
        return msg


class ConfigError(PrizeError):
    """A bad configuration value or key."""


class NotFittedError(RuntimeError):
    """predict() before fit()."""


class DivergenceError(PrizeError):
    """Training diverged (non-finite or exploding RMSE); nothing was stored."""

    exit_code = 1
