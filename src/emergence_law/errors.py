"""Errors users can act on.

Anything raised as an :class:`EmergenceLawError` is shown by the CLI as one line (no traceback)
and makes it exit non-zero, so the message itself must name what is wrong and where: the file,
row and column of a bad table cell, or the option at fault.

A bad setting is a :class:`ValueError` too (``except ValueError`` works, as for numpy or
scikit-learn). The library names the Python parameter (:class:`SettingError`, ``form``); only
the command layer names command-line flags, and the CLI turns a parameter into the flag it came
from (``cli.FLAGS``: ``n_samples`` -> ``--samples``), so a library module never has to know a flag.
"""

from __future__ import annotations


class EmergenceLawError(Exception):
    """Base class for errors caused by input, settings or data, not by bugs."""


class DataError(EmergenceLawError):
    """A table (file or DataFrame) has a bad cell, a missing column, or no usable rows."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.reason = message
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class OptionError(EmergenceLawError, ValueError):
    """A command-line option (``--form``) or a setting has an invalid value."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.reason = message
        super().__init__(f"option {option}: {message}")

    def __reduce__(self) -> tuple:  # pickles (a worker process's error reaches the parent)
        return type(self), (self.option, self.reason)


class SettingError(OptionError):
    """A library parameter has an invalid value; ``param`` is its Python name (``n_samples``).

    Reads ``parameter n_samples: need at least 10 samples, got 1`` in Python; the CLI prints the
    flag instead (``option --samples: ...``), looked up in ``cli.FLAGS``."""

    def __init__(self, param: str, message: str) -> None:
        self.param = self.option = param
        self.reason = message
        Exception.__init__(self, f"parameter {param}: {message}")


class NotIdentifiableError(EmergenceLawError):
    """The data cannot pin down the quantity asked for (e.g. no data level ever rises)."""
