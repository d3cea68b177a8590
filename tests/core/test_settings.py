"""Typed settings groups (emergence_law.settings) and the option groups of the CLI: a group
object and single keywords give the same result, an unknown keyword is refused like Python
refuses one, and a command's options stand where its group parameter stands."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from emergence_law.commands.options import option_group
from emergence_law.settings import with_overrides
from emergence_law.simulate import RunDesign, TrueLaw, simulate_jump_curve, simulate_observations


@dataclasses.dataclass(frozen=True)
class _Shape:
    width: int = 4
    depth: int = 2


@dataclasses.dataclass(frozen=True)
class _Noise:
    sd: float = 0.1


def test_overrides_go_to_the_group_that_owns_the_field():
    shape, noise = with_overrides("f", {"depth": 5, "sd": 0.5}, _Shape(), _Noise())
    assert shape == _Shape(depth=5) and noise == _Noise(sd=0.5)
    base = _Shape(width=8)
    (same,) = with_overrides("f", {}, base)
    assert same is base


def test_unknown_keyword_is_refused_naming_the_function():
    with pytest.raises(TypeError, match=r"f\(\) got an unexpected keyword argument 'dept'"):
        with_overrides("f", {"dept": 5}, _Shape(), _Noise())
    with pytest.raises(TypeError, match="simulate_observations"):
        simulate_observations(seed=0, n_chekpoints=5)


def test_group_objects_and_keywords_give_the_same_table():
    by_kw, truth_kw = simulate_observations(seed=2, C=1.8, n_checkpoints=8, n_subsets=1)
    by_obj, truth_obj = simulate_observations(seed=2, law=TrueLaw(C=1.8),
                                              design=RunDesign(n_checkpoints=8, n_subsets=1))
    pd.testing.assert_frame_equal(by_kw, by_obj)
    assert truth_kw == truth_obj
    assert len(by_kw) == 8 * (1 + 5)  # one few-shot row and one per data level per checkpoint
    jump, truth = simulate_jump_curve(seed=1, elbow=2.6, n_pre=4, n_post=6)
    assert len(jump) == 10 and truth["emergence_point"] == 2.6
    assert set(jump["task"]) == {"jumptask"} and set(jump["n_eval"]) == {1000}


@dataclasses.dataclass(frozen=True)
class _Opts:
    alpha: int = 1
    beta: str = "b"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @option_group(_Opts, into="opts", options={
        "alpha": typer.Option(1, "--alpha", help="First of the group."),
        "beta": typer.Option("b", "--beta", help="Second of the group."),
    })
    def cmd(first: int = typer.Option(0, "--first", help="Before the group."), *,
            opts: _Opts, last: int = typer.Option(0, "--last", help="After the group.")) -> None:
        typer.echo(f"{first} {opts.alpha} {opts.beta} {last}")

    return app


def test_option_group_stands_where_its_parameter_stands():
    runner = CliRunner()
    res = runner.invoke(_app(), ["--first", "3", "--beta", "x", "--last", "9"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "3 1 x 9"
    help_text = runner.invoke(_app(), ["--help"], env={"COLUMNS": "100"}).output
    order = [help_text.index(f"--{name}") for name in ("first", "alpha", "beta", "last")]
    assert order == sorted(order)
