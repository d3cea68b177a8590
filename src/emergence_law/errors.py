"""Errors users can act on.

Anything raised as an :class:`EmergenceLawError` is shown by the CLI as one line (no traceback)
and makes it exit non-zero, so the message itself must name what is wrong and where: the file,
row and column of a bad table cell, or the option at fault.
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


class OptionError(EmergenceLawError):
    """A command-line option or estimator setting has an invalid value."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"option {option}: {message}")


class NotIdentifiableError(EmergenceLawError):
    """The data cannot pin down the quantity asked for (e.g. no data level ever rises)."""
