"""The facts family through ``lab run`` at ``facts-tiny`` (real training, checkpoints, sweeps,
gate, early stopping, PassUntil, summary), its task file's held-out split, and the arithmetic
family left exactly as it was.

``facts-tiny`` is far too small to show emergence; here every stage must really run and write
what the later stages read (docs/lab-facts.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("peft")

from emergence_law.errors import SettingError  # noqa: E402
from emergence_law.lab.families import corpus_of, task_dir  # noqa: E402
from emergence_law.lab.family import SCALES, LabScale, ModelSpec, get_scale  # noqa: E402
from emergence_law.lab.pipeline import run_lab  # noqa: E402
from emergence_law.store import ResultStore  # noqa: E402

ENTITY = re.compile(r"\be(\d{4})\b")


@pytest.fixture(scope="module")
def facts_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("facts-lab")
    res = run_lab("facts-tiny", out, progress=False, threads=1)
    return out, res


def test_checkpoints_reload_with_their_word_tokenizer(facts_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergence_law.lab.facts_lab import world_of

    out, _ = facts_run
    sc = get_scale("facts-tiny")
    world = world_of(sc.facts)
    text = world.statement(3, 1, 0)
    for spec in sc.sizes:
        for step in (0, *sc.checkpoints):  # step 0: the gate's never-pretrained control
            path = out / "models" / spec.name / f"step-{step:06d}"
            model = AutoModelForCausalLM.from_pretrained(path)
            tok = AutoTokenizer.from_pretrained(path)
            assert model.config.hidden_size == spec.d_model
            assert model.config.vocab_size == len(world.words)
            assert tok(text).input_ids == [2, *world.encode(text)]  # BOS, then words
        meta = json.loads((path / "checkpoint.json").read_text())
        assert meta["tokens"] == pytest.approx(sc.steps * sc.batch_size
                                               * corpus_of(sc).tokens_per_row)


def test_recipes_ran_through_the_sweep_runner(facts_run):
    from emergence_law.lab.facts_lab import LOSS_CALLABLE
    from emergence_law.sweep import load_recipe, plan_recipe

    out, _ = facts_run
    store = ResultStore(out / "lab_store.sqlite")
    try:
        n_done = store.counts().get("done")
    finally:
        store.close()
    ids: set[str] = set()
    for name in ("lab_measure.yaml", "lab_finetune.yaml", "lab_control.yaml"):
        recipe = load_recipe(out / name)
        plan = plan_recipe(recipe)
        ids |= set(plan.ids)  # the recipes share the loss jobs of the checkpoints finetuned
        raw = yaml.safe_load((out / name).read_text())
        assert raw["loss"]["callable"] == LOSS_CALLABLE
        assert list(raw["tasks"]) == ["facts-mc"]
    assert n_done == len(ids)  # every job done, once


def test_observations_and_the_x_axis(facts_run):
    from emergence_law.observations import load_observations

    _, res = facts_run
    sc = get_scale("facts-tiny")
    obs = load_observations(res.observations)
    assert set(obs["task"]) == {"facts-mc"}
    fs = obs[(obs["metric"] == "acc") & (obs["setting"] == "fewshot")]
    assert len(fs) == len(sc.sizes) * len(sc.checkpoints) and (fs["chance"] == 0.25).all()
    assert (fs["n_eval"] == sc.n_eval).all()
    for _, r in fs.groupby("model"):  # the held-out pretraining loss (val) falls
        r = r.sort_values("tokens")
        assert r["loss"].iloc[-1] < r["loss"].iloc[0]
    ft = obs[(obs["metric"] == "acc") & (obs["setting"] == "finetune")]
    assert len(ft) == (len(sc.methods) * len(sc.data_amounts) * len(sc.subset_seeds)
                       * sc.n_finetune_checkpoints)


def test_the_x_axis_is_the_held_out_pretraining_loss(facts_run):
    """facts-tiny measures ``val`` (docs/lab.md: it locates 3-shot emergence across pretraining
    seeds and sizes, ``tru`` does not); the loss job's ``val`` is the mean NLL per real token
    of the held-out rows, checked against the model's own loss; ``tru`` stays available."""
    import torch
    from transformers import AutoModelForCausalLM

    from emergence_law.errors import OptionError
    from emergence_law.lab.facts_lab import LOSS_CALLABLE, heldout_rows, loss_job
    from emergence_law.observations import load_observations

    out, res = facts_run
    sc = get_scale("facts-tiny")
    assert sc.facts_axis == get_scale("facts-small").facts_axis == "val"
    recipe = yaml.safe_load((out / "lab_measure.yaml").read_text())
    assert recipe["loss"]["hparams"]["x"] == "val"
    obs = load_observations(res.observations)
    fs = obs[(obs["setting"] == "fewshot") & (obs["model"] == "lab-d32")]
    row = fs.sort_values("tokens").iloc[-1]
    step = int(row["checkpoint"].removeprefix("step-"))
    path = out / "models" / "d32" / f"step-{step:06d}"
    hp = {"facts": recipe["loss"]["hparams"]["facts"], "seed": sc.seed}
    val = loss_job({"model": str(path), "hparams": {**hp, "x": "val"}})[0]
    assert val["loss"] == pytest.approx(row["loss"], rel=1e-6)
    assert val["loss_source"].startswith("val:")
    ids = torch.from_numpy(heldout_rows(sc.facts, sc.seed))
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    with torch.inference_mode():  # HF's own mean over the real (non-padding) tokens
        ref = model(input_ids=ids, labels=torch.where(ids == 0, -100, ids)).loss
    assert val["loss"] == pytest.approx(float(ref), rel=1e-5)
    tru = loss_job({"model": str(path), "hparams": {**hp, "x": "tru"}})[0]
    assert tru["loss_source"].startswith("tru:") and tru["loss"] != val["loss"]
    old = loss_job({"model": str(path), "hparams": hp})[0]  # recipes from before "x": tru
    assert old["loss"] == tru["loss"]
    with pytest.raises(OptionError, match="unknown facts x-axis"):
        loss_job({"model": str(path), "hparams": {**hp, "x": "tre"}})
    with pytest.raises(SettingError, match="facts_axis"):
        LabScale("x", (ModelSpec("d8", 8, 1),), 10, (10,), facts_axis="tre")
    assert LOSS_CALLABLE.endswith(":loss_job")


