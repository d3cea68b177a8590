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


def table_field(role: str, *, float_format: str | None = None, **kwargs: Any) -> Any:
    """A dataclass field holding a pandas table saved as the CSV ``FILES[role]`` (numbers
    written with ``float_format``, e.g. ``"%.6g"``, when given)."""
    return dataclasses.field(metadata={"file": role, "float_format": float_format}, **kwargs)


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

    @classmethod
    def _float_format(cls, name: str) -> str | None:
        return next(f.metadata.get("float_format") for f in dataclasses.fields(cls)
                    if f.name == name)

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
                written[role] = atomic_write_text(
                    out / self.FILES[role],
                    table.to_csv(index=False, float_format=self._float_format(name)))
        written["json"] = write_json(out / self.FILES["json"], self.to_dict())
        return written

    @classmethod
    def load(cls: type[R], out_dir: str | Path) -> R:
        """Read a result saved by :meth:`save`; a bad or missing file names itself."""
        out = Path(out_dir)
        tables = {name: read_csv_table(out / cls.FILES[role])
                  for name, role in cls._table_fields().items()
                  if (out / cls.FILES[role]).is_file()}
        return cls.read(out / cls.FILES["json"], **tables)

    @classmethod
    def read(cls: type[R], path: str | Path, **tables: Any) -> R:
        """Read the JSON record at ``path`` (any name, e.g. the lab's ``emergence_fit_full.json``);
        a bad file or a missing field is a one-line :class:`DataError` naming it."""
        return cls.from_record(read_json(path), str(path), **tables)

    @classmethod
    def from_record(cls: type[R], record: Any, source: str, **tables: Any) -> R:
        """:meth:`from_dict` whose errors name ``source`` (the file the record came from)."""
        try:
            return cls.from_dict(record, **tables)
        except DataError as exc:
            raise DataError(exc.reason, source=source, row=exc.row,
                            column=exc.column) from exc

    def equals(self, other: object) -> bool:
        """Same type, same record and tables that write the same CSV (dataclass ``==`` cannot
        compare frames, and a CSV does not keep dtypes: ``"1"`` reads back as 1)."""
        if type(other) is not type(self) or self.to_dict() != other.to_dict():
            return False
        for name in self._table_fields():
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not _same_csv(
                    a, b, self._float_format(name))):
                return False
        return True

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


def _same_csv(a: Any, b: Any, float_format: str | None) -> bool:
    return bool(a.to_csv(index=False, float_format=float_format)
                == b.to_csv(index=False, float_format=float_format))


def _fmt(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.4g}"
    return str(v)


def read_csv_table(path: str | Path, required: tuple[str, ...] = ()) -> Any:
    """A CSV as a DataFrame (numbers parsed, text kept, header names stripped); an empty or
    malformed file, or a missing ``required`` column, is a one-line DataError naming it."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError("empty file (no header row)", source=str(path)) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot be read as CSV: {first}", source=str(path)) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in required:
        if col not in frame.columns:
            found = ", ".join(frame.columns) or "none"
            raise DataError(f"required column is missing (columns found: {found})",
                            source=str(path), column=col)
    return frame


@dataclasses.dataclass
class TableResult(Result):
    """A result that is one CSV table and no JSON record (``backtest.csv``, ...).

    ``FILES["table"]`` is the CSV; ``REQUIRED`` are the columns a reader needs (a file without
    one is refused naming the file and the column); numbers are written as ``FLOAT_FORMAT``.
    """

    REQUIRED: ClassVar[tuple[str, ...]] = ()
    FLOAT_FORMAT: ClassVar[str | None] = "%.6g"

    table: Any

    def to_dict(self) -> dict[str, Any]:
        """The rows as records (NaN as None): the table is the whole result."""
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"rows": t.to_dict(orient="records")}

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the CSV atomically (a reader never sees half a table); return role -> path."""
        path = Path(out_dir) / self.FILES["table"]
        return {"table": atomic_write_text(path, self.table.to_csv(
            index=False, float_format=self.FLOAT_FORMAT))}

    @classmethod
    def load(cls: type[R], out_dir: str | Path) -> R:
        return cls.read(Path(out_dir) / cls.FILES["table"])

    @classmethod
    def read(cls: type[R], path: str | Path, **extra: Any) -> R:
        """Read the CSV at ``path``, checking the required columns."""
        return cls(table=read_csv_table(path, cls.REQUIRED), **extra)  # type: ignore[call-arg]

    def equals(self, other: object) -> bool:
        return type(other) is type(self) and _same_csv(self.table, other.table,
                                                       self.FLOAT_FORMAT)

    def to_frame(self) -> Any:
        return self.table

    def summary(self) -> str:
        return f"{self.KIND}: {len(self.table)} rows"


def _register_all() -> None:
    """Import every module of this package, so each result type is in :data:`RESULT_TYPES`."""
    import importlib
    import pkgutil

    import emergence_law.results as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def output_file_names() -> set[str]:
    """Every file name a result type writes: the report's list of what it knows."""
    _register_all()
    return {name for cls in RESULT_TYPES.values() for name in cls.FILES.values()}
