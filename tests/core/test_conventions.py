"""Library conventions (issue 14): errors speak Python and the CLI names flags; ``EmergenceLaw``
is a scikit-learn estimator; the sampler is seeded through emcee's public API; no function keeps
state in an attribute."""

from __future__ import annotations

import ast
import inspect
import pickle
from pathlib import Path

import numpy as np
import pytest
import typer

from emergence_law import EmergenceLaw
from emergence_law.cli import FLAGS, app, main
from emergence_law.errors import OptionError, SettingError
from emergence_law.fitting import mle as mle_module
from emergence_law.fitting.mcmc import sample_posterior
from emergence_law.fitting.mle import fit_mle
from emergence_law.fitting.model import ProfileModel, prepare_data
from emergence_law.observations import select_task

SRC = Path(__file__).resolve().parents[2] / "src" / "emergence_law"
#: modules converted to SettingError (issue 14); the rest of the library follows as its owners
#: convert it (the Done-when: no module outside commands/ and cli.py names a flag)
CONVERTED = ["errors.py", "scaling.py", "fitting", "analysis", "passuntil/estimate.py",
             "passuntil/pooled.py", "passuntil/likelihood.py", "passuntil/law.py",
             "passuntil/generators.py", "passuntil/passk.py", "passuntil/sample.py",
             "sweep/executors.py", "measure", "design", "passuntil/allocation.py", "lab/family.py", "lab/pipeline.py",
             "lab/recipe.py", "lab/results.py", "lab/facts.py", "report/html.py"]


@pytest.fixture(scope="module")
def model(sim):
    df, truth = sim
    data = prepare_data(select_task(df, "simtask").rows, form="log_power",
                        likelihood="gaussian", min_loss=truth["emergence_point"])
    return ProfileModel(data, form="log_power", d0=5)


# -- errors --------------------------------------------------------------------------------------
def test_a_setting_error_is_a_value_error_naming_the_parameter_and_pickles():
    e = SettingError("n_samples", "need at least 10 samples, got 1")
    assert isinstance(e, ValueError) and isinstance(e, OptionError)
    assert str(e) == "parameter n_samples: need at least 10 samples, got 1"
    assert (e.param, e.option, e.reason) == ("n_samples", "n_samples",
                                             "need at least 10 samples, got 1")
    back = pickle.loads(pickle.dumps(e))  # raised in a worker process, shown by the parent
    assert type(back) is SettingError and str(back) == str(e) and back.param == "n_samples"
    o = pickle.loads(pickle.dumps(OptionError("--workers", "must be at least 1, got 0")))
    assert isinstance(o, ValueError) and str(o) == "option --workers: must be at least 1, got 0"


def _raises(path: Path, *names: str) -> list[tuple[int, str]]:
    """(line, first argument) of the ``OptionError``/``SettingError(<literal>, ...)`` calls."""
    return [(node.lineno, str(node.args[0].value))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in names
            and node.args and isinstance(node.args[0], ast.Constant)]


def _flag_raises(path: Path) -> list[str]:
    """``OptionError("--flag", ...)`` (or ``SettingError``) calls in one file, as 'file:line flag'."""
    return [f"{path.relative_to(SRC)}:{line} {arg}"
            for line, arg in _raises(path, "OptionError", "SettingError") if arg.startswith("--")]


def _converted_files() -> list[Path]:
    return [p for c in CONVERTED for p in
            ((SRC / c).rglob("*.py") if (SRC / c).is_dir() else [SRC / c])]


def test_converted_library_modules_name_parameters_not_flags():
    files = _converted_files()
    assert len(files) > 25 and all(f.exists() for f in files)
    assert [hit for f in files for hit in _flag_raises(f)] == []