def test_early_stopping_chose_states(facts_run):
    """Every finetuning job (pretrained and control) ran with early stopping on the held-out
    split; the states kept are real choices among the checks (0 = the unfinetuned model)."""
    from emergence_law.sweep.export import collect_rows

    out, _ = facts_run
    sc = get_scale("facts-tiny")
    es = sc.early_stopping
    store = ResultStore(out / "lab_store.sqlite")
    try:
        rows = collect_rows(store).table
    finally:
        store.close()
    ft = rows[(rows["setting"] == "finetune") & (rows["metric"] == "acc")]
    assert len(ft) and ft["best_step"].notna().all()
    assert (ft["train_steps"] == sc.finetune_steps).all()  # the setting: the budget
    assert (ft["best_step"] % es.every == 0).all()
    assert (ft["best_step"] <= ft["steps_run"]).all()
    assert (ft["steps_run"] <= sc.finetune_steps).all()
    assert (ft["best_step"] < ft["steps_run"]).any()  # patience ended some runs past the best


def test_gate_controls_and_passuntil(facts_run):
    from emergence_law.lab.gate import CONTROL_FILE

    out, res = facts_run
    sc = get_scale("facts-tiny")
    control = pd.read_csv(out / CONTROL_FILE)
    assert len(control) == (len(sc.sizes) * len(sc.methods) * len(sc.data_amounts)
                            * len(sc.subset_seeds))
    assert (control["task"] == "facts-mc").all() and (control["chance"] == 0.25).all()
    counts = pd.read_csv(res.counts)
    assert len(counts) == len(sc.sizes) * sc.passuntil_instances
    assert (counts["task"] == "facts").all() and (counts["trials"] <= sc.passuntil_budget).all()
    assert ((counts["passes"] >= sc.passuntil_r) | counts["censored"]).all()
    assert counts["passes"].sum() > 0  # the checker accepts the value token


def test_summary_loads_through_its_result_type(facts_run):
    from emergence_law.results.lab import LabSummary

    out, res = facts_run
    summary = LabSummary.load(out)
    assert summary.scale["family"] == "facts" and summary.scale["facts"]["extraction"] == "coded"
    assert summary.scale["early_stopping"]["keep_start"] is True
    assert len(summary.gate["settings"]) == 2 * 2  # methods x data amounts
    assert set(summary.answers) >= {"1_fewshot_emergence", "6_gate_finetuning_elicits"}
    assert (out / "plots" / "fewshot_emergence.png").stat().st_size > 5000


