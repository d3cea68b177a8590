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


def test_every_bar_in_the_project_comes_from_the_factory() -> None:
    """Issue 14: the lab, PassUntil sampling, measure, to-params and fit bars all read the
    same way (bold description, bar, done/total, elapsed first), and no module builds its own
    rich Progress."""
    import re
    from pathlib import Path

    from rich.progress import MofNCompleteColumn

    from emergence_law.commands.measure import _progress_runner
    from emergence_law.fitting.progress import rich_progress
    from emergence_law.lab.pipeline import _progress as lab_bar
    from emergence_law.passuntil.sample import _progress as sample_bar

    out = io.StringIO()
    console = Console(file=out, width=140)
    bars = [lab_bar(), sample_bar(True), _progress_runner("loss")[0]]
    with rich_progress(console) as callback:
        callback("mle", 1, 2)
    for bar in bars:
        assert bar.columns[0].text_format.startswith("[bold]{task.description")
        assert isinstance(bar.columns[2], MofNCompleteColumn)
    lab = lab_bar()
    lab.add_task("finetune", total=3, last="D=16")
    sample = sample_bar(True)
    sample.add_task("sampling", total=4, samples=1234, est="1e-4")
    console.print(lab.make_tasks_table(lab.tasks), sample.make_tasks_table(sample.tasks))
    text = out.getvalue()
    assert "mle" in text and "1/2" in text
    assert "finetune" + " " * 14 in text and "D=16" in text  # padded to 22 characters
    assert "instances, 1,234 samples, PU~1e-4" in text
    src = Path(__file__).resolve().parents[1] / "src" / "emergence_law"
    own = [str(p.relative_to(src)) for p in src.rglob("*.py")
           if p.name != "progress.py" or p.parent != src
           if re.search(r"from rich\.progress import|rich\.progress\.Progress\(", p.read_text())]
    assert own == []
