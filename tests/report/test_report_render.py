"""Properties of the HTML building blocks: any text survives escaping, numbers keep their value."""

from __future__ import annotations

import html
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from report_pagecheck import parse

from emergence_law.report.render import fmt, key_values, nats, table

# text as it can appear in a CSV cell or JSON string (no lone surrogates: not valid UTF-8)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=100, deadline=None)
@given(cell=texts, header=texts)
def test_any_text_is_one_cell_with_the_same_text(cell: str, header: str) -> None:
    page = parse(table([header, "n"], [[cell, 1]]))
    assert page.tags.count("td") == 2 and page.tags.count("th") == 2
    assert not {"script", "img", "a", "style"} & set(page.tags)
    assert html.unescape(fmt(cell)) == cell


@settings(max_examples=100, deadline=None)
@given(key=texts, value=texts)
def test_any_json_key_and_value_stay_text(key: str, value: str) -> None:
    page = parse(key_values({key or "k": value}))
    assert page.tags.count("tr") == 1
    assert set(page.tags) <= {"div", "table", "tbody", "tr", "th", "td", "caption"}


@settings(max_examples=150, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_numbers_keep_three_significant_digits(x: float) -> None:
    shown = html.unescape(fmt(x)).replace(",", "")
    back = float(shown)
    assert math.isclose(back, x, rel_tol=5e-3, abs_tol=0.0) or (x == 0 and back == 0), shown


@given(x=st.integers(min_value=-10**15, max_value=10**15))
def test_integers_are_exact(x: int) -> None:
    assert int(html.unescape(fmt(x)).replace(",", "")) == x


def test_missing_and_special_values() -> None:
    assert fmt(None) == fmt(float("nan")) == "&ndash;"
    assert fmt(True) == "yes" and fmt(False) == "no"
    assert fmt(float("inf")) == "&infin;"
    assert fmt(1.2e9) == "1.2e9" and fmt(3e-5) == "3e-5" and fmt(10000.0) == "10000"
    assert nats(1.8597) == "1.860" and nats("n/a") == "n/a"