def _task_rows(folder: Path) -> dict[str, list[dict]]:
    return {p.stem: [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
            for p in folder.glob("*.jsonl")}


def _fact(world, prompt: str) -> tuple[int, int]:
    """(entity, attribute) a coded question asks about."""
    code = re.search(r"\bt(\d{3})\b", prompt)
    return int(ENTITY.search(prompt).group(1)), int(code.group(1)) // world.cfg.question_templates


def test_task_file_holds_no_evaluated_entity_outside_eval(facts_run):
    """The lab's own task file: evaluation entities only in ``eval``; the all-codes pool, the
    few-shot examples and the early-stopping questions name pool entities only, and no
    early-stopping fact is in ``train`` in any form."""
    from emergence_law.lab.facts_lab import world_of
    from emergence_law.measure.tasks import load_task

    out, _ = facts_run
    sc = get_scale("facts-tiny")
    world = world_of(sc.facts)
    folder = out / task_dir(sc)
    task = load_task(folder / "task.yaml")
    assert task.name == "facts-mc" and task.chance == 0.25
    splits = _task_rows(folder)
    evaluated = {int(e) for e in world.eval_entities}
    pool = {int(e) for e in world.pool_entities}
    assert {_fact(world, r["prompt"])[0] for r in splits["eval"]} <= evaluated
    for name in ("train", "fewshot", "early_stopping"):
        ents = {int(m) for r in splits[name] for m in ENTITY.findall(r["prompt"])}
        assert ents and ents <= pool and not ents & evaluated, name
    train_facts = {_fact(world, r["prompt"]) for r in splits["train"]}
    held = {_fact(world, r["prompt"]) for r in splits["early_stopping"]}
    assert len(held) == sc.early_stopping.n and not held & train_facts
    # every other pool fact, with every code word
    assert len(splits["train"]) == (4 * len(pool) - len(held)) * sc.facts.question_templates
    for r in splits["train"][:50]:  # each row's answer is the fact's value
        e, k = _fact(world, r["prompt"])
        assert r["choices"][r["answer"]] == world.value(e, k)


def test_facts_small_pool_fits_every_data_amount():
    from emergence_law.lab.facts_finetune import pool_questions
    from emergence_law.lab.facts_lab import world_of

    sc = get_scale("facts-small")
    world = world_of(sc.facts)
    train, held = pool_questions(world, sc.seed, pool="all-codes", n_val=sc.early_stopping.n)
    assert len(train) == 73_600 and len(held) == 200 and max(sc.data_amounts) <= len(train)
    assert sc.steps == 1200 and sc.schedule_steps == 2000


def test_a_scale_names_a_known_family_with_its_settings():
    sizes = (ModelSpec("d8", 8, 1),)
    with pytest.raises(SettingError, match="unknown task family"):
        LabScale("x", sizes, 10, (10,), family="chemistry")
    with pytest.raises(SettingError, match="FactsConfig"):
        LabScale("x", sizes, 10, (10,), family="facts")
    with pytest.raises(SettingError, match="lr_steps"):
        LabScale("x", sizes, 10, (10,), lr_steps=5)


def test_arithmetic_family_is_unchanged():
    """The arithmetic scales keep their corpus, tokens and finetuning settings exactly (the
    facts fields default to the old behaviour; a `tiny` run was compared file by file)."""
    from emergence_law.lab.corpus import CorpusConfig, TaskSplit, sample_rows
    from emergence_law.lab.recipe import finetune_hparams

    for name in ("tiny", "small", "medium", "large"):
        sc = SCALES[name]
        assert sc.family == "arithmetic" and sc.facts is None and sc.early_stopping is None
        assert sc.schedule_steps == sc.steps and sc.finetune_pack == 6
        assert finetune_hparams(sc, "full") == {
            "lr": sc.finetune_lr, "batch_size": sc.finetune_batch, "pack": 6,
            "min_steps": sc.finetune_steps, "max_steps": sc.finetune_steps,
            "schedule": "constant", "warmup_ratio": 0.0, "weight_decay": 0.0,
            "max_grad_norm": None, "append_eos": False, "eval_batch_size": 256}
        assert task_dir(sc) == Path("tasks") / "mul-mc"
    sc = SCALES["tiny"]
    corpus = corpus_of(sc)
    assert corpus.tokens_per_row == 79.0
    want = sample_rows(CorpusConfig(mixture=dict(sc.mixture)), TaskSplit.make(seed=sc.seed), 4,
                       np.random.default_rng([0, 1, 7]))
    got = corpus.sample(4, np.random.default_rng([0, 1, 7]))
    assert all((a == b).all() for a, b in zip(want, got, strict=True))


def test_the_cli_offers_every_scale():
    from emergence_law.commands.options import LabScale as CliScale

    assert {s.value for s in CliScale} == set(SCALES)


def test_the_cli_resumes_a_finished_facts_run_without_redoing_work(facts_run, capsys):
    """`emergence-law lab run --scale facts-tiny` on the finished folder: nothing is trained or
    measured again, and the answers are printed."""
    from emergence_law.cli import main

    out, _ = facts_run
    ckpt = out / "models" / "d16" / "step-000040" / "model.safetensors"
    before = ckpt.stat().st_mtime_ns
    store = ResultStore(out / "lab_store.sqlite")
    n_done = store.counts().get("done")
    store.close()
    assert main(["lab", "run", "--scale", "facts-tiny", "--out", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    assert "6_gate_finetuning_elicits:" in capsys.readouterr().out
    store = ResultStore(out / "lab_store.sqlite")
    assert store.counts().get("done") == n_done
    store.close()
    assert ckpt.stat().st_mtime_ns == before


def test_facts_training_resumes_bit_for_bit(tmp_path):
    """Stopped at step 20 and resumed, d16 ends at step 40 with the weights of an uninterrupted
    run (the schedule is `lr_steps` long whatever the stop, the rows of step s are fixed)."""
    import dataclasses

    import torch
    from safetensors.torch import load_file

    from emergence_law.lab.train import train_family_member

    sc = get_scale("facts-tiny")
    spec = sc.sizes[0]
    whole = train_family_member(spec, sc, tmp_path / "a")
    train_family_member(spec, dataclasses.replace(sc, steps=20, checkpoints=(10, 20)),
                        tmp_path / "b")
    resumed = train_family_member(spec, sc, tmp_path / "b")
    a = load_file(whole[-1].path / "model.safetensors")
    b = load_file(resumed[-1].path / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
