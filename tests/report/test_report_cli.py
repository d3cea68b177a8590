"""`emergence-law report DIR [--out FILE]`: writes the page, records provenance, fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from emergence_law.cli import main


def test_report_command_writes_default_file(results_subset, capsys) -> None:
    folder = results_subset(["fit", "backtest"])
    assert main(["report", str(folder)]) == 0
    out = folder / "report.html"
    assert out.is_file()
    assert f"wrote {out}" in capsys.readouterr().out
    # the report command leaves its own provenance record, and the page lists it
    record = json.loads((folder / "run_report.json").read_text())
    assert record["command"] == "report"
    assert record["options"]["results_dir"] == str(folder)
    assert "<h3><code>report</code></h3>" in out.read_text()


def test_report_command_out_option(results_subset, tmp_path: Path) -> None:
    folder = results_subset(["passuntil"])
    target = tmp_path / "elsewhere" / "pu.html"
    assert main(["report", str(folder), "--out", str(target)]) == 0
    assert target.is_file() and not (folder / "report.html").exists()
    assert "PassUntil task scaling law" in target.read_text()
    # no stray provenance file beside a page written elsewhere (the page has its versions)
    assert sorted(p.name for p in target.parent.iterdir()) == ["pu.html"]
    assert not (folder / "run_report.json").exists()


def test_bad_folder_writes_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no files it knows" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_bad_file_is_one_line(results_subset, capsys) -> None:
    folder = results_subset(["fit"])
    (folder / "fit.json").write_text("{oops")
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fit.json: invalid JSON at line 1" in err
    assert not (folder / "report.html").exists()


def test_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    """End to end through the console entry point: exit code 2, one line, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "emergence_law", "report",
                           str(tmp_path / "does-not-exist")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("emergence-law: error: option DIR: results folder ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
