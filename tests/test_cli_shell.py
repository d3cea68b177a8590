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


def _all_commands() -> list[list[str]]:
    import typer

    from emergence_law.cli import app

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


def test_every_help_renders_cleanly_and_every_option_has_help(capsys, monkeypatch):
    import typer

    from emergence_law.cli import app

    monkeypatch.setenv("COLUMNS", "100")
    commands = _all_commands()
    assert len(commands) > 20
    for path in commands:
        assert main([*path, "--help"]) == 0, path
        text = capsys.readouterr().out
        for junk in ("<bool>", "``", "{", "}"):
            assert junk not in text, (path, junk)
    root = typer.main.get_command(app)
    missing = []
    for path in commands[1:]:
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        missing += [(path, p.opts) for p in cmd.params if not p.help]
    assert missing == []


def test_choices_are_listed_in_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["backtest", "--help"]) == 0
    text = capsys.readouterr().out
    assert "emergence_law|two_step|both" in text and "auto|flops|loss" in text
    assert main(["fit", "--help"]) == 0
    text = capsys.readouterr().out
    assert "log_power|power|no_fewshot" in text and "Usage: emergence-law fit [OPTIONS] OBS" in text
    assert main(["passuntil", "fit", "--help"]) == 0
    assert "pooled|instance|dataset" in capsys.readouterr().out


def test_a_wrong_choice_names_the_option_and_the_choices(capsys):
    assert main(["to-params", "fit.json", "--scaling", "s.csv", "--law", "cubic"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--law" in err and "size" in err and "chinchilla" in err


BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "peft", "lm_eval", "gguf"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from emergence_law.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_extra_is_one_line_naming_the_pip_command(tmp_path):
    """On the core install (no torch) the measuring commands say which extra to install."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n")
    for args in (["measure", "loss", "--model", "m", "--corpus", str(corpus)],
                 ["lab", "run", "--scale", "tiny", "--out", str(tmp_path / "lab")]):
        proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        err = proc.stderr.strip()
        assert err == ("emergence-law: error: this command needs torch, which is not "
                       "installed; install it with pip install 'emergence-law[measure]'"), err


def test_lab_run_help_names_its_three_sweep_recipes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["lab", "run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "three sweep recipes" in text and "two sweep recipes" not in text
    for recipe in ("lab_measure.yaml", "lab_finetune.yaml", "lab_control.yaml"):
        assert recipe in text
    assert "never-pretrained models: the gate" in text


def test_passuntil_run_allocation_is_a_listed_choice(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["passuntil", "run", "--help"]) == 0
    assert "until-r|adaptive" in capsys.readouterr().out
    assert main(["passuntil", "run", "model", "task.yaml", "out.csv", "--allocation",
                 "greedy"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'--allocation'" in err
    assert "'until-r', 'adaptive'" in err and "Traceback" not in err


def test_command_lists_show_each_summary_as_one_sentence(capsys, monkeypatch):
    """A docstring's first paragraph is wrapped in the source; in a command list it used to
    keep those breaks ('... of a' / 'larger model from a ladder of' / 'smaller ones')."""
    monkeypatch.setenv("COLUMNS", "100")
    for path in ([], ["passuntil"], ["measure"], ["sweep"], ["lab"]):
        assert main([*path, "--help"]) == 0
        panel = capsys.readouterr().out.split("Commands")[-1]
        rows = [ln[1:-1] for ln in panel.splitlines() if ln.startswith("│")]
        width = max(len(r) for r in rows)
        starts = [i for i, r in enumerate(rows) if r[:2].strip()]  # a command's name
        for k, i in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(rows)
            for row in rows[i:end - 1]:  # every row of a summary but its last is full
                assert len(row.rstrip()) > width - 20, (path, row.strip())
