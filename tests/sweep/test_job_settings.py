"""Typed job settings in recipes: a hyper-parameter typo is refused at plan time, by the real CLI,
with the key path and a did-you-mean; valid recipes keep the job ids they had before."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from emergence_law.jobkinds import KINDS, validate_definition
from emergence_law.sweep.plan import plan_recipe
from emergence_law.sweep.recipe import RecipeError, load_recipe, parse_recipe

from .conftest import ROOT

TINY = ROOT / "recipes" / "tiny-local.yaml"


def _builtin(hparams: dict[str, Any] | None = None, *, fewshot: Any = (0, 3),
             finetune_hparams: dict[str, Any] | None = None, harness: str = "builtin",
             loss_hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """A recipe of built-in kinds (loss, few-shot, finetune) on one local checkpoint."""
    task: dict[str, Any] = {"harness": harness, "task": "tasks/add.yaml",
                            "fewshot": list(fewshot) if isinstance(fewshot, tuple) else fewshot,
                            "finetune": [{"n_train": [16], "hparams": finetune_hparams or {}}]}
    if hparams is not None:
        task["hparams"] = hparams
    return {"models": [{"name": "m", "model": "models/m", "steps": [10]}],
            "loss": {"corpus": "corpus.txt", "hparams": loss_hparams or {}},
            "tasks": {"add": task}}


def _refused(tree: dict[str, Any]) -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(tree, source="r.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command line, in a fresh process (as a user runs it)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "emergence_law", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_plan_refuses_a_hyperparameter_typo_in_a_shipped_recipe(tmp_path: Path) -> None:
    """`sweep plan` on tiny-local.yaml with `batch_sise`: exit 2, one line with the key path and
    the suggestion, nothing planned; the issue's `{epoch: 3, lerning_rate: ...}` likewise."""
    bad = tmp_path / "tiny-local.yaml"
    bad.write_text(TINY.read_text().replace("{epochs: 2, batch_size: 8}",
                                            "{epochs: 2, batch_sise: 8}"))
    assert "batch_sise" in bad.read_text()
    run = _cli("sweep", "plan", str(bad), cwd=tmp_path)
    assert run.returncode == 2, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert (f"{bad}: tasks.addition.finetune[0].hparams.batch_sise: unknown key "
            "(did you mean 'batch_size'?)") in lines[0]
    assert run.stdout.strip() == ""



def test_the_issues_example_typos_are_refused(tmp_path: Path) -> None:
    """`hparams: {epoch: 3, lerning_rate: ...}` (issue 14), in the same shipped recipe."""
    tree = yaml.safe_load(TINY.read_text())
    bad = tmp_path / "tiny-local.yaml"
    for hparams, expected in (
            ({"epoch": 3, "lerning_rate": 1e-4}, "tasks.addition.finetune[1].hparams.epoch: "
             "unknown key (did you mean 'epochs'?)"),
            ({"lerning_rate": 1e-4}, "hparams.lerning_rate: unknown key (did you mean 'lr'?)")):
        tree["tasks"]["addition"]["finetune"][1]["hparams"] = hparams
        bad.write_text(yaml.safe_dump(tree, sort_keys=False))
        with pytest.raises(RecipeError) as info:
            load_recipe(bad)
        assert f"{bad}: " in str(info.value) and expected in str(info.value)


def test_fewshot_typos_are_refused_not_ignored() -> None:
    """Few-shot jobs used to ignore an unknown key while it changed their id."""
    assert ("r.yaml: tasks.add.hparams.limt: unknown key (did you mean 'limit'?)"
            in _refused(_builtin({"limt": 10})))
    assert "tasks.add.fewshot.hparams.eval_batchsize: unknown key (did you mean " \
        "'eval_batch_size'?)" in _refused(_builtin(fewshot={"shots": [0], "hparams": {
            "eval_batchsize": 64}}))
    # lm-eval few-shot jobs have their own settings
    assert "tasks.add.hparams.inclde_path: unknown key (did you mean 'include_path'?)" in \
        _refused(_builtin({"inclde_path": "x"}, harness="lmeval"))


def test_a_setting_of_another_kind_is_named_as_such() -> None:
    """Task-level hparams reach the few-shot and the finetune jobs: a finetuning setting there
    would give every few-shot job a new id, so it is pointed to the finetune blocks."""
    message = _refused(_builtin({"lr": 1e-5}))
    assert "tasks.add.hparams.lr: not a setting of few-shot jobs (it is one of finetune jobs; " \
        "task-level hparams reach every job of the task: give it in the finetune blocks' " \
        "hparams)" in message
    # in a finetune block it is fine; without few-shot jobs, at task level too
    parse_recipe(_builtin(finetune_hparams={"lr": 1e-5}))
    parse_recipe(_builtin({"lr": 1e-5}, fewshot=None))
    message = _refused(_builtin(fewshot={"shots": [0], "hparams": {"epochs": 1}}))
    assert "tasks.add.fewshot.hparams.epochs: not a setting of few-shot jobs (it is one of " \
        "finetune jobs)" in message