def test_a_parameter_named_like_a_real_option_is_mapped_to_it():
    """A ``SettingError("budget", ...)`` whose ``--budget`` exists must be in FLAGS, else the
    CLI's one line would read ``option budget:`` instead of ``option --budget:``."""
    options = _options(typer.main.get_command(app))
    # same name, another meaning: fit_elbow's ``model`` (the elbow's shape) is not the --model
    # of a checkpoint, a missing ``tokens`` array is not measure's --tokens, the sizes
    # ``TaskScalingLaw.curve(params)`` draws are not passuntil run's --params; no command passes
    # them a value from those flags
    other_meaning = {"model", "tokens", "params"}
    unmapped = sorted({f"{f.relative_to(SRC)}: {arg}" for f in _converted_files()
                       for _, arg in _raises(f, "SettingError")
                       if "--" + arg.replace("_", "-") in options and arg not in FLAGS
                       and arg not in other_meaning})
    assert unmapped == []


def _options(command) -> set[str]:
    subs = getattr(command, "commands", None)
    if subs:
        return set().union(*(_options(s) for s in subs.values()))
    return {o for p in command.params for o in p.opts}


def test_every_flag_of_the_mapping_table_is_a_real_option():
    options = _options(typer.main.get_command(app))
    assert set(FLAGS.values()) <= options, set(FLAGS.values()) - options
    assert FLAGS["n_samples"] == "--samples" and FLAGS["shared_ab"] == "--per-level"


