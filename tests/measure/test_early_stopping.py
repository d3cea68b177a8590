"""Early stopping in ``measure.finetune`` (a real tiny model, a real task): the state kept is the
one with the least held-out loss, ``keep_start`` can keep the untouched model, the held-out
examples are never trained on, and bad settings are one-line errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from emergence_law.errors import OptionError, SettingError  # noqa: E402
from emergence_law.measure.finetune import (  # noqa: E402
    FinetuneHparams,
    early_stopping_split,
    finetune_and_evaluate,
    finetune_model,
    training_pool,
)
from emergence_law.measure.tasks import load_task  # noqa: E402

ES = {"early_stopping_every": 2, "early_stopping_patience": 2, "early_stopping_n": 24}


@pytest.fixture(scope="module")
def parity(tmp_path_factory, make_parity_task):
    """'437=' -> '1' (odd) or '0', held-out numbers in the eval split."""
    return make_parity_task(tmp_path_factory.mktemp("parity"), seed=3, n_train=112)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_the_state_kept_has_the_least_heldout_loss(loaded_lm, parity):
    """Every check's loss is recomputed by retraining to that step (same seed, same batches):
    the state returned scores the minimum of them, and equals the run stopped at best_step."""
    from emergence_law.measure.finetune import _heldout_loss, _training_batches

    hp = FinetuneHparams.from_dict({"lr": 3e-2, "min_steps": 12, "max_steps": 12,
                                    "batch_size": 4, "schedule": "constant",
                                    "warmup_ratio": 0.0, **ES})
    pool, held = early_stopping_split(parity, training_pool(parity), hp, 0)
    assert len(held) == 24 and not {e.prompt for e in held} & {e.prompt for e in pool}
    ft, rep = finetune_model(loaded_lm.model, loaded_lm.tokenizer, parity, pool[:32],
                             hparams=hp, seed=5, held_out=held)
    assert rep.steps == 12 and rep.best_step is not None and rep.steps_run <= 12
    rows = _training_batches(loaded_lm.tokenizer, parity, held, 64, True)
    pad = loaded_lm.tokenizer.pad_token_id or 0
    assert _heldout_loss(ft, rows, pad) == pytest.approx(rep.early_stopping_loss, abs=1e-6)
    losses = {}
    for stop in range(2, rep.steps_run + 1, 2):  # the run, stopped at each check
        short = hp.model_copy(update={"min_steps": stop, "max_steps": stop,
                                      "early_stopping_every": None})
        m, _ = finetune_model(loaded_lm.model, loaded_lm.tokenizer, parity, pool[:32],
                              hparams=short, seed=5)
        losses[stop] = _heldout_loss(m, rows, pad)
    assert min(losses, key=losses.get) == rep.best_step < rep.steps_run  # a real choice
    assert losses[rep.best_step] == pytest.approx(rep.early_stopping_loss, abs=1e-5)


def test_keep_start_can_return_the_untouched_model(loaded_lm, parity):
    """A rate so high that every step makes things worse: with keep_start the model returned
    is the one given (0 steps), without it the best of the damaged states."""
    before = _weights(loaded_lm.model)
    hp = {"lr": 5.0, "min_steps": 8, "max_steps": 8, "batch_size": 4, "warmup_ratio": 0.0,
          "schedule": "constant", "max_grad_norm": None, **ES,
          "early_stopping_keep_start": True}
    res = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity, 16, 0,
                                hparams=hp, eval_limit=8)
    assert res.train.best_step == 0
    assert res.train.steps_run == 2 * ES["early_stopping_patience"]  # stopped, not 8
    row = res.to_rows(model="m", checkpoint="c")[0]
    assert row["best_step"] == 0 and row["train_steps"] == 8  # the setting's budget
    res2 = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity, 16, 0,
                                 hparams={**hp, "early_stopping_keep_start": False},
                                 eval_limit=8)
    assert res2.train.best_step >= 2
    # the evaluated copy of the keep_start run is the untouched model: same scores
    base = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity, 16, 0,
                                 hparams={**hp, "lr": 1e-12, "max_steps": 1, "min_steps": 1,
                                          "early_stopping_every": None}, eval_limit=8)
    assert res.eval.metrics["logprob_norm"] == pytest.approx(
        base.eval.metrics["logprob_norm"], abs=1e-6)
    for k, v in loaded_lm.model.state_dict().items():  # the original is never touched
        assert (v == before[k]).all()


def test_heldout_examples_come_from_a_split_of_their_own(tmp_path, loaded_lm):
    rows = [{"prompt": f"{a}=", "choices": ["0", "1"], "answer": a % 2, "split": s}
            for a, s in [(101, "train"), (102, "train"), (103, "train"), (104, "train"),
                         (105, "eval"), (106, "check"), (107, "check")]]
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f)
    hp = FinetuneHparams.from_dict({**ES, "early_stopping_n": 2,
                                    "early_stopping_split": "check"})
    pool, held = early_stopping_split(task, training_pool(task), hp)
    assert len(pool) == 4 and [e.prompt for e in held] == ["106=", "107="]
    with pytest.raises(SettingError, match="has 2"):
        early_stopping_split(task, training_pool(task),
                             hp.model_copy(update={"early_stopping_n": 3}))
    with pytest.raises(SettingError, match="leave nothing"):
        early_stopping_split(task, training_pool(task),
                             hp.model_copy(update={"early_stopping_split": None,
                                                   "early_stopping_n": 4}))


@pytest.mark.parametrize("bad, match", [
    ({"early_stopping_every": 0}, "early_stopping_every"),
    ({"early_stopping_every": "often"}, "early_stopping_every"),
    ({"early_stopping_patience": 0}, "early_stopping_patience"),
    ({"early_stopping_n": -3}, "early_stopping_n"),
    ({"early_stopping_keep_start": "maybe"}, "early_stopping_keep_start"),
    ({"early_stoping_every": 5}, "early_stoping_every"),
])
def test_bad_early_stopping_settings_are_one_line_errors(bad, match):
    with pytest.raises(OptionError, match=match) as exc:
        FinetuneHparams.from_dict(bad)
    assert "\n" not in str(exc.value)


def test_early_stopping_without_heldout_examples_is_a_setting_error(loaded_lm, parity):
    hp = FinetuneHparams.from_dict({**ES, "max_steps": 2})
    with pytest.raises(SettingError, match="held-out") as exc:
        finetune_model(loaded_lm.model, loaded_lm.tokenizer, parity,
                       training_pool(parity)[:4], hparams=hp)
    assert "\n" not in str(exc.value)


def test_off_by_default_and_results_unchanged(loaded_lm, parity):
    """Without early stopping the rows carry no early-stopping keys and training is the same."""
    assert FinetuneHparams().early_stopping_every is None
    hp = {"min_steps": 4, "max_steps": 4, "batch_size": 4}
    a = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity, 16, 0,
                              hparams=hp, eval_limit=8)
    b = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity, 16, 0,
                              hparams=hp, eval_limit=8)
    assert a.train.losses == b.train.losses and a.train.best_step is None
    assert "best_step" not in a.to_rows(model="m", checkpoint="c")[0]
