"""Small HTML building blocks: escaped text, numbers, tables, JSON and embedded images.

Every piece of text that came from a file goes through :func:`esc` here, so a task name or a CSV
cell can never inject markup into the report. Images are embedded as base64 ``data:`` URIs so
the page needs nothing but itself.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.report.collect import Image

#: a list of numbers longer than this is summarised (n, min, mean, max), not printed
MAX_INLINE_LIST = 8


class Html(str):
    """Markup the report built itself from numbers (an interval "[1.0, 2.0]"): :func:`fmt`
    passes it through unescaped. Never wrap text read from a file in it."""


def esc(value: Any) -> str:
    """Escape anything for HTML text or attribute values."""
    return html.escape(str(value), quote=True)


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def fmt(value: Any) -> str:
    """A number or value as short readable (already escaped) text: 4 significant digits."""
    if isinstance(value, Html):
        return str(value)
    if is_missing(value):
        return "&ndash;"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return esc(f"{int(value):,}" if abs(int(value)) >= 100_000 else int(value))
    if isinstance(value, Number):
        x = float(value)  # type: ignore[arg-type]
        if math.isinf(x):
            return "&infin;" if x > 0 else "&minus;&infin;"
        if x == 0:
            return "0"
        if x.is_integer() and abs(x) < 1e6:
            return esc(int(x))
        if abs(x) >= 1e5 or abs(x) < 1e-3:
            return esc(_short_exponent(f"{x:.3g}"))
        return esc(_short_exponent(f"{x:.4g}"))
    return esc(value)


def nats(value: Any) -> str:
    """A loss in nats with 3 decimals, as the paper's tables give them (1.860, not 1.86)."""
    if isinstance(value, Number) and not isinstance(value, bool) and not is_missing(value):
        return esc(f"{float(value):.3f}")  # type: ignore[arg-type]
    return fmt(value)


def _short_exponent(text: str) -> str:
    """``1.2e+09`` -> ``1.2e9``, ``3e-05`` -> ``3e-5``: shorter, still valid Python/CSV."""
    if "e" not in text:
        return text
    mantissa, exp = text.split("e")
    return f"{mantissa}e{int(exp)}"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and not is_missing(value)


