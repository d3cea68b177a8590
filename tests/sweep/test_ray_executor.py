"""The Ray executor on a real local Ray instance (started once for this module: it is slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emergence_law.store import ResultStore
from emergence_law.sweep import load_recipe, plan_recipe, run_sweep
from emergence_law.sweep.executors import InProcessExecutor, RayExecutor

from .conftest import synthetic_recipe, write_recipe

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance with 2 CPUs; workers can import the test probes."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    yield ray
    ray.shutdown()


def test_ray_runs_the_same_jobs_with_their_resources(local_ray, tmp_path: Path) -> None:
    tree = synthetic_recipe(models=1, steps=[1000, 8000], n_train=[100], subsets=1)
    tree["resources"] = {"num_cpus": 1}
    tree["tasks"]["probe"] = {
        "harness": "python", "callable": "sweep.sweep_probes:where_am_i",
        "fewshot": [0, 99], "resources": {"num_cpus": 2},
    }
    tree["tasks"]["toy"]["hparams"] = {"fail_checkpoints": ["step8000"]}
    (tmp_path / "ray").mkdir()
    (tmp_path / "local").mkdir()
    recipe_ray = load_recipe(write_recipe(tmp_path / "ray", tree))
    plan = plan_recipe(recipe_ray)
    with ResultStore(recipe_ray.store) as store:
        ex = RayExecutor(base_dir=recipe_ray.base_dir)
        assert ex.max_in_flight == 2  # the cluster's CPUs
        report = run_sweep(plan, store, ex)
        # 2 loss + 2 toy few-shot + 2 toy finetune + 4 probes; step8000 toy jobs and the
        # shots=99 probes fail, recorded with their errors, and the rest finish
        assert (report.done, report.failed) == (6, 4)
        errors = {e for _, e in report.failures}
        assert "ValueError: probe asked to fail" in errors
        assert "RuntimeError: synthetic failure for checkpoint step8000" in errors
        probes = [row for _, d, row in store.job_rows() if row.get("kind") == "probe"]
        assert len(probes) == 2
        for row in probes:
            assert row["assigned"] == {"CPU": 2.0}  # the task's own request, not the default
            assert row["pid"] != os.getpid()  # run by a Ray worker, written by the driver
        ray_rows = {jid: row for jid, _, row in store.job_rows()}
        again = run_sweep(plan, store, RayExecutor(base_dir=recipe_ray.base_dir))
        assert (again.done, again.already_done, again.skipped_failed) == (0, 6, 4)
    # the same recipe run in process gives the same synthetic numbers
    recipe_local = load_recipe(write_recipe(tmp_path / "local", tree))
    with ResultStore(recipe_local.store) as store:
        run_sweep(plan_recipe(recipe_local), store, InProcessExecutor())
        local_rows = {jid: row for jid, _, row in store.job_rows()}
    for jid, row in ray_rows.items():
        if row.get("kind") != "probe":
            assert local_rows[jid] == row


def test_a_crashing_ray_worker_fails_only_its_job(local_ray, tmp_path: Path) -> None:
    tree = synthetic_recipe(models=1, steps=[1000, 8000], n_train=[100], subsets=1,
                            hparams={"exit_checkpoints": ["step8000"]})
    recipe = load_recipe(write_recipe(tmp_path, tree))
    with ResultStore(recipe.store) as store:
        report = run_sweep(plan_recipe(recipe), store, RayExecutor(base_dir=recipe.base_dir))
        assert (report.done, report.failed) == (4, 2)
        assert all("died" in e.lower() or "crash" in e.lower() for _, e in report.failures), (
            report.failures)
        assert store.counts()["failed"] == 2
