"""Running sweeps locally (in process and in a process pool), resuming, failures, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emergence_law.errors import DataError
from emergence_law.observations import load_observations
from emergence_law.store import ResultStore
from emergence_law.sweep import export_observations, load_recipe, plan_recipe, run_sweep
from emergence_law.sweep.executors import InProcessExecutor, ProcessPoolJobExecutor
from emergence_law.sweep.synthetic import DEFAULTS, pretraining_loss

from .conftest import synthetic_recipe, write_recipe


def _run(recipe_path: Path, executor=None, **kw):
    recipe = load_recipe(recipe_path)
    plan = plan_recipe(recipe)
    with ResultStore(recipe.store) as store:
        ex = executor or InProcessExecutor(base_dir=recipe.base_dir)
        return plan, run_sweep(plan, store, ex, **kw)


def test_run_then_rerun_skips_everything(recipe_file: Path) -> None:
    plan, first = _run(recipe_file)
    assert (first.done, first.failed, first.already_done) == (36, 0, 0)
    _, second = _run(recipe_file)
    assert (second.done, second.already_done) == (0, 36)
    with ResultStore(recipe_file.parent / "store.sqlite") as s:
        assert s.counts() == {"pending": 0, "running": 0, "done": 36, "failed": 0}
        assert len(s.observation_rows()) == 36
        assert set(s.jobs()["attempts"]) == {1}


def test_changed_jobs_rerun_and_export_follows_the_recipe(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, synthetic_recipe())
    _run(path)
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["finetune"][0]["n_train"] = [100, 3000]  # D=1000 -> D=3000
    write_recipe(tmp_path, tree)
    plan, report = _run(path)
    assert (report.done, report.already_done) == (12, 24)  # only the 12 D=3000 jobs are new
    with ResultStore(tmp_path / "store.sqlite") as s:
        assert s.counts()["done"] == 48  # the old D=1000 results are kept in the store ...
        table = export_observations(s, plan.ids).table
        everything = export_observations(s).table
    assert sorted(table["n_train"].dropna().unique()) == [100, 3000]  # ... but not exported
    assert sorted(everything["n_train"].dropna().unique()) == [100, 1000, 3000]


def test_one_failing_job_never_stops_the_sweep_and_retry_runs_it(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    tree = synthetic_recipe(hparams={"fail_checkpoints": ["step4000"]})
    tree["loss"]["hparams"] = {"fail_unless_exists": str(flag)}
    path = write_recipe(tmp_path, tree)
    _, report = _run(path)
    # step4000 of 2 models: 2 few-shot + 8 finetune fail; all 6 loss jobs fail (no flag file)
    assert report.failed == 16 and report.done == 20
    assert any("synthetic failure for checkpoint step4000" in e for _, e in report.failures)
    with ResultStore(tmp_path / "store.sqlite") as s:
        failed = s.jobs("failed")
        assert len(failed) == 16
        assert failed["traceback"].str.contains("Traceback").all()
    _, again = _run(path)  # without --retry-failed, failed jobs stay failed
    assert (again.done, again.skipped_failed) == (0, 16)
    flag.touch()
    _, retried = _run(path, retry_failed=True)
    assert (retried.retried, retried.done, retried.failed) == (16, 6, 10)


def test_process_pool_gives_the_same_results(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    tree = synthetic_recipe(steps=[1000, 8000, 16000], n_train=[100], subsets=1, models=1)
    pa = write_recipe(a, tree)
    tree["tasks"]["toy"]["finetune"] = []
    tree["tasks"]["toy"]["hparams"] = {"exit_checkpoints": ["step8000"]}
    pb = write_recipe(b, tree)
    _run(pa)
    _, report = _run(pb, ProcessPoolJobExecutor(2, base_dir=b))
    # the step8000 few-shot job ends its worker process: only it is recorded as failed (the
    # jobs in flight beside it are run again), and the sweep goes on
    assert (report.failed, report.done) == (1, 5)
    assert "worker process died while running this job" in report.failures[0][1]
    assert "fewshot toy m0@step8000" in report.failures[0][0]
    with ResultStore(a / "store.sqlite") as sa, ResultStore(b / "store.sqlite") as sb:
        ra = {jid: row for jid, _, row in sa.job_rows()}
        rb = {jid: row for jid, _, row in sb.job_rows()}
    loss_ids = [jid for jid, row in rb.items() if row.get("kind") == "loss"]
    assert len(loss_ids) == 3
    for jid in loss_ids:  # same definitions, same seeds: same numbers in any executor
        assert ra[jid] == rb[jid]


def test_export_joins_loss_and_fills_definition_columns(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, synthetic_recipe())
    _run(path)
    with ResultStore(tmp_path / "store.sqlite") as s:
        result = export_observations(s)
    t = result.table
    assert len(t) == 30 and result.jobs == 36 and not result.left_out
    assert set(t["setting"]) == {"fewshot", "finetune"}
    assert set(t.loc[t.setting == "finetune", "method"]) == {"full"}
    assert (t.loc[t.setting == "fewshot", "shots"] == 5).all()
    # every checkpoint's loss is its loss job's value: close to the synthetic truth
    for row in t.itertuples():
        truth = pretraining_loss(row.params, row.tokens, DEFAULTS)
        assert abs(row.loss - truth) < 0.01
    assert np.allclose(t["flops"], 6 * t["params"] * t["tokens"])
    assert t.groupby(["model", "checkpoint"])["loss"].nunique().max() == 1
    out = tmp_path / "obs.parquet"
    from emergence_law.observations import save_observations

    save_observations(t, out)
    back = load_observations(out)
    assert len(back) == 30 and back["job_id"].notna().all()


def test_export_leaves_out_rows_without_loss_and_says_so(tmp_path: Path) -> None:
    tree = synthetic_recipe(models=1)
    tree["loss"]["hparams"] = {"fail_checkpoints": ["step1000"]}
    path = write_recipe(tmp_path, tree)
    _run(path)
    with ResultStore(tmp_path / "store.sqlite") as s:
        result = export_observations(s)
    assert len(result.table) == 10  # 2 checkpoints x 5 task jobs
    assert result.left_out == {"rows whose checkpoint has no loss measured yet": 5}
    assert "left out: 5 rows" in result.summary()


def test_export_refuses_bad_rows_naming_the_job(tmp_path: Path) -> None:
    tree = synthetic_recipe(models=1, steps=[1000])
    tree["tasks"]["toy"]["hparams"] = {"chance": 0.25, "slope": 1.0, "n_eval": 4}
    path = write_recipe(tmp_path, tree)
    _run(path)
    with ResultStore(tmp_path / "store.sqlite") as s:
        s._conn.execute("UPDATE observations SET row=json_set(row, '$.value', 1.7) WHERE "
                        "json_extract(row, '$.setting')='fewshot'")
        with pytest.raises(DataError, match=r"acc must lie in \[0, 1\].*a row of job \w+: "
                           r"fewshot toy m0@step1000 5-shot"):
            export_observations(s)


def test_export_of_an_empty_store_says_why(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as s, pytest.raises(DataError, match="no finished"):
        export_observations(s)


class _ResubmittingExecutor(InProcessExecutor):
    """Starts every job twice before running it, as the process pool does with the jobs that were
    in flight beside a worker that died (they are re-run one at a time)."""

    def run(self, jobs, on_start):
        for job in jobs:
            assert on_start(job)
            assert on_start(job), "a job this run already claimed must not be refused"
        yield from super().run(jobs)


def test_jobs_resubmitted_after_a_broken_pool_are_not_dropped(recipe_file: Path) -> None:
    # regression: a re-queued job was refused by the store's claim (it was already 'running',
    # owned by this run), so it ended neither done nor failed
    _, report = _run(recipe_file, _ResubmittingExecutor(base_dir=recipe_file.parent))
    assert (report.done, report.failed, report.skipped_running) == (36, 0, 0)
    with ResultStore(recipe_file.parent / "store.sqlite") as s:
        assert s.counts()["done"] == 36


def test_pool_workers_get_the_thread_limit_and_python_jobs_the_device(tmp_path: Path) -> None:
    """`threads` reaches every pool worker (several workers each taking every core slow each
    other down), and a python job that takes `device=` is given the sweep's device."""
    pytest.importorskip("torch")
    from emergence_law.sweep.plan import Job

    jobs = [Job({"kind": "python", "callable": "emergence_law.sweep.synthetic:probe_job",
                 "checkpoint": str(i)}) for i in range(4)]
    ex = ProcessPoolJobExecutor(2, base_dir=tmp_path, device="meta", threads=1)
    try:
        rows = [o.rows[0] for _, o in ex.run(jobs)]
    finally:
        ex.close()
    assert len(rows) == 4 and {r["torch_threads"] for r in rows} == {1}
    assert {r["device"] for r in rows} == {"meta"}
    from emergence_law.errors import SettingError

    with pytest.raises(SettingError, match="^parameter threads: must be at least 1"):
        ProcessPoolJobExecutor(2, threads=0)


def test_export_with_the_recipe_names_each_row_s_model(tmp_path: Path) -> None:
    """`model` stays what was loaded (here one folder per checkpoint, as for the OpenLLaMA
    recipe's per-step repositories); with the recipe, `model_name` says which family member."""
    from emergence_law.cli import main

    tree = synthetic_recipe()
    for m in tree["models"]:
        m["model"] = m["model"] + "/step-{step}"
    path = write_recipe(tmp_path, tree)
    plan, _ = _run(path)
    with ResultStore(tmp_path / "store.sqlite") as s:
        named = export_observations(s, plan.ids, plan.model_names()).table
        plain = export_observations(s, plan.ids).table
    assert "model_name" not in plain.columns
    assert named.drop(columns="model_name").equals(plain)
    assert named["model"].nunique() == 6 and set(named["model_name"]) == {"m0", "m1"}
    for name, rows in named.groupby("model_name"):
        assert rows["model"].str.startswith(f"syn/{name}/step-").all()
    out = tmp_path / "obs.csv"
    assert main(["sweep", "export", str(path), "--out", str(out)]) == 0
    assert set(load_observations(out)["model_name"]) == {"m0", "m1"}
