"""PassUntil on real tiny Hugging Face models trained in the test session."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emergence_law.cli import main
from emergence_law.passuntil.checkers import ExactMatch
from emergence_law.passuntil.estimate import exact_interval
from emergence_law.passuntil.exact_rate import answer_then_eos_probability
from emergence_law.passuntil.generators import HFGenerator
from emergence_law.passuntil.sample import Instance, passuntil_sample

torch = pytest.importorskip("torch")
PROMPTS = {"3+4=": "7", "5+5=": "10", "12+9=": "21"}


def test_cached_sampling_matches_the_model_and_generate(tiny_lms):
    path = tiny_lms[32]
    cached = HFGenerator.from_pretrained(path, max_new_tokens=3, seed=1)
    prompt = "3+4="
    a = cached.sample(prompt, 3000)
    # first character against the model's exact next-token distribution
    with torch.inference_mode():
        probs = torch.softmax(cached.model(input_ids=torch.tensor([cached.encode(prompt)]))
                              .logits[0, -1].float(), -1).numpy()
    first = Counter(s[:1] for s in a)
    chars = [c for c in first if c]
    expected = np.array([probs[cached.tokenizer.convert_tokens_to_ids(c)] for c in chars],
                        dtype=float)  # float32 sums miss chisquare's 1.5e-8 tolerance
    observed = np.array([first[c] for c in chars])
    ok = expected * len(a) >= 5
    chi2 = stats.chisquare(observed[ok], expected[ok] / expected[ok].sum() * observed[ok].sum())
    assert chi2.pvalue > 1e-3
    # whole completions against transformers' own generate (different code path), with
    # temperature and top-p on
    warped = HFGenerator.from_pretrained(path, max_new_tokens=3, seed=3, temperature=0.7,
                                         top_p=0.9)
    reference = HFGenerator.from_pretrained(path, max_new_tokens=3, seed=2, method="generate",
                                            temperature=0.7, top_p=0.9)
    a = warped.sample(prompt, 3000)
    b = reference.sample(prompt, 3000)
    ca, cb = Counter(a), Counter(b)
    keys = [k for k in set(ca) | set(cb) if ca[k] + cb[k] >= 10]
    table = np.array([[ca[k] for k in keys], [cb[k] for k in keys]])
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_passuntil_on_a_tiny_lm_brackets_the_exact_pass_rate(tiny_lms):
    gen = HFGenerator.from_pretrained(tiny_lms[32], max_new_tokens=4, seed=0)
    instances = [Instance(p, p, ExactMatch([a])) for p, a in PROMPTS.items()]
    counts = passuntil_sample(gen, instances, r=3, budget=20_000, batch_size=256,
                              progress=False)
    truth = np.array([answer_then_eos_probability(gen, p, a) for p, a in PROMPTS.items()])
    assert (truth < 0.05).all()  # the model rarely passes
    lo, hi = exact_interval(counts["trials"], counts["passes"], counts["censored"], 0.99)
    assert ((lo <= truth) & (truth <= hi)).all(), (counts, truth)


def test_cli_run_then_fit(tiny_lms, tmp_path, capsys):
    task = tmp_path / "add.jsonl"
    task.write_text("".join(json.dumps({"id": p, "prompt": p, "answer": a}) + "\n"
                            for p, a in PROMPTS.items()))
    tables = []
    for d, path in tiny_lms.items():
        out = tmp_path / f"run{d}"
        rc = main(["passuntil", "run", "--model", str(path), "--task", str(task), "--r", "2",
                   "--budget", "3000", "--out", str(out), "--batch-size", "256",
                   "--max-new-tokens", "4", "--no-progress"])
        assert rc == 0
        assert (out / "passuntil.sqlite").exists() and (out / "run_passuntil_run.json").exists()
        tables.append(pd.read_csv(out / "passuntil_counts.csv"))
    counts = pd.concat(tables)
    assert set(counts.columns) >= {"model", "params", "task", "instance", "trials", "passes",
                                   "censored"}
    assert counts["params"].nunique() == 2 and (counts["task"] == "add").all()
    assert "task pass rate" in capsys.readouterr().out
    path = tmp_path / "counts.csv"
    counts.to_csv(path, index=False)
    rc = main(["passuntil", "fit", str(path), "--target-params", "1e5", "--out",
               str(tmp_path / "fit"), "--draws", "100"])
    assert rc == 0
    fit = json.loads((tmp_path / "fit" / "passuntil_fit.json").read_text())
    assert fit["level"] == "pooled" and 0 <= fit["interval"][0] <= fit["interval"][1] <= 1


def test_cli_run_reports_a_bad_model_path_in_one_line(tmp_path, capsys):
    task = tmp_path / "t.jsonl"
    task.write_text('{"id": "a", "prompt": "1+1=", "answer": "2"}\n')
    rc = main(["passuntil", "run", "--model", str(tmp_path), "--task", str(task)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "option --model" in err and "no config.json" in err
    assert len(err.splitlines()) == 1


def test_ctrl_c_stops_a_run_safely_and_keeps_finished_batches(tiny_lms, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from emergence_law.store import ResultStore

    task = tmp_path / "t.jsonl"
    task.write_text('{"id": "a", "prompt": "3+4=", "answer": "7"}\n')
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "emergence_law", "passuntil", "run", "--model",
           str(tiny_lms[16]), "--task", str(task), "--r", "100000", "--budget", "100000000",
           "--batch-size", "256", "--max-new-tokens", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            # a background process may inherit SIGINT ignored: restore it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until some batches are stored
            db = out / "passuntil.sqlite"
            if db.exists():
                with ResultStore(db) as store:
                    recs = [store.get_records(ns) for ns in store.namespaces()]
                if recs and recs[0].get("a", {}).get("trials", 0) >= 512:
                    break
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "run the same command again to resume" in err.decode()
    assert "Traceback" not in err.decode()
    with ResultStore(out / "passuntil.sqlite") as store:
        (rec,) = [store.get_records(ns)["a"] for ns in store.namespaces()]
    assert rec["trials"] >= 512 and not rec["done"]


def test_cli_adaptive_run_estimates_the_exact_task_mean(tiny_lms, tmp_path, capsys):
    """`passuntil run --allocation adaptive` on a real tiny model: the empirical-Bayes task mean
    lands near the exact mean pass probability (teacher forcing), rows are fixed-budget counts."""
    gen = HFGenerator.from_pretrained(tiny_lms[32], max_new_tokens=4, seed=0)
    truth = np.mean([answer_then_eos_probability(gen, p, a) for p, a in PROMPTS.items()])
    task = tmp_path / "add.jsonl"
    task.write_text("".join(json.dumps({"id": p, "prompt": p, "answer": a}) + "\n"
                            for p, a in PROMPTS.items()))
    out = tmp_path / "ad"
    rc = main(["passuntil", "run", "--model", str(tiny_lms[32]), "--task", str(task),
               "--allocation", "adaptive", "--rel-error", "0.25", "--budget", "40000",
               "--out", str(out), "--batch-size", "256", "--max-new-tokens", "4",
               "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "sampling design: adaptive allocation" in text
    counts = pd.read_csv(out / "passuntil_counts.csv")
    assert (counts["design"] == "fixed").all() and counts["censored"].all()
    est = float(text.split("task pass rate ")[1].split(" ")[0])
    assert 0.5 * truth <= est <= 1.5 * truth  # +-25% at 95% asked; +-50% here
