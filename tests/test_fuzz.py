"""Every command against spoiled inputs and options (issue 13): no traceback, no hang, no exit 0
with a non-finite or out-of-domain number; a refusal is one line and exit 2.

Hypothesis mutates valid tables (observations, PassUntil counts, a model family's losses),
lm-eval result files, fit results and options, then runs the real CLI entry point in this
process (:func:`emergence_law.cli.main`) under a time limit. Examples are derandomized so CI
runs the same ones every time; ``EMERGENCE_FUZZ_SCALE=10`` runs ten times as many, freshly
drawn. The explicit cases at the end are the ones the issue found by hand.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest's importlib mode does not
import contextlib

from fuzz_inputs import (  # noqa: E402
    BAD_NUMBERS,
    COUNTS,
    JUNK,
    LAB,
    ROOT,
    apply_table,
    check_outcome,
    json_paths,
    olmo_runs,
    run_cli,
    set_path,
    table_mutations,
    write_table,
)

os.environ.setdefault("MPLBACKEND", "Agg")
SCALE = int(os.environ.get("EMERGENCE_FUZZ_SCALE", "1"))
#: examples run per test function, recorded for the README's reliability table
RUNS: dict[str, int] = {}


def fuzz_settings(n: int):
    # no shrinking: a failure is reported at once with the draws that made it (derandomized
    # runs reproduce it), rather than after minutes of rerunning commands
    return settings(max_examples=n * SCALE, deadline=None, derandomize=SCALE == 1,
                    suppress_health_check=list(HealthCheck), database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])


def _opt(name: str, good: list[str], bad: list[str] = BAD_NUMBERS) -> st.SearchStrategy:
    """An option: absent (3 in 10), a good value (6 in 10) or a bad one (1 in 10)."""
    return st.sampled_from([0, 0, 0, 1, 1, 1, 1, 1, 1, 2]).flatmap(lambda k: (
        st.just([]) if k == 0 else
        st.sampled_from([[name, v] for v in (good if k == 1 else bad)])))


#: a third of the examples of the newer tests keep the input usable and every option good, so
#: that successful runs (and their outputs' domains) are tested as often as refusals
_CLEAN = st.sampled_from([True, False, False])


def _options(*opts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*opts).map(lambda parts: [x for p in parts for x in p])


def _out(tmp: Path) -> st.SearchStrategy:
    """--out: a fresh folder, an existing file, or a folder under a file."""
    (tmp / "a_file").write_text("x")
    return st.sampled_from([tmp / "out"] * 14 + [tmp / "a_file", tmp / "a_file" / "sub"])


def _verbose(args: list, rc: int, err: str) -> None:
    if os.environ.get("EMERGENCE_FUZZ_VERBOSE"):
        last = [ln for ln in err.splitlines() if ln.startswith("emergence-law")][-1:]
        print(rc, " ".join(map(str, args))[:160], *last, sep="\n   ")


def _run_checked(args: list, out_dir: Path | None, **kw) -> tuple[int, str, str]:
    """Run the CLI on ``args`` and check what every command owes its user
    (:func:`check_outcome`); return its exit code, stdout and stderr."""
    rc, so, se = run_cli(args, **kw)
    _verbose(args, rc, se)
    check_outcome(args, rc, so, se, out_dir)
    return rc, so, se


def _record(name: str, rc: int) -> None:
    key = f"{name} ({'ran' if rc == 0 else 'refused'})"
    RUNS[key] = RUNS.get(key, 0) + 1


# ---------------------------------------------------------------------------------------------
# observation-table commands

_OBS = pd.read_csv(LAB, dtype=str, keep_default_na=False)
_OBS = _OBS[_OBS["metric"].isin(["acc", "logprob_norm"])].reset_index(drop=True)
# two series for compare: the lab's, and a copy that is 0.03 nats better at every checkpoint
_ONE = _OBS[(_OBS["metric"] == "acc") & (_OBS["method"].isin(["full", ""]))]
_TWO = pd.concat([_ONE, _ONE.assign(series="lab-b", model=_ONE["model"] + "-b", loss=(
    _ONE["loss"].astype(float) - 0.03).astype(str))], ignore_index=True)
_OBS_COMMANDS = {
    "fit": lambda: _options(
        st.sampled_from([["--method", "full"]] * 4 + [["--method", "lora-r4"], [],
                                                      ["--method", "x"]]),
        _opt("--metric", ["acc", "logprob_norm"], ["bpb"]),
        _opt("--form", ["log_power", "power", "no_fewshot"], ["cubic"]),
        _opt("--d0", ["3", "10"]), _opt("--min-loss", ["1.9", "2.0"]),
        _opt("--likelihood", ["gaussian", "binomial"], ["t"]),
        _opt("--seed", ["0", "7"], ["-1", "4294967296", "abc"]),
        st.sampled_from([["--posterior", "none"], ["--posterior", "none"],
                         ["--posterior", "bootstrap", "--samples", "10"],
                         ["--posterior", "mcmc", "--samples", "10"],
                         ["--posterior", "none", "--samples", "3"]])),
    "backtest": lambda: _options(
        st.just(["--ft-method", "full", "--workers", "1", "--posterior", "none"]),
        _opt("--method", ["emergence_law", "two_step"], ["x"]),
        _opt("--order-by", ["loss", "flops"], ["x"]),
        _opt("--min-checkpoints", ["3", "20"], ["0", "-1"]),
        _opt("--threshold", ["0.1"]), _opt("--cutoff", ["1.95"]),
        _opt("--seed", ["1"], ["-1"])),
    "ablate": lambda: _options(
        st.just(["--ft-method", "full", "--workers", "1", "--posterior", "none"]),
        st.sampled_from([["--only", "last 6 checkpoints"], ["--only", "-1 smallest data level"],
                         ["--only", "D0 = 10N"], ["--only", "nonsense"]]),
        _opt("--threshold", ["0.1"]), _opt("--cutoff", ["1.95"]), _opt("--d0", ["5"])),
    "compare": lambda: _options(
        st.just(["--ft-method", "full", "--posterior", "bootstrap", "--samples", "10"]),
        st.sampled_from([["--series", "lab-small", "--series", "lab-b"]] * 3 +
                        [["--series", "lab-small", "--series", "lab-small"],
                         ["--series", "lab-small", "--series", "other"],
                         ["--series", "lab-small"]]),
        _opt("--min-loss", ["1.9"])),
}
# the ground-truth command (issue 11) where this install has it
_OBS_COMMANDS["ground-truth"] = lambda: _options(
    _opt("--metric", ["acc", "logprob_norm"], ["x"]),
    _opt("--by", ["model", "series", "none"], ["x"]))


def _installed(names) -> list[str]:
    """The commands among ``names`` that this install's CLI has."""
    import typer

    from emergence_law.cli import app

    have = set(typer.main.get_command(app).commands)
    return sorted(n for n in names if n.split()[0] in have)


