"""Sweep machinery: bookkeeping overhead per job, and a SIGKILL stress test of resume.

Figures are ratios against a baseline measured in the same run, never absolute timings:

* overhead: a sweep of N trivial jobs through the store (registering, claiming, one
  transaction per result) against calling the same job function N times in a bare loop;
  reported as the ratio and as milliseconds of bookkeeping per job (what a real job, minutes
  of GPU time, must dwarf).
* kills: ``sweep run`` in a subprocess, killed with SIGKILL at K random moments, then resumed;
  after every kill the store must be sound (integrity check, each done job's rows exactly once,
  none for other jobs) and the final run must finish every job exactly once.

    python benchmarks/bench_sweep.py --jobs 400 --kills 20
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from emergence_law.store import ResultStore
from emergence_law.sweep import load_recipe, plan_recipe, run_sweep
from emergence_law.sweep.executors import InProcessExecutor
from emergence_law.sweep.synthetic import synthetic_job

SYNTHETIC = "emergence_law.sweep.synthetic:synthetic_job"


def recipe_tree(n_checkpoints: int, sleep_s: float = 0.0) -> dict:
    """One model, n checkpoints, each: loss + few-shot + 4 D x 2 subsets = 10 jobs."""
    hp = {"sleep_s": sleep_s} if sleep_s else {}
    return {
        "name": "bench",
        "store": "store.sqlite",
        "loss": {"callable": SYNTHETIC, "hparams": hp},
        "models": [{"name": "m", "model": "syn/m", "series": "syn", "params": 4e8,
                    "steps": [1000 * (i + 1) for i in range(n_checkpoints)],
                    "tokens_per_step": 2_097_152}],
        "tasks": {"toy": {"harness": "python", "callable": SYNTHETIC, "hparams": hp,
                          "fewshot": [5],
                          "finetune": [{"n_train": [100, 300, 1000, 3000], "subsets": 2}]}},
    }


def write(folder: Path, tree: dict) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def bench_overhead(n_jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(write(Path(tmp), recipe_tree(max(1, n_jobs // 10))))
        plan = plan_recipe(recipe)
        t0 = time.perf_counter()
        for job in plan.jobs:
            synthetic_job(job.definition)
        bare = time.perf_counter() - t0
        with ResultStore(recipe.store) as store:
            t0 = time.perf_counter()
            report = run_sweep(plan, store, InProcessExecutor())
            swept = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = run_sweep(plan, store, InProcessExecutor())
            resumed = time.perf_counter() - t0
        assert report.done == len(plan) and again.already_done == len(plan)
        n = len(plan)
        print(f"overhead: {n} trivial jobs: sweep/bare-loop time ratio "
              f"{swept / bare:.1f}x; bookkeeping {(swept - bare) / n * 1e3:.2f} ms per job; "
              f"re-run of a finished sweep (all skipped) {resumed / swept:.3f}x the first run")


def _sound(store_path: Path) -> tuple[bool, int]:
    with ResultStore(store_path) as s:
        if s.integrity_check() != "ok":
            return False, -1
        per_job = dict(s._conn.execute(
            "SELECT job_id, COUNT(*) FROM observations GROUP BY job_id"))
        status = s.statuses()
        ok = all(per_job.get(j, 0) == (1 if st == "done" else 0) for j, st in status.items())
        return ok and set(per_job) <= set(status), s.counts()["done"]


def _done_count(store: Path) -> int:
    import sqlite3

    if not store.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM jobs WHERE status='done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def bench_kills(kills: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write(folder, recipe_tree(12, sleep_s=0.01))
        n_jobs = len(plan_recipe(load_recipe(path)))
        store = folder / "store.sqlite"
        cmd = [sys.executable, "-m", "emergence_law", "sweep", "run", str(path)]
        sound = 0
        done_before = 0
        lost = 0
        mid = 0
        for _ in range(kills):
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # wait for a random number of further results, then a random fraction of a job
            target = done_before + rng.randint(0, max(1, (n_jobs - done_before) // 4))
            while proc.poll() is None and _done_count(store) < target:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.02))
            if proc.poll() is not None:
                break  # the sweep finished before this kill
            mid += _done_count(store) > 0
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if store.exists():
                ok, done = _sound(store)
                sound += ok
                lost += done < done_before
                done_before = max(done_before, done)
            else:
                sound += 1
        final = subprocess.run(cmd, capture_output=True, text=True)
        ok, done = _sound(store)
        with ResultStore(store) as s:
            rows = len(s.observation_rows())
            retried = int((s.jobs()["attempts"] > 1).sum())
        print(f"kills: {mid} of {kills} landed mid-sweep; {sound}/{kills} SIGKILLs left a sound store; {lost} lost a finished "
              f"result; resume exit {final.returncode}; {done}/{n_jobs} jobs done, {rows} rows "
              f"(expected {n_jobs}); {retried} jobs re-run after being cut short")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bench_overhead(args.jobs)
    if args.kills:
        bench_kills(args.kills, args.seed)


if __name__ == "__main__":
    main()