def _library_calls():
    import pandas as pd

    from emergence_law.lab.family import get_scale
    from emergence_law.lab.recipe import split_method
    from emergence_law.measure.finetune import default_hparams, subset_indices
    from emergence_law.passuntil.generators import as_generator
    from emergence_law.passuntil.passk import passk_table, passk_unbiased
    from emergence_law.passuntil.sample import passuntil_sample
    from emergence_law.sweep.executors import ProcessPoolJobExecutor, make_executor

    def sample(**kw):
        return lambda: passuntil_sample(lambda p, n: [], ["p"], checker=lambda i, c: True, **kw)

    return [
        (lambda: passk_unbiased([10], [1], [True], k=0), "--k", "k must be at least 1, got 0"),
        (lambda: passk_table(pd.DataFrame(), [1], confidence=1.5), "--confidence",
         "must lie in (0, 1), got 1.5"),
        (sample(r=0), "--r", "must be at least 1, got 0"),
        (sample(budget=0), "--budget", "must be at least 1, got 0"),
        (sample(batch_size=0), "--batch-size", "must be at least 1, got 0"),
        (lambda: as_generator(42), "generator", "expected a generator or a callable, got int"),
        (lambda: make_executor("local", workers=0), "--workers", "must be at least 1, got 0"),
        (lambda: make_executor("local", address="auto"), "--address",
         "only used with --executor ray"),
        (lambda: make_executor("cluster"), "--executor", "expected 'local' or 'ray', got 'cluster'"),
        (lambda: ProcessPoolJobExecutor(2, threads=0), "--threads", "must be at least 1, got 0"),
        (lambda: subset_indices(10, 0, 0), "--n-train", "must be at least 1, got 0"),
        (lambda: subset_indices(10, 11, 0), "--n-train",
         "11 examples asked for but the training pool has only 10"),
        (lambda: default_hparams(1e9, "adapter"), "--method",
         "unknown method 'adapter' (use full or lora)"),
        (lambda: get_scale("huge"), "--scale", "unknown scale 'huge' (use tiny, small, medium, large, facts-tiny, facts-small)"),
        # no command reaches it (the lab's methods are fixed per scale); shown as --method
        (lambda: split_method("adapter"), "--method",
         "unknown finetuning method 'adapter' (use full or lora-rN)"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_library_raises_name_the_parameter_and_the_cli_its_flag(case):
    """Each converted module, called as a library: the error names the Python parameter; the
    CLI's one line (``option <FLAGS[param]>: reason``) is the one it printed before, for the
    calls a command makes."""
    call, flag, reason = _library_calls()[case]
    with pytest.raises(SettingError) as info:
        call()
    e = info.value
    assert str(e) == f"parameter {e.param}: {reason}" and e.reason == reason
    assert FLAGS.get(e.param, e.param) == flag


@pytest.mark.parametrize(("args", "line"), [
    (["--samples", "5"], "option --samples: need at least 10 samples, got 5"),
    (["--d0", "-1"], "option --d0: D0 must be a positive finite number, got -1.0"),
])
def test_the_cli_names_the_flag_of_a_library_parameter(sim_csv, tmp_path, capsys, args, line):
    rc = main(["fit", str(sim_csv), "--task", "simtask", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.splitlines()
    # the fit command prints its row selection before EmergenceLaw.fit refuses the setting
    assert rc == 2 and err[-1] == f"emergence-law: error: {line}"
    assert sum(ln.startswith("emergence-law") for ln in err) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["ablate", "backtest"])
def test_analyses_refuse_a_bad_setting_once_before_any_fit(sim_csv, tmp_path, capsys, command):
    """EmergenceLaw no longer refuses at construction: the analyses check the settings up front
    (else every job would fail on its own and the command end in 'no fit', exit 1)."""
    rc = main([command, str(sim_csv), "--task", "simtask", "--samples", "5",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("emergence-law: error: option --samples: need at least 10 "
                               "samples, got 5\n")


# -- the estimator convention ---------------------------------------------------------------
def test_init_stores_get_and_set_params_and_repr():
    law = EmergenceLaw(form="power", d0=10, seed=3)
    names = [p for p in inspect.signature(EmergenceLaw).parameters]
    assert list(law.get_params()) == names == list(law.get_params(deep=False))
    assert law.set_params(seed=5, posterior="none") is law
    assert law.get_params()["seed"] == 5 and law.posterior == "none"
    with pytest.raises(SettingError, match=r"^parameter n_sample: not a setting"):
        law.set_params(n_sample=100)
    again = eval(repr(law), {"EmergenceLaw": EmergenceLaw})  # noqa: S307 - our own repr
    assert again.get_params() == law.get_params()
    bad = EmergenceLaw(form="cubic", n_samples=1)  # stored as given, refused only at fit
    assert bad.form == "cubic" and bad.n_samples == 1
    with pytest.raises(SettingError, match="^parameter form: "):
        bad.validate_params()
    assert EmergenceLaw().validate_params().form == "log_power"


@pytest.mark.filterwarnings("ignore::emergence_law.fitting.IdentifiabilityWarning")
def test_sklearn_clone_copies_the_settings(sim):
    clone = pytest.importorskip("sklearn.base").clone
    law = EmergenceLaw(form="power", d0=10, posterior="none", seed=np.int64(7))
    twin = clone(law)  # clone refuses an __init__ that changes what it stores (np.int64 -> int)
    assert twin is not law and twin.get_params() == law.get_params()
    assert clone(EmergenceLaw(form="cubic")).form == "cubic"  # no check at construction
    df, truth = sim
    a = law.fit(df, "simtask", min_loss=truth["emergence_point"])
    b = twin.fit(df, "simtask", min_loss=truth["emergence_point"])
    assert a.emergence_point_mle == b.emergence_point_mle


# -- seeding and hidden state ---------------------------------------------------------------
def test_mcmc_is_reproducible_and_leaves_the_global_generator_alone(model):
    theta = fit_mle(model).theta
    run = lambda seed: sample_posterior(model, theta, n_samples=100, burn=50, min_steps=100,  # noqa: E731
                                        seed=seed).theta
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    a = run(3)
    assert np.random.random() == expected  # the sampler draws from its own seeded generator
    assert np.array_equal(a, run(3))
    assert not np.array_equal(a, run(4))


def test_no_private_emcee_attribute_in_the_library():
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        private = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and n.attr in ("_random", "_moves", "_weights", "_previous_state")]
        assert private == [], str(path.relative_to(SRC))


def test_the_simplex_polish_returns_its_count_instead_of_keeping_it(model):
    res = fit_mle(model)
    theta, nfev = mle_module._simplex_polish(model, res.theta)
    assert nfev > 0 and np.allclose(theta, res.theta, atol=1e-3)
    assert not hasattr(mle_module._simplex_polish, "last_nfev")
    assert fit_mle(model).n_evals == res.n_evals  # the count is the fit's own, every time
