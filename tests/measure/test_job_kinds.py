"""The job-kind registry: one place for each kind's settings, checked before a model loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emergence_law.errors import OptionError
from emergence_law.jobkinds import (
    KINDS,
    FinetuneHparams,
    fewshot_kind,
    finetune_kind,
    observation_setting,
    validate_definition,
)

ROOT = Path(__file__).resolve().parents[2]


def test_registry_names_every_kind_once() -> None:
    assert list(KINDS) == ["loss", "fewshot", "lmeval", "finetune", "python"]
    assert [fewshot_kind(h).name for h in ("builtin", "lmeval", "python")] == [
        "fewshot", "lmeval", "python"]
    assert [finetune_kind(h).name for h in ("builtin", "lmeval", "python")] == [
        "finetune", "finetune", "python"]
    assert observation_setting({"kind": "lmeval"}) == "fewshot"
    assert observation_setting({"kind": "python", "setting": "loss"}) == "loss"
    with pytest.raises(OptionError, match=r"job.kind: unknown kind 'fewshoot' \(did you mean "
                                          r"'fewshot'\?"):
        validate_definition({"kind": "fewshoot"})


@pytest.mark.parametrize("definition, message", [
    ({"kind": "loss", "model": "m", "corpus": "c.txt", "hparams": {"batch_sise": 4}},
     "option job.hparams.batch_sise: unknown loss setting (did you mean 'batch_size'?)"),
    ({"kind": "fewshot", "model": "m", "task": "addition", "hparams": {"limt": 4}},
     "option job.hparams.limt: unknown fewshot setting (did you mean 'limit'?)"),
    ({"kind": "finetune", "model": "m", "task": "t", "n_train": 8, "hparams": {"epoch": 1}},
     "option job.hparams.epoch: unknown finetune setting (did you mean 'epochs'?)"),
    ({"kind": "finetune", "model": "m", "task": "t", "n_trian": 8},
     "option job.n_trian: unknown key of a finetune job (did you mean 'n_train'?)"),
    ({"kind": "finetune", "model": "m", "task": "t"}, "option job.n_train: a finetune job "
     "needs 'n_train'"),
    ({"kind": "lmeval", "model": "m", "task": "t", "hparams": {"dtype": "fp61"}},
     "option job.hparams.dtype: must be one of auto, float32, fp32, float16, fp16, bfloat16, "
     "bf16, got 'fp61'"),
    ({"kind": "python", "model": "m"}, "option job.callable: a python job needs 'callable'"),
])
def test_definitions_are_checked_by_their_kinds_model(definition, message) -> None:
    with pytest.raises(OptionError) as info:
        validate_definition(definition)
    assert str(info.value) == message


def test_run_job_refuses_a_typo_before_loading_the_model(tmp_path: Path) -> None:
    """The model path does not exist: the settings error comes first, so nothing was loaded
    (a few-shot typo used to be ignored, a finetuning one found only after loading)."""
    pytest.importorskip("torch")
    from emergence_law.measure.jobs import run_job

    missing = str(tmp_path / "no-such-model")
    with pytest.raises(OptionError, match=r"job.hparams.limt: .*did you mean 'limit'"):
        run_job({"kind": "fewshot", "model": missing, "task": "addition",
                 "hparams": {"limt": 4}})
    with pytest.raises(OptionError, match=r"job.hparams.lerning_rate: .*did you mean 'lr'"):
        run_job({"kind": "finetune", "model": missing, "task": "addition", "n_train": 8,
                 "hparams": {"lerning_rate": 1e-3}})


def test_sweep_execute_records_the_settings_error_as_the_jobs_outcome(tmp_path: Path) -> None:
    from emergence_law.sweep.execute import execute

    out = execute({"kind": "loss", "model": str(tmp_path / "m"), "corpus": "c.txt",
                   "hparams": {"max_token": 10}}, base_dir=tmp_path)
    assert not out.ok
    assert out.error == ("OptionError: option job.hparams.max_token: unknown loss setting "
                         "(did you mean 'max_tokens'?)")


def test_typed_values_keep_the_old_meanings() -> None:
    """YAML spellings (1e-5 and 1e3 as text, 'false'), the few-shot batch fallback, and the
    finetuning defaults that depend on model size (only explicit settings override them)."""
    job = validate_definition({"kind": "finetune", "model": "m", "task": "t", "n_train": "1e3",
                               "hparams": {"lr": "1e-5", "max_steps": "1e3",
                                           "append_eos": "false", "max_grad_norm": None,
                                           "eval_batch_size": 256}})
    assert job.n_train == 1000 and job.subset == 0 and job.method == "full"
    assert job.hparams.training() == {"lr": 1e-5, "max_steps": 1000, "append_eos": False,
                                      "max_grad_norm": None}
    assert job.hparams.eval_batch_size == 256 and job.hparams.drop_overlap is False
    fs = validate_definition({"kind": "fewshot", "model": "m", "task": "t",
                              "hparams": {"batch_size": 7}})
    assert fs.hparams.eval_batch == 7
    assert validate_definition({"kind": "fewshot", "model": "m", "task": "t"}
                               ).hparams.eval_batch == 32
    base = FinetuneHparams(lr=3e-3)
    hp = FinetuneHparams.from_dict({"epochs": 1}, base)
    assert hp.lr == 3e-3 and hp.epochs == 1.0 and base.epochs == 3.0
    with pytest.raises(OptionError, match=r"unknown hyperparameter 'batch_sise' \(did you mean "
                                          r"'batch_size'\?\)"):
        FinetuneHparams.from_dict({"batch_sise": 4})


def test_docs_list_every_kinds_settings() -> None:
    """docs/measure.md's job-settings table names each setting of each built-in kind."""
    text = (ROOT / "docs" / "measure.md").read_text(encoding="utf-8")
    for kind in KINDS.values():
        if kind.settings is None:
            continue
        row = re.search(rf"^\| `{kind.name}` \|(.*)$", text, flags=re.MULTILINE)
        assert row is not None, f"docs/measure.md has no settings row for {kind.name}"
        for name in kind.settings.model_fields:
            assert f"`{name}`" in row.group(1), (kind.name, name)
