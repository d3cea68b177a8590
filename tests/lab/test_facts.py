"""The knowledge-extraction task family: its held-out split (no evaluated fact is reachable from
finetuning data or few-shot examples; evaluation entities' facts exist only as pretraining
statements), chance exactly 1/4, Zipf-graded entity frequencies, and the word tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from emergence_law.lab.facts import (
    ATTRIBUTES,
    HELDOUT_TEMPLATE,
    FactsConfig,
    FactWorld,
    entity_name,
    multiple_choice_task,
)


@pytest.fixture(scope="module")
def world():
    return FactWorld(FactsConfig(n_entities=400, qa_share=0.05))


def test_entity_split_is_disjoint_and_covers_every_frequency(world):
    ev, tr, pool = (set(world.eval_entities), set(world.trace_entities),
                    set(world.pool_entities))
    assert not (ev & tr) and not (ev & pool) and not (tr & pool)
    assert ev | tr | pool == set(range(world.cfg.n_entities))
    # evaluation entities span the Zipf ranks: head, middle and tail
    ranks = np.sort(world.eval_entities)
    assert ranks[0] < 10 and ranks[-1] > world.cfg.n_entities - 10


@pytest.fixture(scope="module", params=["interleaved", "head-pool", "head-pool coded"])
def any_split_world(request):
    split, *coded = request.param.split()
    return FactWorld(FactsConfig(n_entities=400, qa_share=0.05, split=split,
                                 extraction="coded" if coded else "direct",
                                 question_templates=8, balanced_eval=bool(coded)))


def test_no_evaluated_fact_is_reachable_from_finetuning_or_fewshot_data(any_split_world):
    world = any_split_world
    task = multiple_choice_task(world, n_eval=10_000, shots=3)
    eval_ents = {r["entity"] for r in task.splits["eval"]}
    assert len(task.splits["eval"]) == 4 * len(world.eval_entities)  # every evaluated fact
    for split in ("train", "fewshot"):
        texts = [r["prompt"] for r in task.splits[split]]
        assert not eval_ents & {w for t in texts for w in t.split()}
    prefix = task.fewshot_prefix().split()
    assert not eval_ents & set(prefix)
    # the evaluated questions never occur in pretraining: QA lines name trace entities only
    rng = np.random.default_rng(0)
    rows = world.sample_texts(300, rng)
    qa_ents = set()
    for row in rows:
        for line in row.split(" . "):
            if line.startswith("q :"):
                qa_ents |= {w for w in line.split() if w.startswith("e") and w[1:].isdigit()}
    assert qa_ents and qa_ents <= {entity_name(e) for e in world.trace_entities}
    # ... while their facts are in pretraining as statements, never in the held-out template
    held = {ATTRIBUTES[a][0][HELDOUT_TEMPLATE] for a in ATTRIBUTES}
    joined = " ".join(rows)
    assert any(f" {entity_name(e)} " in f" {joined} " for e in world.eval_entities[:5])
    for phrase in held:
        if phrase not in {t for a in ATTRIBUTES for t in ATTRIBUTES[a][0][:HELDOUT_TEMPLATE]}:
            assert f" {phrase} " not in joined


def test_head_pool_split_evaluates_the_tail_and_finetunes_on_the_head(any_split_world):
    """``head-pool``: evaluation entities are the rarest quarter, every one rarer than any pool
    or trace entity, and no evaluated entity is in any finetuning batch, early-stopping
    question or few-shot context of the probe."""
    from emergence_law.lab.facts_probe import probe_items

    world = any_split_world
    ev, pool = world.eval_entities, world.pool_entities
    n = world.cfg.n_entities
    assert len(ev) == n // 4 and not set(ev) & set(pool) | set(world.trace_entities) & set(ev)
    if world.cfg.split == "head-pool":
        assert ev.min() > max(pool.max(), world.trace_entities.max())
        assert world.probs[ev].max() < world.probs[pool].min()
    else:  # interleaved: every frequency is evaluated
        assert ev.min() < 10 and ev.max() > n - 10
    ev_ids = {world.vocab[entity_name(int(e))] for e in ev}
    ent0 = world.vocab[entity_name(0)]
    for it in probe_items(world):
        named = [t for t in it.context if t >= ent0]
        assert len(named) == 4 and named[-1] in ev_ids  # 3 examples, then the question
        assert not ev_ids & set(named[:-1])  # the examples name pool entities only
    # the probe's finetuning questions (any D) and early-stopping questions: pool only
    pool_names = {entity_name(int(e)) for e in pool}
    assert {r["entity"] for r in world.pool_items()} == pool_names


def test_unknown_split_is_refused():
    from emergence_law.errors import OptionError

    with pytest.raises(OptionError, match="split"):
        FactWorld(FactsConfig(n_entities=40, split="tail"))


def test_chance_is_exactly_one_quarter_for_a_fact_blind_scorer(world):
    """A scorer that never looks at the entity (e.g. always the alphabetically first value)
    is right 1/4 of the time: the distractors are uniform, the true value uniformly placed."""
    items = FactWorld(FactsConfig(n_entities=2000)).eval_items()
    hits = sum(int(min(range(4), key=lambda i, r=r: r["choices"][i]) == r["answer"])
               for r in items)
    assert binomtest(hits, len(items), 0.25).pvalue > 0.01


def test_zipf_frequencies_are_graded(world):
    rng = np.random.default_rng(1)
    rows = world.sample_texts(400, rng)
    counts = np.zeros(world.cfg.n_entities)
    for row in rows:
        for w in row.split():
            if w.startswith("e") and w[1:].isdigit():
                counts[int(w[1:])] += 1
    assert counts[:10].mean() > 10 * counts[-100:].mean() > 0


def test_word_tokenizer_matches_the_world_ids(world):
    pytest.importorskip("transformers")
    from emergence_law.lab.facts import build_word_tokenizer

    tok = build_word_tokenizer(world)
    text = world.sample_texts(1, np.random.default_rng(2))[0]
    ids = tok(text).input_ids
    assert ids[0] == 2 and ids[1:] == world.encode(text)
    ids_np, mask = world.sample_rows(2, np.random.default_rng(2))
    assert ids_np[0, 0] == 2 and mask[:, 0].all()
    assert tok.decode(ids[1:]) == text


@pytest.mark.slow
def test_probe_pretrains_and_finetunes_a_real_model(tmp_path):
    """The probe behind docs/lab.md's facts tables runs end to end on a tiny world: checkpoints
    with every x-axis candidate and the few-shot accuracy, and finetuning (a checkpoint and the
    never-pretrained control) evaluated on the same items."""
    pytest.importorskip("torch")
    import torch

    from emergence_law.lab.facts_finetune import finetune
    from emergence_law.lab.facts_probe import pretrain, probe_items

    torch.set_num_threads(1)
    world = FactWorld(FactsConfig(n_entities=40, stmts_per_row=4))
    out = tmp_path / "p.pt"
    ckpts, recs = pretrain(world, 16, steps=4, every=2, batch=4, out=out, log=lambda s: None)
    assert sorted(ckpts) == [2, 4] and [r["step"] for r in recs] == [2, 4]
    assert set(recs[0]) >= {"train", "hoz", "hoe", "trz", "tre", "tru", "qap", "fewshot"}
    # --stop: the schedule of 8 steps, checkpoints up to step 4 only
    early, _ = pretrain(world, 16, steps=8, every=2, batch=4, stop=4, log=lambda s: None)
    assert sorted(early) == [2, 4]
    assert torch.load(out)["records"] == recs
    n_items = len(probe_items(world))
    assert n_items == 2 * len(world.eval_entities)  # every other of 4 facts per entity
    for state in (ckpts[4], None):
        r = finetune(world, 16, state, 8, steps=2)
        assert 0.0 <= r["acc"] <= 1.0 and round(r["acc"] * n_items) == r["acc"] * n_items
    # LoRA with early stopping on held-out pool questions: the best checked state is evaluated
    r = finetune(world, 16, ckpts[4], 8, steps=3, method="lora", lora_rank=2, lr=1e-2,
                 check_every=1, n_val=8, patience=1)
    assert 1 <= r["best_step"] <= r["steps_run"] <= 3 and np.isfinite(r["val_loss"])
    assert round(r["acc"] * n_items) == r["acc"] * n_items
    # keep_start: where finetuning only raises the held-out loss (a rate of 30 wrecks the
    # model), the checkpoint as it was is the state evaluated
    wreck = {"steps": 3, "lr": 30.0, "check_every": 1, "n_val": 8, "patience": 2}
    r = finetune(world, 16, ckpts[4], 8, keep_start=True, **wreck)
    assert r["best_step"] == 0 and r["acc"] == recs[-1]["fewshot"]
    assert finetune(world, 16, ckpts[4], 8, **wreck)["best_step"] >= 1


def test_finetuning_budget_scales_with_D():
    from emergence_law.lab.facts_finetune import FT_BATCH, finetune_steps

    assert finetune_steps(2048, 100, None) == finetune_steps(32, 100, None) == 100
    assert finetune_steps(2048, 20, 4) == 4 * 2048 // FT_BATCH == 64
    assert finetune_steps(32, 20, 4) == 20  # at least the fixed budget


def test_uniform_x_axis_sets_weigh_every_entity_alike(world):
    """``tre`` states every fact of every evaluation entity exactly once, in a training
    template (so its mean loss weighs tail entities like head ones); ``tru`` draws entities
    uniformly, not with their Zipf weight."""
    from emergence_law.lab.facts_probe import x_axis_sets

    sets = x_axis_sets(world)
    ev = {world.vocab[entity_name(int(e))] for e in world.eval_entities}
    tre = sets["tre"]
    assert len(tre) == 4 * len(world.eval_entities)
    assert sorted((s[0], s[-2]) for s in tre) == sorted(
        (world.vocab[entity_name(int(e))], world.encode(world.value(int(e), k))[0])
        for e in world.eval_entities for k in range(4))
    assert {s[0] for s in tre} == ev
    heldout = {tuple(world.encode(" ".join(ATTRIBUTES[a][0][HELDOUT_TEMPLATE].split())))
               for a in ATTRIBUTES}
    assert not any(tuple(s[1:-2]) in heldout for s in tre + sets["tru"])
    # uniform: the head entity (Zipf rank 0) is no more frequent than chance allows
    first = np.array([s[0] for s in sets["tru"]])
    n = world.cfg.n_entities
    assert binomtest(int((first == world.vocab[entity_name(0)]).sum()), len(first),
                     1 / n).pvalue > 0.001
    assert len(set(first.tolist())) > 0.9 * n * (1 - np.exp(-len(first) / n))


def test_observation_table_and_elbows(tmp_path):
    """Rows written by the probe load as a valid observation table, and ``elbows`` recovers a
    ReLU elbow from simulated rows on that axis and gives a reason for a flat group."""
    from emergence_law.lab.facts_probe import elbows, observation_row, write_table
    from emergence_law.observations import load_observations

    rng = np.random.default_rng(0)
    rows = []
    for i, loss in enumerate(np.linspace(3.0, 0.1, 30)):
        fs = 0.25 + 0.3 * max(0.0, 1.5 - loss) + rng.normal(0, 0.01)
        rows.append(observation_row(d=32, params=1000, step=100 * (i + 1), tokens_per_step=10,
                                    loss=loss, value=fs, n_eval=1000))
        ft = 0.25 + 0.3 * max(0.0, 2.2 - loss) + rng.normal(0, 0.01)
        rows.append(observation_row(d=32, params=1000, step=100 * (i + 1), tokens_per_step=10,
                                    loss=loss, value=ft, n_eval=1000, n_train=128, subset=0))
        rows.append(observation_row(d=32, params=1000, step=100 * (i + 1), tokens_per_step=10,
                                    loss=loss, value=0.25 + rng.normal(0, 0.01),
                                    n_eval=1000, n_train=32, subset=0))
    path = write_table(rows, tmp_path / "t.csv")
    obs = load_observations(path)
    assert len(obs) == 90 and set(obs["setting"]) == {"fewshot", "finetune"}
    e = elbows(path)
    assert abs(e["fewshot"]["elbow"] - 1.5) < 0.1 and abs(e["D=128"]["elbow"] - 2.2) < 0.1
    lo, hi = e["D=128"]["interval"]
    assert lo <= e["D=128"]["elbow"] <= hi
    assert "error" in e["D=32"]


@pytest.mark.parametrize("extraction", ["direct", "coded"])
def test_balanced_eval_makes_any_fact_blind_ranking_score_exactly_one_quarter(extraction):
    """The gate's reference: with ``balanced_eval`` every value is the true answer equally often
    per attribute among the probe's evaluated items, so any fixed ranking of the values (an
    answer prior learned from D finetuning questions) has expected accuracy exactly 1/4 over
    the uniform distractors: (1/10) sum_r C(r, 3) / C(9, 3) = 210 / 840. Without balancing the
    drawn facts give such a prior a bias (0.27 measured on the head-pool tail)."""
    from math import comb

    from emergence_law.lab.facts_probe import probe_items

    world = FactWorld(FactsConfig(split="head-pool", balanced_eval=True, extraction=extraction))
    items = probe_items(world)
    ent0 = world.vocab[entity_name(0)]
    per_value: dict[int, int] = {}  # true value token -> count (a token names its attribute
    for it in items:                # unless values are shared)
        per_value[it.choices[0]] = per_value.get(it.choices[0], 0) + 1
    # each value is the true answer equally often (per attribute; pooled when values are shared)
    assert len(set(per_value.values())) == 1
    assert len(per_value) == (10 if extraction == "coded" else 20)  # attributes 0 and 2
    assert len({int(e) for it in items for e in it.context if e >= ent0}) > 0
    rng = np.random.default_rng(0)
    for _ in range(20):
        rank = {}  # a random ranking of each attribute's 10 values (0 = lowest)
        for k in (0, 2):
            toks = [world.vocab[v] for v in world.values(k)]
            rank |= dict(zip(toks, rng.permutation(10).tolist(), strict=True))
        expected = sum(c * comb(int(rank[v]), 3) / comb(9, 3) for v, c in per_value.items())
        if extraction == "direct":  # uniform distractors: exact
            assert expected / len(items) == pytest.approx(0.25, abs=1e-12)
        # realised accuracy of the ranking on the drawn distractors
        hits = sum(int(max(it.choices, key=lambda t: rank[t]) == it.choices[0])
                   for it in items)
        assert binomtest(hits, len(items), 0.25).pvalue > 0.001
    # every evaluated attribute column is a balanced set of values (both extractions)
    for k in range(4):
        col = world.facts[world.eval_entities, k]
        assert np.bincount(col, minlength=10).tolist() == [len(col) // 10] * 10


def test_coded_questions_name_the_attribute_only_by_a_code_word():
    """``extraction="coded"``: values shared by all attributes, each entity's 4 values
    distinct, the distractors are the entity's other 3 values (so knowing *a* value of the
    entity without the attribute is worth 1/4), the question's only attribute cue is one of
    ``question_templates`` code words per attribute, the QA trace uses every code word, and
    the first D pool questions show at most D of them."""
    from emergence_law.errors import OptionError
    from emergence_law.lab.facts import SHARED_VALUES
    from emergence_law.lab.facts_finetune import pool_questions
    from emergence_law.lab.facts_probe import probe_items

    world = FactWorld(FactsConfig(n_entities=400, qa_share=0.05, extraction="coded",
                                  question_templates=8))
    assert all(world.values(k) == SHARED_VALUES for k in range(4))
    assert all(len(set(row)) == 4 for row in world.facts)
    codes = {world.code_word(k, t) for k in range(4) for t in range(8)}
    assert len(codes) == 32 and codes <= set(world.vocab)
    stmt_words = {w for a in ATTRIBUTES for t in ATTRIBUTES[a][0] for w in t.split()}
    q = world.question(7, 2, 5).split()
    assert q == ["q", ":", world.code_word(2, 5), entity_name(7), "?", "a", ":"]
    assert not stmt_words & {w for w in q if w != "a"}  # "a" is in every question alike
    for it in probe_items(world):  # the choices are exactly the entity's 4 values
        e = int(next(t for t in reversed(it.context) if t >= world.vocab[entity_name(0)]))
        vals = {world.vocab[world.value(e - world.vocab[entity_name(0)], k)] for k in range(4)}
        assert set(it.choices) == vals and len(it.choices) == 4
    trace = " ".join(world.sample_texts(400, np.random.default_rng(4))).split()
    assert codes <= set(trace)
    qs, held = pool_questions(world, 0)
    n_facts = 4 * len(world.pool_entities)
    assert len({(e, k) for e, k, _ in qs + held}) == len(qs) + len(held) == n_facts
    assert len({(k, c) for _, k, c in qs[:16]}) <= 16 and len({(k, c) for _, k, c in qs}) == 32
    # every code word of every pool fact, the early-stopping facts in no form among them
    every, held = pool_questions(world, 0, "all-codes")
    assert len(set(every)) == len(every) == 8 * (n_facts - len(held))
    assert not {(e, k) for e, k, _ in held} & {(e, k) for e, k, _ in every}
    assert {e for e, *_ in every + held} <= {int(e) for e in world.pool_entities}
    with pytest.raises(OptionError, match="--pool"):
        pool_questions(world, 0, "some-codes")
    # default worlds are unchanged by the option: one question per attribute
    plain = FactWorld(FactsConfig(n_entities=400))
    assert plain.n_question_templates == 1 and {c for *_, c in pool_questions(plain)[0]} == {0}
    with pytest.raises(OptionError, match="extraction"):
        FactWorld(FactsConfig(n_entities=40, extraction="alias"))


@pytest.mark.slow
def test_probe_cli_keeps_the_world_config_in_the_checkpoint_file(tmp_path):
    """``pretrain --extraction coded --balanced`` stores the world's config, and ``finetune``
    on that file rebuilds the same world (coded questions, balanced facts)."""
    pytest.importorskip("torch")
    import torch

    from emergence_law.lab.facts_probe import main

    out = tmp_path / "c.pt"
    main(["pretrain", "--d", "16", "--steps", "2", "--every", "2", "--out", str(out),
          "--split", "head-pool", "--extraction", "coded", "--question-templates", "4",
          "--qa-share", "0.05", "--balanced"])
    cfg = torch.load(out)["config"]
    assert cfg["extraction"] == "coded" and cfg["balanced_eval"] and cfg["question_templates"] == 4
    table = tmp_path / "t.csv"
    main(["finetune", str(out), "--d", "16", "--steps", "0,2", "--D", "8",
          "--finetune-steps", "1", "--x", "tru", "--table", str(table)])
    import pandas as pd

    t = pd.read_csv(table)
    assert len(t) == 1 and 0 <= t["value"].iloc[0] <= 1


@pytest.mark.slow
def test_probe_xaxis_writes_val_and_the_continuous_metric(tmp_path):
    """``xaxis --x val``: the table's loss is the held-out pretraining loss (the model's own
    mean token loss on ``heldout_rows``), and every checkpoint has an ``acc`` row and a
    ``logprob_norm`` row (log-softmax of the true value over the 4 choices, <= 0, and
    ln 1/4 exactly when the choices tie)."""
    pytest.importorskip("torch")
    import pandas as pd
    import torch

    from emergence_law.lab.facts import FactsConfig, FactWorld
    from emergence_law.lab.facts_probe import (
        corpus_loss,
        fewshot_scores,
        heldout_rows,
        main,
        new_model,
        probe_items,
    )

    out, table = tmp_path / "c.pt", tmp_path / "x.csv"
    main(["pretrain", "--d", "16", "--steps", "4", "--every", "2", "--out", str(out),
          "--split", "head-pool", "--extraction", "coded", "--question-templates", "4",
          "--qa-share", "0.05", "--balanced"])
    main(["xaxis", str(out), "--d", "16", "--x", "val", "--table", str(table)])
    t = pd.read_csv(table)
    assert sorted(t["metric"].unique()) == ["acc", "logprob_norm"]
    assert (t.groupby("checkpoint").size() == 2).all()
    assert (t.loc[t["metric"] == "logprob_norm", "value"] <= 0).all()
    assert t.loc[t["metric"] == "logprob_norm", "chance"].isna().all()
    saved = torch.load(out)
    world = FactWorld(FactsConfig(**saved["config"]))
    model = new_model(world, 16)
    model.load_state_dict(saved["ckpts"][4])
    ids = torch.from_numpy(heldout_rows(world))
    with torch.inference_mode():
        ref = model(input_ids=ids, labels=torch.where(ids == 0, -100, ids)).loss
    last = t[t["checkpoint"] == "step-000004"]
    assert last["loss"].iloc[0] == pytest.approx(float(ref), rel=1e-5)
    assert corpus_loss(model, heldout_rows(world)) == pytest.approx(float(ref), rel=1e-5)
    with torch.no_grad():  # a model whose logits are all equal: every choice ties
        for p in model.lm_head.parameters():
            p.zero_()
    tie = fewshot_scores(model, probe_items(world)[:20])
    assert tie["logprob_norm"] == pytest.approx(np.log(0.25), abs=1e-6)
