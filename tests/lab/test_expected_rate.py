"""The lab's exact PassUntil pass rates (lab/expected_rate.py), budgets from them, and
PassUntil checked against them, on real lab models trained here.

- the accepted-prefix sets are every passing completion: all 19^4 arithmetic completions and
  all V^2 facts-tiny completions decoded the way HFGenerator decodes and run through the lab's
  own checkers;
- the exact rates agree with brute-force sampling (binomial tests that can fail);
- passuntil_job with budgets from the exact rates records expected_rate and each budget;
- PassUntil's per-instance exact intervals cover the exact rates and its unbiased task mean
  is unbiased, over repeated runs on a trained facts-tiny model.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from emergence_law.lab.expected_rate import accepted_prefixes, expected_rates  # noqa: E402
from emergence_law.lab.families import generative_of  # noqa: E402
from emergence_law.lab.family import get_scale  # noqa: E402
from emergence_law.passuntil.generators import HFGenerator  # noqa: E402


@pytest.fixture(scope="module")
def facts_model(tmp_path_factory):
    """facts-tiny's d16, trained by the lab (40 steps): pass rates about 0.02."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergence_law.lab.train import train_family_member

    torch.set_num_threads(1)
    sc = get_scale("facts-tiny")
    ck = train_family_member(sc.sizes[0], sc, tmp_path_factory.mktemp("facts"))[-1]
    return sc, ck, AutoModelForCausalLM.from_pretrained(ck.path), \
        AutoTokenizer.from_pretrained(ck.path)


def _generator(sc, model, tok, seed: int = 0) -> HFGenerator:
    return generative_of(sc).sampler(model, tok, seed)


def _outcomes(gen: HFGenerator, rows: np.ndarray) -> list[str]:
    """The texts HFGenerator returns for these sampled token rows (stopping at EOS or a stop
    token, special tokens skipped, cut at the stop string)."""
    ends = set(gen._stop_ids) | {gen.eos_id}
    cut = []
    for row in rows.tolist():
        k = next((i + 1 for i, t in enumerate(row) if t in ends), len(row))
        cut.append(row[:k])
    texts = gen.tokenizer.batch_decode(cut, skip_special_tokens=True)
    return [gen._truncate(x) for x in texts]


def _assert_accepted_set_exact(sc, gen: HFGenerator, answer: str, vocab: int) -> None:
    g = generative_of(sc)
    prefixes = accepted_prefixes(sc.family, gen.tokenizer, answer, g.max_new_tokens)
    rows = np.array(list(itertools.product(range(vocab), repeat=g.max_new_tokens)))
    passed = np.array([g.check(x, answer) for x in _outcomes(gen, rows)])
    covered = np.zeros(len(rows), dtype=bool)
    for p in prefixes:
        covered |= (rows[:, : len(p)] == p).all(axis=1)
    assert passed.any()
    np.testing.assert_array_equal(passed, covered)


def test_arithmetic_accepted_prefix_is_every_passing_completion():
    from emergence_law.lab.families import corpus_of
    from emergence_law.tinylm import build_tiny_model

    sc = get_scale("tiny")
    tok = corpus_of(sc).tokenizer()
    model = build_tiny_model(len(tok), d_model=16, n_layers=1, n_heads=2)
    gen = _generator(sc, model, tok)
    answer = generative_of(sc).task.examples()[0].answer
    _assert_accepted_set_exact(sc, gen, answer, len(tok))  # all 19^4 completions


def test_facts_accepted_prefixes_are_every_passing_completion(facts_model):
    sc, _, model, tok = facts_model
    gen = _generator(sc, model, tok)
    answer = generative_of(sc).task.examples()[0].answer
    assert len(accepted_prefixes("facts", tok, answer, 2)) == 4  # the value; 3 silent + value
    _assert_accepted_set_exact(sc, gen, answer, len(tok))  # all V^2 completions