@pytest.mark.slow
@fuzz_settings(30)
@given(data=st.data())
def test_fuzz_observation_commands(data):
    name = data.draw(st.sampled_from(_installed(_OBS_COMMANDS)), label="command")
    base = _TWO if name == "compare" else _OBS
    mutations = data.draw(table_mutations(list(base.columns), len(base)), label="mutations")
    suffix = data.draw(st.sampled_from([".csv", ".jsonl", ".parquet"]), label="format")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_table(apply_table(base, mutations), tmp / f"obs{suffix}")
        out = data.draw(_out(tmp), label="out")
        opts = data.draw(_OBS_COMMANDS[name](), label="options")
        task = data.draw(st.sampled_from(["mul-mc"] * 4 + ["nope"]), label="task")
        args = [*name.split(), path, "--task", task, *opts, "--out", out]
        rc, so, se = _run_checked(args, out)
        _record(name, rc)


# ---------------------------------------------------------------------------------------------
# PassUntil counts

_COUNTS = pd.read_csv(COUNTS, dtype=str, keep_default_na=False)


@pytest.mark.slow
@fuzz_settings(18)
@given(data=st.data())
def test_fuzz_passuntil_commands(data):
    name = data.draw(st.sampled_from(["passuntil fit", "passuntil curvature", "passuntil passk"]),
                     label="command")
    clean = data.draw(_CLEAN, label="clean")  # usable counts and good options
    mutations = data.draw(table_mutations(list(_COUNTS.columns), len(_COUNTS), mild_only=clean),
                          label="mutations")
    suffix = data.draw(st.sampled_from([".csv", ".jsonl", ".parquet"]), label="format")
    if clean:
        opts = {"passuntil fit": ["--target-params", "1e6", "--draws", "30"],
                "passuntil curvature": [],
                "passuntil passk": ["--k", "1,10,100"]}[name]
    elif name == "passuntil fit":
        opts = data.draw(_options(
            st.sampled_from([["--target-params", "1e6"], ["--target-params", "1e6"],
                             ["--target-params", "nan"], ["--target-params", "-5"],
                             ["--target-params", "1e300"]]),
            _opt("--level", ["pooled", "dataset", "instance"], ["x"]),
            _opt("--confidence", ["0.9", "0.5"], ["0", "1", "1.5", "nan"]),
            st.just(["--draws", "30"]), _opt("--seed", ["3"], ["-1"]),
            _opt("--task", ["mul"], ["x"])), label="options")
    elif name == "passuntil passk":
        opts = data.draw(_options(
            _opt("--k", ["1,10,100", "5", "1000,1"], ["0", "-1", "1,abc", "", "1e300", "2.5",
                                                       "1,,10", "nan"]),
            _opt("--confidence", ["0.9", "0.5"], ["0", "1", "1.5", "nan"]),
            st.sampled_from([[], ["--scaled"], ["--no-scaled"]]),
            _opt("--task", ["mul"], ["x"])), label="options")
    else:
        opts = data.draw(_options(_opt("--alpha", ["0.05", "0.5"], ["0", "1", "2", "nan"]),
                                  _opt("--task", ["mul"], ["x"])), label="options")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_table(apply_table(_COUNTS, mutations), tmp / f"counts{suffix}")
        out = data.draw(_out(tmp), label="out")
        args = [*name.split(), path, *opts, "--out", out]
        rc, so, se = _run_checked(args, out)
        _record(name, rc)


