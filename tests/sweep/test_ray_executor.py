"""The Ray executor on a real local Ray instance (started once per session: it is slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emergence_law.store import ResultStore
from emergence_law.sweep import load_recipe, plan_recipe, run_sweep
from emergence_law.sweep.executors import InProcessExecutor, RayExecutor

from .conftest import synthetic_recipe, write_recipe

pytest.importorskip("ray")
# one Ray instance per test process: under `pytest -n 2 --dist loadgroup` these stay together
pytestmark = pytest.mark.xdist_group("ray")


def test_ray_runs_the_same_jobs_with_their_resources(local_ray, tmp_path: Path) -> None:
    tree = synthetic_recipe(models=1, steps=[1000, 8000], n_train=[100], subsets=1,
                            hparams={"fail_checkpoints": ["step8000"]})
    tree["resources"] = {"num_cpus": 1}
    tree["tasks"]["toy"]["finetune"][0]["resources"] = {"num_cpus": 2}
    (tmp_path / "ray").mkdir()
    (tmp_path / "local").mkdir()
    recipe_ray = load_recipe(write_recipe(tmp_path / "ray", tree))
    plan = plan_recipe(recipe_ray)
    with ResultStore(recipe_ray.store) as store:
        ex = RayExecutor(base_dir=recipe_ray.base_dir)
        assert ex.max_in_flight == 2  # the cluster's CPUs
        report = run_sweep(plan, store, ex)
        # 2 loss + 2 few-shot + 2 finetune; the step8000 task jobs fail, recorded with their
        # errors, and the rest finish
        assert (report.done, report.failed) == (4, 2)
        assert {e for _, e in report.failures} == {
            "RuntimeError: synthetic failure for checkpoint step8000"}
        jobs = store.jobs()
        for row in jobs.itertuples():
            worker = json.loads(row.worker)
            setting = json.loads(row.definition)["setting"]
            # each task got its own resource request, and ran in a Ray worker (the driver
            # alone wrote the store)
            assert worker["resources"] == {"CPU": 2.0 if setting == "finetune" else 1.0}
            assert worker["pid"] != os.getpid()
        ray_rows = {jid: row for jid, _, row in store.job_rows()}
        again = run_sweep(plan, store, RayExecutor(base_dir=recipe_ray.base_dir))
        assert (again.done, again.already_done, again.skipped_failed) == (0, 4, 2)
    # the same recipe run in process gives the same (seeded) synthetic numbers
    recipe_local = load_recipe(write_recipe(tmp_path / "local", tree))
    with ResultStore(recipe_local.store) as store:
        run_sweep(plan_recipe(recipe_local), store, InProcessExecutor())
        assert {jid: row for jid, _, row in store.job_rows()} == ray_rows


def test_crashed_worker_and_impossible_request_fail_only_their_jobs(local_ray, tmp_path: Path
                                                                    ) -> None:
    tree = synthetic_recipe(models=1, steps=[1000, 8000], n_train=[100], subsets=1,
                            hparams={"exit_checkpoints": ["step8000"]})
    tree["loss"]["resources"] = {"num_gpus": 1}  # this Ray instance has no GPU
    recipe = load_recipe(write_recipe(tmp_path, tree))
    with ResultStore(recipe.store) as store:
        report = run_sweep(plan_recipe(recipe), store, RayExecutor(base_dir=recipe.base_dir))
        assert (report.done, report.failed) == (2, 4)
        errors = dict(report.failures)
        crashed = [e for job, e in errors.items() if "step8000" in job and "loss" not in job]
        assert len(crashed) == 2
        assert all("died" in e.lower() or "crash" in e.lower() for e in crashed), crashed
        impossible = [e for job, e in errors.items() if job.startswith("loss")]
        assert impossible == ["no Ray node can run this job: it asks for 1 CPU, 1 GPU; the "
                              "largest node has 2 CPU, 0 GPU (set the job's `resources:` in "
                              "the recipe)"] * 2
        assert store.counts()["failed"] == 4
