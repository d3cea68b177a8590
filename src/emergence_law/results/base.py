"""Typed results that own their files.

Every command's result is a dataclass deriving from :class:`Result`: it declares its fields and
the files it writes (``FILES``, role -> file name), saves itself to a folder, loads itself back,
and renders a short ``summary()`` and a ``to_frame()``. Commands, the demo, the lab and the
report write and read results only through these types, so a key renamed by a writer cannot
drift from its reader unseen (one round-trip test per type), and the list of output file names
lives in one place (:func:`output_file_names`).

A field holding a table is marked ``table_field("role")``: it is saved as the CSV named by
``FILES[role]`` and left out of the JSON record, which is ``FILES["json"]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from emergence_law.atomic import atomic_write_text
from emergence_law.errors import DataError
from emergence_law.jsonfile import read_json, write_json

R = TypeVar("R", bound="Result")

#: every concrete result type, by its ``KIND``
RESULT_TYPES: dict[str, type[Result]] = {}


def table_field(role: str, **kwargs: Any) -> Any:
    """A dataclass field holding a pandas table saved as the CSV ``FILES[role]``."""
    return dataclasses.field(metadata={"file": role}, **kwargs)


@dataclasses.dataclass
class Result:
    """Base of every command's result: fields, files, save/load, summary, one-row frame."""

    #: short name of the result type (registry key), e.g. ``"ground_truth"``
    KIND: ClassVar[str] = ""
    #: role -> file name written by :meth:`save`; ``"json"`` is the record itself
    FILES: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            RESULT_TYPES[cls.KIND] = cls

    # -- the JSON record ----------------------------------------------------------------------
    @classmethod
    def _table_fields(cls) -> dict[str, str]:
        return {f.name: f.metadata["file"] for f in dataclasses.fields(cls)
                if "file" in f.metadata}

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: every field except tables (saved beside it as CSV)."""
        tables = self._table_fields()
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in tables}

    @classmethod
    def from_dict(cls: type[R], record: Mapping[str, Any], **tables: Any) -> R:
        """Build from a record; a missing required field is a one-line :class:`DataError`."""
        if not isinstance(record, Mapping):
            raise DataError(f"not a {cls.KIND or cls.__name__} result (expected a JSON object)")
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in record.items() if k in names}
        kwargs.update({k: v for k, v in tables.items() if k in names})
        missing = [n for n, f in names.items() if n not in kwargs
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise DataError(f"not a {cls.KIND or cls.__name__} result (missing field "
                            f"{', '.join(repr(m) for m in missing)})")
        return cls(**kwargs)

    # -- files --------------------------------------------------------------------------------
    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the record and its tables into ``out_dir`` (atomically); return role -> path."""
        out = Path(out_dir)
        written: dict[str, Path] = {}
        for name, role in self._table_fields().items():
            table = getattr(self, name)
            if table is not None:
                written[role] = atomic_write_text(out / self.FILES[role],
                                                  table.to_csv(index=False))
        written["json"] = write_json(out / self.FILES["json"], self.to_dict())
        return written

    @classmethod
    def load(cls: type[R], out_dir: str | Path) -> R:
        """Read a result saved by :meth:`save`; a bad or missing file names itself."""
        import pandas as pd

        out = Path(out_dir)
        path = out / cls.FILES["json"]
        record = read_json(path)
        tables = {}
        for name, role in cls._table_fields().items():
            csv = out / cls.FILES[role]
            if csv.is_file():
                try:
                    tables[name] = pd.read_csv(csv)
                except (ValueError, pd.errors.ParserError) as exc:
                    raise DataError(f"unreadable table: {' '.join(str(exc).split())}",
                                    source=str(csv)) from exc
        try:
            return cls.from_dict(record, **tables)
        except DataError as exc:
            raise DataError(exc.reason, source=str(path)) from exc

    # -- views --------------------------------------------------------------------------------
    def scalars(self) -> dict[str, Any]:
        """The fields that are single numbers, strings or flags."""
        return {k: v for k, v in self.to_dict().items()
                if v is None or isinstance(v, (bool, int, float, str))}

    def to_frame(self) -> Any:
        """One row of the scalar fields (types with a table override this)."""
        import pandas as pd

        return pd.DataFrame([self.scalars()])

    def summary(self) -> str:
        """A short plain-text account, one ``name: value`` line per scalar field."""
        lines = [f"{self.KIND or type(self).__name__}"]
        for k, v in self.scalars().items():
            lines.append(f"  {k}: {_fmt(v)}")
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    """A field value as plain JSON (nested results and dataclasses become dicts)."""
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fmt(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.4g}"
    return str(v)


def output_file_names() -> set[str]:
    """Every file name a result type writes: the report's list of what it knows."""
    return {name for cls in RESULT_TYPES.values() for name in cls.FILES.values()}