@pytest.mark.slow
@fuzz_settings(10)
@given(data=st.data())
def test_fuzz_design_passuntil(data):
    """The PassUntil planner on mutated pilot counts and options."""
    clean = data.draw(_CLEAN, label="clean")
    mutations = data.draw(table_mutations(list(_COUNTS.columns), len(_COUNTS), mild_only=clean),
                          label="mutations")
    if clean:
        opts = ["--target-size", "1e6", "--precision", "0.2"]
    else:
        opts = data.draw(_options(
            _opt("--target-size", ["1e6", "3e5"], ["nan", "-5", "1e300", "10", "0"]),
            _opt("--precision", ["0.2", "0.5"], ["0", "nan", "1e-9", "20"]),
            _opt("--budget", ["1e7", "100"], ["0", "-1", "nan", "inf"]),
            _opt("--confidence", ["0.9", "0.5"], ["0", "1", "1.5", "nan"]),
            _opt("--task", ["mul"], ["x"])), label="options")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_table(apply_table(_COUNTS, mutations), tmp / "counts.csv")
        out = data.draw(_out(tmp), label="out")
        args = ["design-passuntil", path, *opts, "--out", out]
        rc, so, se = _run_checked(args, out)
        _record("design-passuntil", rc)


# ---------------------------------------------------------------------------------------------
# lm-eval imports

_V04 = {
    "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.01,
                             "acc_norm,none": 0.52},
                "lambada_openai": {"perplexity,none": 30.5, "acc,none": 0.3}},
    "configs": {"arc_easy": {"output_type": "multiple_choice", "num_fewshot": 0},
                "lambada_openai": {"output_type": "loglikelihood", "num_fewshot": 0}},
    "n-shot": {"arc_easy": 0, "lambada_openai": 0},
    "n-samples": {"arc_easy": {"original": 100, "effective": 100},
                  "lambada_openai": {"original": 100, "effective": 100}},
    "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-70m,revision=step1000"},
}
_SAMPLE = {"doc_id": 0, "target": 1, "arguments": {"gen_args_0": {"arg_0": "q", "arg_1": " a"},
                                                    "gen_args_1": {"arg_0": "q", "arg_1": " b"}},
           "filtered_resps": [[-2.0, False], [-1.0, True]], "metrics": ["acc"], "acc": 1.0}
_OLD = {"results": {"piqa": {"acc": 0.6, "acc_stderr": 0.01, "acc_norm": 0.61},
                    "lambada_openai": {"ppl": 40.0, "acc": 0.3}},
        "versions": {"piqa": 0}, "config": {"model_args": "pretrained=EleutherAI/pythia-v1.1-70m,"
                                                          "revision=step1000", "num_fewshot": 0}}
_FILE_SPOILS = ["none", "none", "none", "latin1", "truncate", "deep", "empty", "binary"]


