"""`emergence-law sweep plan|run|status|export` end to end, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emergence_law.cli import main
from emergence_law.observations import load_observations

from .conftest import ROOT, synthetic_recipe, write_recipe


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_plan_lists_jobs_without_any_hub(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cli(capsys, "sweep", "plan", str(ROOT / "recipes/openllama-snell2024.yaml"),
                      "--json")
    info = json.loads(out)
    assert rc == 0 and info["jobs"] == 520 and info["checkpoints"] == 24
    assert info["by_task"]["mmlu"] == 136  # 24 few-shot + 8 x 6 D x 2 subsets + 16 x 1
    rc, out, _ = _cli(capsys, "sweep", "plan", str(ROOT / "recipes/pythia.yaml"))
    assert rc == 0 and "-> 2688 jobs" in out and "finetune" in out


def test_run_status_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = write_recipe(tmp_path, synthetic_recipe(hparams={"fail_checkpoints": ["step16000"]}))
    rc, out, err = _cli(capsys, "sweep", "plan", str(recipe), "--list")
    assert rc == 0 and out.count("finetune toy") == 24
    rc, out, _ = _cli(capsys, "sweep", "status", str(recipe))  # before the first run
    assert rc == 0 and "36 jobs: 0 done, 0 failed, 0 running, 36 pending" in out
    assert not (tmp_path / "store.sqlite").exists()  # looking creates nothing
    rc, out, err = _cli(capsys, "sweep", "run", str(recipe))
    assert rc == 1  # some jobs failed (recorded); the others ran
    assert "36 jobs planned; 0 already done; 26 done now; 10 failed now" in out
    assert "failed fewshot toy m0@step16000 5-shot: RuntimeError: synthetic failure" in err
    rc, out, _ = _cli(capsys, "sweep", "status", str(recipe), "--json")
    info = json.loads(out)
    assert (info["done"], info["failed"], info["pending"], info["not_in_recipe"]) == (26, 10, 0, 0)
    assert info["failures"][0]["error"].startswith("RuntimeError: synthetic failure")
    assert info["by_kind"]["python:finetune"] == {"done": 16, "failed": 8, "running": 0,
                                                  "pending": 0}
    rc, out, _ = _cli(capsys, "sweep", "status", "--store", str(tmp_path / "store.sqlite"))
    assert rc == 0 and "36 jobs: 26 done, 10 failed, 0 running, 0 pending" in out
    assert sum(line.startswith("failed ") for line in out.splitlines()) == 10
    obs = tmp_path / "obs.parquet"
    rc, out, _ = _cli(capsys, "sweep", "export", str(recipe), "--out", str(obs))
    assert rc == 0 and "20 observation rows from 26 finished jobs" in out
    assert len(load_observations(obs)) == 20


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = synthetic_recipe()
    tree["models"][0]["tokens_per_stp"] = 1
    bad = write_recipe(tmp_path, tree, "bad.yaml")
    good = write_recipe(tmp_path, synthetic_recipe())
    cases = [
        (("sweep", "plan", str(bad)), "models[0].tokens_per_stp: unknown key (did you mean "
                                      "'tokens_per_step'?)"),
        (("sweep", "plan", str(tmp_path / "nope.yaml")), "recipe file not found"),
        (("sweep", "status"), "option --store: give a RECIPE or --store PATH"),
        (("sweep", "export", "--store", str(tmp_path / "x.sqlite"), "--out", "o.parquet"),
         "no such store"),
        (("sweep", "run", str(good), "--executor", "slurm"), "'--executor'"),  # a choice
        (("sweep", "run", str(good), "--address", "auto"), "option --address: only used with"),
    ]
    for argv, message in cases:
        rc, out, err = _cli(capsys, *argv)
        assert rc == 2, (argv, out, err)
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    rc, _, _ = _cli(capsys, "sweep", "run", str(good))
    assert rc == 0
    rc, _, err = _cli(capsys, "sweep", "export", str(good), "--out", str(tmp_path / "o.xlsx"))
    assert rc == 2 and "unknown table format '.xlsx'" in err
