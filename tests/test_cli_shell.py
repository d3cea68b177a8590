"""The CLI shell: help, version, and user errors as one line without a traceback."""

from __future__ import annotations

import subprocess
import sys

from emergence_law import __version__
from emergence_law.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergence_law", *args], capture_output=True,
                          text=True, timeout=120)


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_unknown_command_is_one_line_non_zero():
    proc = run_cli("no-such-command")
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.startswith("emergence-law: error:"), err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from emergence_law.cli import main; main(['--help']); "
            "heavy = [m for m in ('torch', 'transformers', 'ray', 'lm_eval') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_bad_option_value_names_the_option():
    proc = run_cli("--no-such-option")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0], proc.stderr