def test_accepted_prefixes_refuse_other_decoding_lengths(facts_model):
    from emergence_law.errors import SettingError

    _, _, _, tok = facts_model
    with pytest.raises(SettingError, match="new tokens"):
        accepted_prefixes("facts", tok, "amber", 3)


def test_facts_rates_agree_with_sampling(facts_model):
    sc, _, model, tok = facts_model
    g = generative_of(sc)
    task = g.task
    ex = task.examples()[:6]
    prompts = [task.fewshot_prefix() + e.prompt for e in ex]
    gen = _generator(sc, model, tok, seed=1)
    p = expected_rates(gen, sc.family, prompts, [e.answer for e in ex])
    assert np.all((p > 1e-3) & (p < 0.5))
    n = 3000
    passes = np.array([sum(g.check(o, e.answer) for o in gen.sample(pr, n))
                       for pr, e in zip(prompts, ex, strict=True)])
    pv = [stats.binomtest(int(x), n, float(q)).pvalue for x, q in zip(passes, p, strict=True)]
    assert min(pv) > 0.01 / len(pv)  # Bonferroni at 1%
    # pooled: the total passes against the Poisson-binomial mean and variance
    z = (passes.sum() - n * p.sum()) / np.sqrt(n * np.sum(p * (1 - p)))
    assert abs(z) < 3


