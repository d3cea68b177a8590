"""Typed results of every command: fields, files, save/load, summary (see :mod:`.base`)."""

from emergence_law.results.base import RESULT_TYPES, Result, output_file_names, table_field

__all__ = ["RESULT_TYPES", "Result", "output_file_names", "table_field"]
