"""The one progress factory: the project's columns, extra columns, and a disabled bar."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import TextColumn, TimeRemainingColumn

from emergence_law.progress import progress_bar


def test_columns_extra_fields_and_padding_are_drawn() -> None:
    out = io.StringIO()
    bar = progress_bar("{task.fields[last]}", console=Console(file=out, width=120),
                       description_width=12)
    task = bar.add_task("sweep", total=4, last="job-3")
    with bar:
        bar.advance(task, 3)
    text = out.getvalue()
    assert "sweep       " in text and "3/4" in text and "job-3" in text
    assert isinstance(bar.columns[-1], TextColumn)
    assert any(isinstance(c, TimeRemainingColumn) for c in bar.columns)
    assert not any(isinstance(c, TimeRemainingColumn)
                   for c in progress_bar(remaining=False).columns)


def test_disabled_bar_draws_nothing_and_stderr_bar_leaves_stdout_alone() -> None:
    out = io.StringIO()
    bar = progress_bar(console=Console(file=out), enabled=False)
    with bar:
        bar.advance(bar.add_task("x", total=2), 2)
    assert out.getvalue() == ""
    assert progress_bar(stderr=True).console.stderr