@pytest.mark.parametrize("hparams, expected", [
    ({"lr": "fast"}, "finetune[0].hparams.lr: must be a number, got 'fast'"),
    ({"batch_size": 2.5}, "finetune[0].hparams.batch_size: must be a whole number, got 2.5"),
    ({"schedule": "cosine"}, "hparams.schedule: must be one of linear, constant, got 'cosine'"),
    ({"append_eos": "maybe"}, "hparams.append_eos: must be true or false, got 'maybe'"),
    ({"pack": 0}, "hparams.pack: must be at least 1, got 0"),
    ({"warmup_ratio": 2}, "hparams.warmup_ratio: must be at most 1, got 2"),
])
def test_bad_values_name_the_key(hparams: dict[str, Any], expected: str) -> None:
    assert expected in _refused(_builtin(finetune_hparams=hparams))


def test_loss_settings_are_checked_unless_a_callable_owns_them() -> None:
    assert "loss.hparams.max_token: unknown key (did you mean 'max_tokens'?)" in _refused(
        _builtin(loss_hparams={"max_token": 1000}))
    tree = _builtin()
    tree["loss"] = {"callable": "pkg.mod:loss", "hparams": {"anything": 1}}
    parse_recipe(tree)  # a python loss (the lab's) takes its own settings
    tree = _builtin({"whatever": 1}, harness="python")
    tree["tasks"]["add"]["callable"] = "pkg.mod:job"
    parse_recipe(tree)  # so does a python task


def test_yaml_spellings_of_valid_settings_are_accepted(tmp_path: Path) -> None:
    """PyYAML reads `1e-5` as text and `null` as None: both are valid settings, as before."""
    path = tmp_path / "r.yaml"
    path.write_text("models: [{name: m, model: models/m, steps: [10]}]\n"
                    "tasks:\n  add:\n    task: tasks/add.yaml\n    fewshot: [0]\n"
                    "    finetune:\n      - n_train: [16]\n        hparams: {lr: 1e-5, "
                    "max_grad_norm: null, append_eos: false, max_steps: 1e3, pack: 6}\n",
                    encoding="utf-8")
    recipe = load_recipe(path)
    ft = recipe.tasks[0].finetune[0]
    assert ft.hparams["lr"] == "1e-5"  # kept as written: the definition (and id) is unchanged
    (job,) = [j for j in plan_recipe(recipe).jobs if j.kind == "finetune"]
    typed = validate_definition(job.definition)
    assert typed.hparams.lr == 1e-5 and typed.hparams.max_steps == 1000
    assert typed.hparams.max_grad_norm is None and typed.hparams.append_eos is False


# the job ids the shipped recipes planned to before settings were typed (commit 5cef904)
SHIPPED_IDS = {
    "tiny-local.yaml": (27, "00f390ea77459010f090f7fad21f82da34353183a93db3a08153726450faf20e",
                        ["17b8ce3414043b357054", "332f6fd0e79499b53667"]),
    "pythia.yaml": (2688, "913a2e399379f23986fd27f7314fcb227d091c70e04d4daa10ccc0610502745b",
                    ["77c5f3bdcca3677216f8", "1414961bb85499f44934"]),
    "openllama-snell2024.yaml": (
        520, "15daf90185f6843586a459004a55bf865f8f73e6b99db37cb367cf7c148a5cfe",
        ["3e66111e7aa29d32d631", "3a2220d80d0e248fcb6a"]),
}


@pytest.mark.parametrize("name", sorted(SHIPPED_IDS))
def test_valid_recipes_keep_their_job_ids(name: str) -> None:
    """The store hashes job definitions: typing the settings must not change one of them."""
    n, digest, first = SHIPPED_IDS[name]
    plan = plan_recipe(load_recipe(ROOT / "recipes" / name))
    assert plan.ids[:2] == first and len(plan) == n
    assert hashlib.sha256("\n".join(plan.ids).encode()).hexdigest() == digest
    for job in plan.jobs:  # and every planned job is one its runner accepts
        assert validate_definition(job.definition).kind == job.kind
        assert job.kind in KINDS


def test_an_integer_beyond_float_range_is_named_not_a_crash(tmp_path: Path) -> None:
    """Found by the fuzz test: `params: 1000...0` (401 digits) was an internal OverflowError."""
    tree = yaml.safe_load(TINY.read_text())
    tree["models"][0]["params"] = 10 ** 400
    with pytest.raises(RecipeError, match=r"models\[0\]\.params: expected a finite number, got "
                                          r"an integer of 401 digits"):
        parse_recipe(tree, source="r.yaml", base_dir=tmp_path)