@pytest.mark.slow
@fuzz_settings(40)
@given(data=st.data())
def test_fuzz_import_lmeval(data):
    base = json.loads(json.dumps(data.draw(st.sampled_from([_V04, _OLD]), label="format")))
    paths = json_paths(base)
    for _ in range(data.draw(st.integers(0, 3), label="n_changes")):
        where = data.draw(st.sampled_from(paths), label="where")
        with contextlib.suppress(KeyError, IndexError, TypeError):
            base = set_path(base, where, data.draw(st.sampled_from(JUNK), label="value"))
        paths = json_paths(base)
    spoil = data.draw(st.sampled_from(_FILE_SPOILS), label="file")
    sample = json.loads(json.dumps(_SAMPLE))
    sample_change = data.draw(st.sampled_from([None, "[1, 2]", "junk"]), label="sample")
    opts = data.draw(_options(
        _opt("--loss-from", ["lambada", "none"], ["wikitext"]),
        _opt("--tokens-per-step", ["2048"]), _opt("--series", ["s"], [""])), label="options")
    out_name = data.draw(st.sampled_from(["o.csv", "o.parquet", "o.jsonl", "o.xlsx", "a_file/x.csv"]),
                         label="out")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a_file").write_text("x")
        res = tmp / "in" / "results_2024-01-01T00-00-00.json"
        res.parent.mkdir()
        text = json.dumps(base, default=str)
        if spoil == "latin1":
            res.write_bytes(text.replace("arc_easy", "arc_\u00e9asy").encode("latin-1"))
        elif spoil == "truncate":
            res.write_text(text[: len(text) // 2])
        elif spoil == "deep":
            res.write_text('{"results": ' + "[" * 50_000 + "]" * 50_000 + "}")
        elif spoil == "empty":
            res.write_text("")
        elif spoil == "binary":
            res.write_bytes(bytes(range(256)) * 4)
        else:
            res.write_text(text)
        line = json.dumps(sample) if sample_change is None else (
            sample_change if sample_change == "[1, 2]" else
            json.dumps({**sample, "filtered_resps": [[]], "arguments": [[1]], "target": [{}]}))
        (res.parent / "samples_arc_easy_2024-01-01T00-00-00.jsonl").write_text(line + "\n")
        target = data.draw(st.sampled_from([res, res.parent]), label="path")
        out = tmp / out_name
        args = ["import-lmeval", target, *opts, "--out", out]
        rc, so, se = _run_checked(args, None)
        if rc == 0:  # what was written is a valid observation table (loss may be missing)
            from emergence_law.observations import read_table, validate_observations

            validate_observations(read_table(out), require_loss=False)
        _record("import-lmeval", rc)


# ---------------------------------------------------------------------------------------------
# fit results: to-params and report

@pytest.fixture(scope="module")
def fit_json(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fit")
    rc, _, err = run_cli(["fit", LAB, "--task", "mul-mc", "--method", "full", "--posterior",
                          "bootstrap", "--samples", "20", "--out", out])
    assert rc == 0, err
    return out / "fit.json"


_FAMILY = pd.DataFrame({"model": [f"m{i}" for i in range(6)],
                        "params": [1.4e9, 3e9, 7e9, 13e9, 34e9, 70e9]})
_FAMILY["loss"] = 1.6 + 80.0 / _FAMILY["params"] ** 0.25


@pytest.mark.slow
@fuzz_settings(14)
@given(data=st.data())
def test_fuzz_to_params_and_report(fit_json, data):
    fit = json.loads(fit_json.read_text())
    paths = [p for p in json_paths(fit) if "samples" not in p and "data" not in p[:1]]
    for _ in range(data.draw(st.integers(0, 2), label="n_changes")):
        where = data.draw(st.sampled_from(paths), label="where")
        with contextlib.suppress(KeyError, IndexError, TypeError):
            fit = set_path(fit, where, data.draw(st.sampled_from(JUNK), label="value"))
        paths = json_paths(fit)
    name = data.draw(st.sampled_from(["to-params", "report"]), label="command")
    fam = apply_table(_FAMILY, data.draw(table_mutations(list(_FAMILY.columns), len(_FAMILY)),
                                         label="family"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "res").mkdir()
        f = tmp / "res" / "fit.json"
        f.write_text(json.dumps(fit, default=str))
        out = data.draw(_out(tmp), label="out")
        if name == "to-params":
            scal = write_table(fam, tmp / "family.csv")
            opts = data.draw(_options(
                _opt("--tokens-per-param", ["20"]), _opt("--law", ["size", "auto"], ["x"]),
                st.sampled_from([["--bootstrap", "20"]] * 4 + [["--bootstrap", "0"]])),
                label="options")
            args = ["to-params", f, "--scaling", scal, *opts, "--out", out]
        else:
            args = ["report", tmp / "res", "--out", out]
        rc, so, se = _run_checked(args, out if name == "to-params" else None)
        _record(name, rc)


# ---------------------------------------------------------------------------------------------
# design: the observation table so far and a candidates CSV (or a --checkpoints grid)

def _design_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated pre-emergence table (few-shot rows and subset 0 of three data levels on the
    five most capable checkpoints, as tests/design does) and 30 runs that could be made."""
    from emergence_law.simulate import simulate_random_table

    obs, truth = simulate_random_table(11)
    pre = obs[obs["loss"] >= truth["emergence_point"]]
    fs, ft = pre[pre["setting"] == "fewshot"], pre[pre["setting"] == "finetune"]
    best = ft.drop_duplicates("checkpoint").nsmallest(5, "loss")["checkpoint"]
    now = ft[(ft["subset"] == 0) & ft["n_train"].isin([100, 1000, 3000])
             & ft["checkpoint"].isin(best)]
    cands = ft.drop(now.index)[["model", "checkpoint", "loss", "n_train", "method", "subset"]]
    return pd.concat([fs, now], ignore_index=True), cands.head(30).reset_index(drop=True)


_DESIGN_OBS, _DESIGN_CANDS = _design_tables()
_DESIGN_CKPTS = _DESIGN_OBS[_DESIGN_OBS["setting"] == "fewshot"][
    ["model", "checkpoint", "loss", "params"]].reset_index(drop=True)


@pytest.mark.slow
@fuzz_settings(4)
@given(data=st.data())
def test_fuzz_design(data):
    cold = data.draw(st.sampled_from([False, False, True]), label="cold start")
    clean = data.draw(_CLEAN, label="clean")
    which = data.draw(st.sampled_from(["obs", "runs", "none"]), label="mutated table")
    runs = _DESIGN_CKPTS if cold else _DESIGN_CANDS
    obs = _DESIGN_OBS[_DESIGN_OBS["setting"] == "fewshot"] if cold else _DESIGN_OBS
    base = obs if which == "obs" else runs
    mutations = ([] if which == "none" else
                 data.draw(table_mutations(list(base.columns), len(base), mild_only=clean),
                           label="mutations"))
    obs, runs = ((apply_table(obs, mutations), runs) if which == "obs" else
                 (obs, apply_table(runs, mutations)))
    suffix = data.draw(st.sampled_from([".csv", ".jsonl", ".parquet"]), label="format")
    opts = ["--budget", "6", "--tables", "2", "--boot", "20", "--max-evals", "2", *(
        ["--levels", "30,300", "--subsets", "1"] if cold else [])] if clean else data.draw(_options(
        st.sampled_from([["--budget", "6"]] * 4 + [["--budget", b] for b in BAD_NUMBERS]),
        st.just(["--tables", "2", "--boot", "20", "--max-evals", "2"]),
        _opt("--seed", ["0", "5"], ["-1", "abc"]),
        _opt("--method", ["full"], ["lora", "x"]),
        _opt("--metric", ["acc"], ["bpb"]),
        _opt("--series", [str(_DESIGN_OBS["series"].iloc[0])], ["nope"]),
        _opt("--task", ["simtask"] * 3, ["nope", ""]),
        (_options(_opt("--levels", ["30,300", "100"], ["0,-1", "abc", "", "30,nan", "1e300"]),
                  _opt("--subsets", ["1", "2"], ["0", "-1", "abc"])) if cold else st.just([]))),
        label="options")
    if "--task" not in opts:
        opts += ["--task", "simtask"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_table(obs, tmp / f"obs{suffix}")
        runs_path = write_table(runs, tmp / "runs.csv")
        out = tmp / "out" if clean else data.draw(_out(tmp), label="out")
        recipe = data.draw(st.sampled_from(
            [[]] * 3 + [["--write-recipe", tmp / "next.yaml"],
                        ["--write-recipe", tmp / "a_file" / "r.yaml", "--harness", "lmeval"],
                        ["--write-recipe", tmp / "p.yaml", "--harness", "python"]]),
            label="recipe")
        args = ["design", path, "--checkpoints" if cold else "--candidates", runs_path, *opts,
                *recipe, "--out", out]
        rc, so, se = _run_checked(args, out)
        if rc == 0 and recipe and Path(recipe[1]).exists():  # the recipe written is plannable
            rc2, so2, se2 = run_cli(["sweep", "plan", recipe[1], "--store", tmp / "s.sqlite"])
            assert rc2 == 0, se2
        _record("design", rc)


# ---------------------------------------------------------------------------------------------
# OLMo ladder files: import-olmo on spoiled evaluation CSVs, ladder on a spoiled import

_OLMO = olmo_runs()


def _olmo_table() -> pd.DataFrame:
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, df in _OLMO.items():
            df.to_csv(Path(tmp) / f"{name}.csv", index=False)
            paths.append(Path(tmp) / f"{name}.csv")
        return read_olmo_ladder(paths).astype(str).replace({"nan": ""})


_LADDER = _olmo_table()


@pytest.mark.slow
@fuzz_settings(12)
@given(data=st.data())
def test_fuzz_import_olmo(data):
    names = list(_OLMO)
    clean = data.draw(_CLEAN, label="clean")
    spoiled = [] if clean else data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True),
                        label="spoiled runs")
    columns = list(_OLMO[names[0]].columns)
    keep = data.draw(st.sampled_from([names, names, names[:2], names[-1:]]), label="files")
    opts = [] if clean else data.draw(_options(
        _opt("--task", ["arc_challenge_rc"], ["arc_challenge_mc", "nope", ""])), label="options")
    rename = data.draw(st.sampled_from([None] * 4 + ["weird", "7B-1xC", "190M-xC"]),
                       label="file name")
    spoil = "none" if clean else data.draw(st.sampled_from(
        ["none"] * 6 + ["empty", "binary", "header", "latin1"]), label="file")
    out_name = data.draw(st.sampled_from(["o.csv", "o.parquet", "o.jsonl"] + (
        [] if clean else ["o.txt", "a_file/o.csv"])), label="out")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a_file").write_text("x")
        paths = []
        for name in keep:
            df = _OLMO[name]
            if name in spoiled or clean:
                df = apply_table(df, data.draw(table_mutations(columns, len(df), mild_only=clean),
                                               label=f"mutations {name}"))
            stem = rename if (rename and name == keep[0]) else name
            paths.append(write_table(df, tmp / f"{stem}.csv"))
        first = paths[0]
        if spoil == "empty":
            first.write_text("")
        elif spoil == "binary":
            first.write_bytes(bytes(range(256)) * 4)
        elif spoil == "header":
            first.write_text(first.read_text().splitlines()[0] + "\n")
        elif spoil == "latin1":
            first.write_bytes(first.read_text().replace("_step", "_st\u00e9p").encode("latin-1"))
        out = tmp / out_name
        args = ["import-olmo", *paths, *opts, "--out", out]
        rc, so, se = _run_checked(args, None)
        if rc == 0:  # what was written is a valid observation table
            from emergence_law.observations import read_table, validate_observations

            validate_observations(read_table(out))
        _record("import-olmo", rc)


@pytest.mark.slow
@fuzz_settings(10)
@given(data=st.data())
def test_fuzz_ladder(data):
    clean = data.draw(_CLEAN, label="clean")
    mutations = data.draw(table_mutations(list(_LADDER.columns), len(_LADDER), mild_only=clean),
                          label="mutations")
    suffix = data.draw(st.sampled_from([".csv", ".jsonl", ".parquet"]), label="format")
    opts = ["--task", "arc_challenge_rc", "--target", "3B", "--n-boot", "20", *data.draw(
        st.sampled_from([[], ["--targets", "all"]]), label="targets")] if clean else data.draw(_options(
        st.sampled_from([["--task", "arc_challenge_rc"]] * 5 + [["--task", "nope"]]),
        st.sampled_from([["--target", "3B"]] * 4 + [["--target", "1B"], ["--target", "190M"],
                                                     ["--target", "nope"]]),
        _opt("--metric", ["len_norm"], ["acc", "bpb", "x"]),
        _opt("--nll-metric", ["bpb"], ["len_norm", "x"]),
        st.sampled_from([[]] * 3 + [["--train", "190M", "--train", "760M"], ["--train", "3B"],
                                    ["--train", "nope"]]),
        _opt("--targets", ["last", "all"], ["x"]),
        st.sampled_from([["--n-boot", "20"]] * 5 + [["--n-boot", "19"], ["--n-boot", "abc"]]),
        _opt("--seed", ["0", "9"], ["-1", "4294967296"])), label="options")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = write_table(apply_table(_LADDER, mutations), tmp / f"obs{suffix}")
        out = tmp / "out" if clean else data.draw(_out(tmp), label="out")
        args = ["ladder", path, *opts, "--out", out]
        rc, so, se = _run_checked(args, out)
        _record("ladder", rc)


# two findings of the fuzz test, fixed in analysis/fewshot_only.py and pinned below


def test_ladder_refuses_one_metric_for_both_steps(tmp_path):
    args = ["ladder", write_table(_LADDER, tmp_path / "obs.csv"), "--task", "arc_challenge_rc",
            "--target", "3B", "--metric", "len_norm", "--nll-metric", "len_norm",
            "--targets", "all", "--n-boot", "20", "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "--nll-metric" in err


def test_ladder_point_forecast_inside_its_interval(tmp_path):
    table = _LADDER.copy()
    value = pd.to_numeric(table["value"]) * 0.5  # every accuracy and bpb halved
    path = write_table(table.assign(value=value), tmp_path / "half.csv")
    args = ["ladder", path, "--task", "arc_challenge_rc", "--target", "3B", "--n-boot", "20",
            "--seed", "9", "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, tmp_path / "o")
    assert rc == 0
    t = pd.read_csv(tmp_path / "o" / "ladder_forecast.csv")
    assert ((t["pred_lower"] <= t["acc_pred"]) & (t["acc_pred"] <= t["pred_upper"])).all()


# ---------------------------------------------------------------------------------------------
# sweep plan: spoiled YAML recipes

_RECIPE = yaml.safe_load((ROOT / "recipes" / "tiny-local.yaml").read_text())
#: recipe values that are wrong in some way, besides the table cells' junk
_RECIPE_JUNK = [*JUNK, "{step}", "../../etc", "x" * 5000, [[]], list(range(200)),
                {"n_train": [16]}, "lora", "builtin", -(10**12), 10**6]
#: changes that keep the recipe valid
_RECIPE_GOOD = [(("seed",), 7), (("device",), "cuda"), (("models", 0, "steps"), [10]),
                (("models", 0, "steps"), list(range(0, 2000, 10))),
                (("tasks", "addition", "fewshot"), [0]), (("tasks", "addition", "fewshot"), []),
                (("models", 0, "tokens_per_step"), 512), (("name",), "other"),
                (("tasks", "addition", "finetune", 0, "n_train"), [8, 16, 32, 64, 128])]
_YAML_SPOILS = ["none"] * 7 + ["empty", "binary", "tabs", "truncate", "aliases", "list"]


@pytest.mark.slow
@fuzz_settings(30)
@given(data=st.data())
def test_fuzz_sweep_plan(data):
    recipe = json.loads(json.dumps(_RECIPE))
    clean = data.draw(_CLEAN, label="clean")
    for where, value in data.draw(st.lists(st.sampled_from(_RECIPE_GOOD), max_size=3),
                                  label="good changes"):
        recipe = set_path(recipe, where, value)
    paths = json_paths(recipe)
    for _ in range(0 if clean else data.draw(st.integers(0, 3), label="n_changes")):
        where = data.draw(st.sampled_from(paths), label="where")
        with contextlib.suppress(KeyError, IndexError, TypeError):
            recipe = set_path(recipe, where, data.draw(st.sampled_from(_RECIPE_JUNK),
                                                       label="value"))
        paths = json_paths(recipe)
    spoil = "none" if clean else data.draw(st.sampled_from(_YAML_SPOILS), label="file")
    opts = data.draw(_options(
        st.sampled_from([[], ["--list"], ["--json"], ["--list", "--json"]]),
        st.sampled_from([["--store", "s.sqlite"]] * 3 + ([] if clean else [
            ["--store", "a_file"], ["--store", "a_file/s.sqlite"], ["--store", "."]]))),
        label="options")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a_file").write_text("x")
        f = tmp / "r.yaml"
        text = yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True)
        if spoil == "empty":
            f.write_text("")
        elif spoil == "binary":
            f.write_bytes(bytes(range(256)) * 4)
        elif spoil == "tabs":
            f.write_text(text.replace("  ", "\t"))
        elif spoil == "truncate":
            f.write_text(text[: len(text) // 2])
        elif spoil == "aliases":  # a small "billion laughs": 10^6 references to one list
            f.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("abcde", "bcdef", strict=True)) + text)
        elif spoil == "list":
            f.write_text(yaml.safe_dump([recipe]))
        else:
            f.write_text(text)
        opts = [tmp / o if isinstance(o, str) and o.startswith(("s.", "a_file", ".")) and
                o != "--store" else o for o in opts]
        args = ["sweep", "plan", f, *opts]
        rc, so, se = _run_checked(args, None, limit_s=60)
        if rc == 0 and "--json" in opts:
            json.loads(so, parse_constant=lambda t: pytest.fail(f"plan printed {t}"))
        _record("sweep plan", rc)


def test_fuzz_counts_are_reported():
    """Print the examples run per command and outcome (for the README's reliability table;
    ``pytest -s`` shows it, EMERGENCE_FUZZ_COUNTS=path also writes it)."""
    if RUNS:
        print("fuzz examples per command:", json.dumps(RUNS, sort_keys=True))
        if os.environ.get("EMERGENCE_FUZZ_COUNTS"):
            Path(os.environ["EMERGENCE_FUZZ_COUNTS"]).write_text(json.dumps(RUNS, indent=1))


# ---------------------------------------------------------------------------------------------
# the cases found by hand (issue 13), each through the real CLI


def _table(tmp: Path, change, name="obs.csv") -> Path:
    df = pd.read_csv(LAB)
    df = change(df)
    return write_table(df, tmp / name) if not name.endswith(".parquet") else (
        df.to_parquet(tmp / name) or tmp / name)


FIT = ["--task", "mul-mc", "--method", "full", "--posterior", "none"]


@pytest.mark.parametrize(("args", "words"), [
    (["fit", LAB, *FIT[:4], "--seed", "-1", "--samples", "20"], "'--seed': -1 is not a seed"),
    (["fit", LAB, *FIT[:4], "--posterior", "bootstrap", "--seed", "-1"], "--seed"),
    (["backtest", LAB, "--task", "mul-mc", "--seed", "-1"], "--seed"),
    (["passuntil", "fit", COUNTS, "--target-params", "1e6", "--seed", "-1"], "--seed"),
    (["fit", LAB, *FIT, "--d0", "inf"], "'--d0': inf is not a finite number"),
    (["passuntil", "fit", COUNTS, "--target-params", "nan"], "--target-params"),
    (["passuntil", "curvature", COUNTS, "--alpha", "2"], "--alpha: a significance level"),
])
def test_bad_options_are_one_line(tmp_path, args, words):
    args = [*args, "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and words in err


def test_out_onto_a_file_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        args = ["fit", LAB, *FIT, "--out", out]
        rc, so, se = run_cli(args)
        check_outcome(args, rc, so, se, None)
        assert rc == 2 and "is a file" in se


@pytest.mark.parametrize(("change", "name", "words"), [
    (lambda d: d.assign(loss=2.0), "obs.csv", "1 distinct loss value"),
    (lambda d: d.assign(loss=pd.to_datetime(d["loss"] * 1e9)), "obs.parquet", "date/time"),
    (lambda d: d.assign(loss=-d["loss"]), "obs.csv", "is negative"),
    (lambda d: pd.concat([d, d]), "obs.csv", "repeats the measurement"),
    (lambda d: d.drop(columns="method"), "obs.csv", "add a 'method' column"),
    (lambda d: d.assign(n_eval=1), "obs.csv", "power-limited"),
    (lambda d: d.assign(value=d["value"].astype(object).where(d.index != 0, True)),
     "obs.jsonl", "truth value"),
])
def test_degenerate_tables_are_refused_in_words(tmp_path, change, name, words):
    path = _table(tmp_path, change, name)
    method = [] if "method" in words else ["--method", "full"]
    args = ["fit", path, "--task", "mul-mc", "--posterior", "none", *method,
            "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and words in err, err


def test_a_second_value_column_and_a_huge_integer(tmp_path):
    text = LAB.read_text().splitlines()
    (tmp_path / "two.csv").write_text("\n".join([text[0] + ",value"] +
                                                [t + ",0.5" for t in text[1:]]) + "\n")
    rows = pd.read_csv(LAB).head(40).to_dict(orient="records")
    lines = [json.dumps({k: (None if pd.isna(v) else v) for k, v in r.items()}) for r in rows]
    lines[3] = lines[3].replace(json.dumps(rows[3]["loss"]), "1" + "0" * 400)
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    for path, words in ((tmp_path / "two.csv", "value.1"), (tmp_path / "big.jsonl", "too large")):
        for cmd in (["fit", path, *FIT], ["backtest", path, "--task", "mul-mc"],
                    ["ablate", path, "--task", "mul-mc"]):
            args = [*cmd, "--out", tmp_path / "o"]
            rc, out, err = run_cli(args)
            check_outcome(args, rc, out, err, None)
            assert rc == 2 and words in err, err


def test_metric_and_method_head_the_summary_and_the_file(tmp_path):
    lab = pd.read_csv(LAB)
    drop = lab.index[(lab["metric"] == "acc")][0]
    path = write_table(lab.drop(index=drop), tmp_path / "minus_one_acc_row.csv")
    args = ["fit", path, *FIT, "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, tmp_path / "o")
    assert rc == 0
    assert "metric acc, finetuning method full" in out.splitlines()[0]
    fit = json.loads((tmp_path / "o" / "fit.json").read_text())
    assert (fit["metric"], fit["method"]) == ("acc", "full")
    rc, out, err = run_cli(["fit", write_table(lab[lab["metric"] != "acc"], tmp_path / "n.csv"),
                            *FIT, "--out", tmp_path / "o2"])
    assert rc == 2 and "choose one with --metric" in err


def test_import_lmeval_loss_from_none_validates_rows(tmp_path):
    bad = json.loads(json.dumps(_V04))
    bad["results"]["arc_easy"]["acc,none"] = 1.7
    bad["config"]["model_num_parameters"] = -5
    f = tmp_path / "results_2024-01-01T00-00-00.json"
    f.write_text(json.dumps(bad))
    args = ["import-lmeval", f, "--loss-from", "none", "--out", tmp_path / "o.csv"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "results_2024" in err
    assert not (tmp_path / "o.csv").exists()


def test_result_files_with_impossible_numbers(fit_json, tmp_path):
    """Found by the fuzz test: a 401-digit percentile crashed the report; an empty family
    table and a text E(D0) crashed to-params."""
    fit = json.loads(fit_json.read_text())
    fit["emergence_point"]["percentiles"]["95"] = 10**400
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "fit.json").write_text(json.dumps(fit))
    args = ["report", tmp_path / "res", "--out", tmp_path / "rep"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "401 digits is too large" in err
    _FAMILY.head(0).to_csv(tmp_path / "empty.csv", index=False)
    args = ["to-params", fit_json, "--scaling", tmp_path / "empty.csv", "--out", tmp_path / "t"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "no rows" in err
    fit = json.loads(fit_json.read_text())
    fit["emergence_point"]["mle"] = "abc"
    (tmp_path / "bad.json").write_text(json.dumps(fit))
    _FAMILY.to_csv(tmp_path / "fam.csv", index=False)
    args = ["to-params", tmp_path / "bad.json", "--scaling", tmp_path / "fam.csv",
            "--out", tmp_path / "t"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "must be a positive loss" in err
    # a family whose losses do not fall with size (a 1-parameter model at an ordinary loss)
    flat = _FAMILY.assign(params=_FAMILY["params"] * 1.1)
    flat.loc[3, "params"] = 1.0
    flat.to_csv(tmp_path / "flat.csv", index=False)
    args = ["to-params", fit_json, "--scaling", tmp_path / "flat.csv", "--bootstrap", "20",
            "--out", tmp_path / "t"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "scaling law is flat" in err


def test_import_olmo_header_only_file_is_one_line(tmp_path):
    """Found by the fuzz test: an OLMo CSV with a header and no rows (text columns) crashed
    with a TypeError from pandas' mean."""
    df = olmo_runs()["190M-1xC"]
    df.head(0).to_csv(tmp_path / "190M-1xC.csv", index=False)
    df.to_csv(tmp_path / "190M-2xC.csv", index=False)
    args = ["import-olmo", tmp_path / "190M-1xC.csv", tmp_path / "190M-2xC.csv",
            "--out", tmp_path / "o.csv"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "190M-1xC.csv: no evaluated steps" in err


def test_sweep_plan_binary_recipe_is_one_line(tmp_path):
    """Found by the fuzz test: a recipe that is not UTF-8 (binary, latin-1) crashed with a
    UnicodeDecodeError."""
    for name, data in (("bin.yaml", bytes(range(256)) * 4), ("l1.yaml", b"name: caf\xe9\n")):
        (tmp_path / name).write_bytes(data)
        args = ["sweep", "plan", tmp_path / name, "--store", tmp_path / "s.sqlite"]
        rc, out, err = run_cli(args)
        check_outcome(args, rc, out, err, None)
        assert rc == 2 and f"{name}: not UTF-8 text" in err, err


def test_len_norm_above_one_is_refused(tmp_path):
    """Found by the fuzz test: OLMo's len_norm (an accuracy) was not checked to lie in [0, 1],
    so ladder forecast accuracies of -2 from a table whose values had been multiplied by 8."""
    value = pd.to_numeric(_LADDER["value"]) * 8
    path = write_table(_LADDER.assign(value=value), tmp_path / "x8.csv")
    args = ["ladder", path, "--task", "arc_challenge_rc", "--target", "3B", "--n-boot", "20",
            "--out", tmp_path / "o"]
    rc, out, err = run_cli(args)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and "x8.csv" in err and "'value'" in err, err


@pytest.mark.parametrize(("opts", "words"), [
    (["--out", "a_file"], "is a file"), (["--out", "a_file/sub"], "is a file"),
    (["--seed", "-1"], "--seed"), (["--seed", "abc"], "--seed"),
    (["--seed", "4294967296"], "--seed"), (["--seed", "1e3"], "--seed"),
])
def test_demo_bad_options_are_one_line(tmp_path, opts, words):
    """demo's option mutations (issue 13): a bad --out or --seed is refused before any work
    (a successful demo takes ~1 min, too long to fuzz; tests/core/test_demo.py runs it)."""
    (tmp_path / "a_file").write_text("x")
    opts = [tmp_path / o if o.startswith("a_file") else o for o in opts]
    args = ["demo", *opts, *([] if "--out" in opts else ["--out", tmp_path / "d"])]
    rc, out, err = run_cli(args, limit_s=30)
    check_outcome(args, rc, out, err, None)
    assert rc == 2 and words in err, err
    assert not (tmp_path / "d").exists()