def test_arithmetic_rates_agree_with_sampling(tmp_path):
    """A char model in the lab's vocabulary memorising a few lab prompts + answers, so the
    4-digit pass rates are large enough to sample; the lab's prompts, checker and decoding."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from emergence_law.lab.corpus import VOCAB
    from emergence_law.tinylm import make_tiny_lm

    torch.set_num_threads(1)
    sc = get_scale("tiny")
    g = generative_of(sc)
    ex = g.task.examples()[:4]
    prompts = [g.task.fewshot_prefix() + e.prompt for e in ex]
    path = make_tiny_lm(tmp_path / "m", [pr + e.answer + ";" for pr, e in zip(prompts, ex,
                                                                              strict=True)],
                        steps=200, d_model=32, n_layers=1, n_heads=2, seq_len=64, max_len=128,
                        alphabet=VOCAB)
    gen = _generator(sc, AutoModelForCausalLM.from_pretrained(path),
                     AutoTokenizer.from_pretrained(path), seed=2)
    p = expected_rates(gen, sc.family, prompts, [e.answer for e in ex])
    keep = (p > 1e-3) & (p < 0.9)  # rates a few thousand samples resolve
    assert keep.sum() >= 2, p
    p, ex, prompts = p[keep], [e for e, k in zip(ex, keep, strict=True) if k], \
        [pr for pr, k in zip(prompts, keep, strict=True) if k]
    n = 4000
    passes = np.array([sum(g.check(o, e.answer) for o in gen.sample(pr, n))
                       for pr, e in zip(prompts, ex, strict=True)])
    pv = [stats.binomtest(int(x), n, float(q)).pvalue for x, q in zip(passes, p, strict=True)]
    assert min(pv) > 0.01 / len(pv)


def test_passuntil_job_budgets_follow_the_exact_rates(facts_model, tmp_path):
    from emergence_law.lab.expected_rate import CENSOR_ALPHA
    from emergence_law.lab.measure import LabContext, passuntil_job
    from emergence_law.passuntil.rate_budget import budgets_from_rates
    from emergence_law.store import ResultStore

    sc, ck, _, _ = facts_model
    sc = dataclasses.replace(sc, passuntil_instances=6, passuntil_budget=400)
    assert sc.passuntil_budget_from == "expected"
    store = ResultStore(tmp_path / "s.sqlite")
    try:
        rows = pd.DataFrame(passuntil_job(LabContext(sc, store), ck, 1.0))
        again = pd.DataFrame(passuntil_job(LabContext(sc, store), ck, 1.0))  # resumed
    finally:
        store.close()
    want = budgets_from_rates(rows["expected_rate"], sc.passuntil_r, 400, CENSOR_ALPHA)
    np.testing.assert_array_equal(rows["budget"], want)
    assert (rows["trials"] <= rows["budget"]).all()
    assert ((rows["passes"] == sc.passuntil_r) | rows["censored"]).all()
    assert rows["budget"].nunique() > 1  # per instance, not one fixed budget
    pd.testing.assert_frame_equal(rows, again)


def test_passuntil_covers_the_exact_rates_on_a_trained_model(facts_model):
    """Repeated sample-until-2 runs on 8 instances of a trained model: the exact 95% intervals
    cover the exact rate at least 95% of the time (they are conservative), the unbiased task
    mean is unbiased (within 3 standard errors over the runs), budgets from the exact rates
    censor about 5% (one-sided binomial test against 5%)."""
    from emergence_law.lab.expected_rate import CENSOR_ALPHA
    from emergence_law.lab.passuntil_check import exact_check
    from emergence_law.passuntil.rate_budget import budgets_from_rates
    from emergence_law.passuntil.sample import passuntil_sample

    sc, _, model, tok = facts_model
    g = generative_of(sc)
    ex = g.task.examples()[:8]
    prompts = [g.task.fewshot_prefix() + e.prompt for e in ex]
    gen = _generator(sc, model, tok, seed=3)
    p = expected_rates(gen, sc.family, prompts, [e.answer for e in ex])
    budgets = budgets_from_rates(p, 2, 10**6, CENSOR_ALPHA)
    runs = []
    for rep in range(60):
        for i, (pr, e) in enumerate(zip(prompts, ex, strict=True)):
            inst = [{"id": f"i{i}", "prompt": pr,
                     "checker": (lambda out, want=e.answer: g.check(out, want))}]
            runs.append(passuntil_sample(gen, inst, r=2, budget=int(budgets[i]), batch_size=256,
                                         progress=False).assign(model=f"run{rep}",
                                                                expected_rate=p[i]))
    counts = pd.concat(runs, ignore_index=True)
    check = exact_check(counts)
    n = check["n_instances"]
    assert n == 480
    assert stats.binomtest(round(check["coverage"] * n), n, 0.95,
                           alternative="less").pvalue > 0.01
    cens = int(counts["censored"].sum())
    assert stats.binomtest(cens, n, CENSOR_ALPHA, alternative="greater").pvalue > 0.01
    means = np.array([v["estimated_mean_rate"] for v in check["per_model"].values()])
    se = means.std(ddof=1) / np.sqrt(len(means))
    assert abs(means.mean() - p.mean()) < 3 * se


def test_summary_passuntil_block_reports_censoring_curvature_and_the_exact_check():
    """passuntil_prediction on counts that carry expected_rate (simulated sample-until-2 with
    budgets from the rates, 4 sizes on a straight task law): the new keys, and the existing
    ones unchanged in kind."""
    from emergence_law.lab.results import passuntil_prediction
    from emergence_law.passuntil.rate_budget import budgets_from_rates

    rng = np.random.default_rng(0)
    rows = []
    for j, n_params in enumerate([2e4, 4e4, 8e4, 1.6e5]):
        # log(-log PU) linear in log N, instance scatter around it
        pu = np.exp(-np.exp(2.5 - 0.5 * np.log(n_params / 2e4) + rng.normal(0, 0.1, 40)))
        b = budgets_from_rates(pu, 2, cap=10**6)
        k = 2 + rng.negative_binomial(2, pu)
        cens = k > b
        for i in range(40):
            rows.append({"model": f"m{j}", "params": n_params, "task": "t",
                         "instance": f"i{i}", "trials": int(min(k[i], b[i])),
                         "passes": int(rng.binomial(1, 0.5) if cens[i] else 2),
                         "censored": bool(cens[i]), "r": 2, "budget": int(b[i]),
                         "expected_rate": float(pu[i])})
    counts = pd.DataFrame(rows)
    out, law = passuntil_prediction(counts)
    assert law is not None and out["predicted_pass_rate"] > 0
    assert out["censored_fraction"] == pytest.approx(counts["censored"].mean())
    assert out["budget_range"][0] < out["budget_range"][1]
    assert out["curvature"]["shape"] in ("linear", "concave", "convex")
    ex = out["exact_check"]
    assert set(ex["per_model"]) == {"m0", "m1", "m2", "m3"} and ex["n_instances"] == 160
    assert 0.8 <= ex["coverage"] <= 1
    assert out["exact_pass_rate"] == pytest.approx(counts[counts.model == "m3"]
                                                   ["expected_rate"].mean())
    assert isinstance(out["exact_in_interval"], bool)


def test_counts_without_expected_rates_keep_their_block():
    """Counts made before the exact rates (no ``expected_rate``) still get the passuntil block,
    without its exact check; the shipped counts carry the rates and get it."""
    from emergence_law.lab.results import passuntil_prediction
    from emergence_law.lab.shipped import load_lab_passuntil_counts

    shipped = load_lab_passuntil_counts()
    out, _ = passuntil_prediction(shipped.drop(columns="expected_rate"))
    assert "exact_check" not in out and out["censored_fraction"] > 0.8
    assert out["budget_range"] == [2000, 2000]
    out, _ = passuntil_prediction(shipped)
    assert out["exact_check"] and out["exact_pass_rate"] == pytest.approx(1.41e-4, rel=0.01)


def test_fixed_budgets_stay_reproducible(facts_model, tmp_path):
    """passuntil_budget_from="fixed": one budget for every instance (the shipped tables'
    design), expected_rate still recorded; an unknown rule is refused."""
    from emergence_law.errors import SettingError
    from emergence_law.lab.measure import LabContext, passuntil_job
    from emergence_law.store import ResultStore

    sc, ck, _, _ = facts_model
    fixed = dataclasses.replace(sc, passuntil_instances=4, passuntil_budget=50,
                                passuntil_budget_from="fixed")
    store = ResultStore(tmp_path / "s.sqlite")
    try:
        rows = pd.DataFrame(passuntil_job(LabContext(fixed, store), ck, 1.0))
    finally:
        store.close()
    assert (rows["budget"] == 50).all() and rows["expected_rate"].between(0, 1).all()
    with pytest.raises(SettingError, match="passuntil_budget_from"):
        dataclasses.replace(sc, passuntil_budget_from="guess")


def test_small_keeps_the_shipped_design_and_the_cli_chooses_budgets(tmp_path, capsys):
    """`small` keeps the shipped tables' fixed 2,000 (so `lab run --scale small` reproduces
    them); `--passuntil-budgets` / `--passuntil-cap` choose for a run, are recorded in its
    summary, and a bad value is a one-line error naming the option (exit 2)."""
    import json

    from emergence_law.cli import main
    from emergence_law.lab.family import get_scale

    small = get_scale("small")
    assert (small.passuntil_budget_from, small.passuntil_budget) == ("fixed", 2000)
    out = tmp_path / "tiny"
    assert main(["lab", "run", "--scale", "tiny", "--out", str(out), "--no-progress",
                 "--workers", "1", "--passuntil-budgets", "fixed", "--passuntil-cap", "24"]) == 0
    counts = pd.read_csv(out / "lab_passuntil_counts.csv")
    assert (counts["budget"] == 24).all()
    scale = json.loads((out / "lab_summary.json").read_text())["scale"]
    assert (scale["passuntil_budget_from"], scale["passuntil_budget"]) == ("fixed", 24)
    capsys.readouterr()
    for bad in (["--passuntil-budgets", "guess"], ["--passuntil-cap", "0"]):
        assert main(["lab", "run", "--scale", "tiny", "--out", str(tmp_path / "x"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert bad[0] in err and len(err.splitlines()) == 1 and "Traceback" not in err