def _cell_class(column: str, value: Any) -> str:
    """Colour success/failure cells so a reader sees them at a glance; text left-aligned."""
    if column.lower() in ("success", "succeeded", "ok", "covered", "emerged") \
            and not is_missing(value):
        truthy = str(value).strip().lower() in ("true", "1", "yes", "1.0")
        return ' class="ok"' if truthy else ' class="bad"'
    if column.lower() == "status" and str(value).strip().lower() in ("failed", "error"):
        return ' class="bad"'
    if _is_text(value):  # long text (a skip reason, a note) wraps in a wide cell, short stays
        return ' class="t long"' if len(value) > 40 else ' class="t"'
    return ""


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None,
          raw_header: bool = False, tall: bool = False,
          formatter: Callable[[Any], str] = fmt) -> str:
    """An HTML table; cells are formatted with ``formatter`` (:func:`fmt`: escaped).

    ``tall`` puts it in a box of limited height that scrolls (long data tables).
    """
    rows = [list(r) for r in rows]
    parts = [f'<div class="scroll{" tall" if tall else ""}"><table>']
    if caption:
        parts.append(f"<caption>{esc(caption)}</caption>")
    cols = [h if raw_header else esc(h) for h in header]
    # a column of text gets a left-aligned header, like its cells
    text = [any(_is_text(r[i]) for r in rows) and all(_is_text(r[i]) or is_missing(r[i])
                                                      for r in rows) for i in range(len(cols))]
    left = ' class="t"'
    parts.append("<thead><tr>" + "".join(f"<th{left if t else ''}>{c}</th>"
                                         for c, t in zip(cols, text, strict=True))
                 + "</tr></thead><tbody>")
    for row in rows:
        cells = "".join(f"<td{_cell_class(str(h), v)}>{formatter(v)}</td>"
                        for h, v in zip(header, row, strict=True))
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def frame_table(frame: pd.DataFrame, max_rows: int, what: str = "rows") -> str:
    """A DataFrame as a table; beyond ``max_rows`` only the first rows, with a count."""
    n = len(frame)
    shown = frame.head(max_rows)
    note = ""
    if n > max_rows:
        note = (f'<p class="note">Showing the first {max_rows:,} of {n:,} {esc(what)} '
                f"({n - max_rows:,} more in the file).</p>")
    elif n == 0:
        note = '<p class="note">The table has a header but no rows.</p>'
    rows = [[_plain(v) for v in rec] for rec in shown.itertuples(index=False, name=None)]
    return note + table([str(c) for c in frame.columns], rows, tall=len(shown) > 25)


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones so :func:`fmt` picks the right branch."""
    return value.item() if isinstance(value, np.generic) else value


def number_summary(values: Sequence[Any]) -> str:
    """``n values: min … max (mean)`` for a long list of numbers (e.g. posterior samples)."""
    arr = np.asarray([v for v in values if isinstance(v, Number) and not is_missing(v)], float)
    if arr.size == 0:
        return f"{len(values)} values"
    return (f"{len(values):,} values: min {fmt(arr.min())}, mean {fmt(arr.mean())}, "
            f"max {fmt(arr.max())}")


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, Number) and not isinstance(v, bool) or v is None for v in value)


def is_columns(value: Any) -> bool:
    """A dict of equal-length lists of scalars (a table stored column-wise, e.g. ``data``)."""
    if not isinstance(value, dict) or len(value) < 2:
        return False
    lists = list(value.values())
    return (all(isinstance(v, list) for v in lists) and len({len(v) for v in lists}) == 1
            and len(lists[0]) > 1
            and all(not isinstance(x, (dict, list)) for v in lists for x in v))


def _is_records(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(v, dict) for v in value)
            and all(not isinstance(x, (dict, list)) for v in value for x in v.values()))


def value_html(value: Any) -> str:
    """One JSON value as compact HTML (lists of numbers inline or summarised)."""
    if _is_number_list(value):
        if len(value) > MAX_INLINE_LIST:
            return number_summary(value)
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        if not value:
            return "[]"
        shown = ", ".join(fmt(v) for v in value[:MAX_INLINE_LIST])
        more = len(value) - MAX_INLINE_LIST
        return shown + (f", &hellip; ({more:,} more)" if more > 0 else "")
    if isinstance(value, (dict, list)):
        import json

        return f"<code>{esc(json.dumps(value, default=str))}</code>"
    return fmt(value)


def flatten(obj: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``(dotted.key, value)`` pairs; lists and column-wise tables stay whole."""
    out: list[tuple[str, Any]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and not is_columns(value):
            out.extend(flatten(value, prefix=f"{name}."))
        else:
            out.append((name, value))
    return out


def key_values(obj: Mapping[str, Any], caption: str | None = None,
               skip: Iterable[str] = ()) -> str:
    """A dict (flattened) as a two-column key/value table; lists of records become sub-tables."""
    skip = set(skip)
    rows = []
    subtables = []
    for key, value in flatten(obj):
        if key in skip:
            continue
        if _is_records(value):
            subtables.append(records_table(value, caption=key))
            continue
        if is_columns(value):
            subtables.append(f'<p class="caption">{esc(key)}</p>'
                             + frame_table(pd.DataFrame(value), max_rows=50))
            continue
        rows.append(f"<tr><th scope=\"row\">{esc(key)}</th><td>{value_html(value)}</td></tr>")
    parts = []
    if rows:
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        parts.append(f'<div class="scroll"><table class="kv">{cap}<tbody>{"".join(rows)}'
                     "</tbody></table></div>")
    parts.extend(subtables)
    return "".join(parts)


def records_table(records: list[dict[str, Any]], caption: str | None = None,
                  max_rows: int = 200) -> str:
    """A list of flat JSON objects as one table (columns in first-seen order)."""
    columns: list[str] = []
    for rec in records:
        columns.extend(k for k in rec if k not in columns)
    frame = pd.DataFrame.from_records(records, columns=columns)
    body = frame_table(frame, max_rows=max_rows)
    return (f'<p class="caption">{esc(caption)}</p>' if caption else "") + body


def json_html(content: Any) -> str:
    """Any JSON document as tables where it has a table's shape, else as a short listing."""
    if is_columns(content):
        return frame_table(pd.DataFrame(content), max_rows=50)
    if isinstance(content, dict):
        return key_values(content)
    if _is_records(content):
        return records_table(content)
    return f'<p class="value">{value_html(content)}</p>'


def figure(image: Image, caption: str) -> str:
    """An embedded PNG (base64 data URI) with a caption naming its file."""
    b64 = base64.b64encode(image.data).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" width="{image.width}" '
            f'height="{image.height}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)} <span class=\"file\">({esc(image.name)})</span>"
            "</figcaption></figure>")
