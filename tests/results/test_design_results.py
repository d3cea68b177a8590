"""Round trips of the planning commands' result types (``design``, ``design-passuntil``):
written by the real commands on simulated data, loaded back equal; a missing field is one
line naming the file."""

from __future__ import annotations

import json

from results_helpers import missing_field_is_one_line

from emergence_law.cli import main
from emergence_law.results import output_file_names
from emergence_law.results.design import DesignRecord, PassUntilPlanRecord


def test_design_record_round_trips(tmp_path, capsys):
    from emergence_law.design import candidate_grid
    from emergence_law.simulate import simulate_observations

    table, _ = simulate_observations(seed=2)
    few = table[table["setting"] == "fewshot"]
    obs = tmp_path / "fewshot.csv"
    few.to_csv(obs, index=False)
    ckpts = few.drop_duplicates(["model", "checkpoint"])[["model", "checkpoint", "loss"]]
    cands = candidate_grid(ckpts.tail(6), [100, 1000], subsets=1, method="full")
    cands.to_csv(tmp_path / "cands.csv", index=False)
    out = tmp_path / "out"
    rc = main(["design", str(obs), "--task", str(few["task"].iloc[0]), "--candidates",
               str(tmp_path / "cands.csv"), "--budget", "4", "--out", str(out), "--tables",
               "4", "--boot", "12", "--max-evals", "3"])
    assert rc == 0, capsys.readouterr().err
    rec = DesignRecord.load(out)
    assert rec.equals(DesignRecord.load(out)) and len(rec.runs) == rec.n_runs >= 1
    rec.save(tmp_path / "again")
    assert DesignRecord.load(tmp_path / "again").equals(rec)
    assert json.loads((tmp_path / "again" / "design.json").read_text()) == json.loads(
        (out / "design.json").read_text())
    assert set(DesignRecord.FILES.values()) <= output_file_names()
    missing_field_is_one_line(DesignRecord, out, "budget")


def test_passuntil_plan_record_round_trips(tmp_path, capsys):
    from emergence_law.passuntil.simulate import simulate_family

    pilot = tmp_path / "pilot.csv"
    simulate_family(40, (1e8, 2e8, 4e8, 8e8), mean_eta_small=2.0, seed=3).counts.to_csv(
        pilot, index=False)
    out = tmp_path / "out"
    rc = main(["design-passuntil", str(pilot), "--target-size", "3.2e9", "--precision", "0.2",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    rec = PassUntilPlanRecord.load(out)
    assert isinstance(json.loads((out / "passuntil_plan.json").read_text())["plan"], list)
    rec.save(tmp_path / "again")
    back = PassUntilPlanRecord.load(tmp_path / "again")
    assert back.equals(rec) and back.plan_records == rec.plan_records
    assert json.loads((tmp_path / "again" / "passuntil_plan.json").read_text()) == json.loads(
        (out / "passuntil_plan.json").read_text())
    missing_field_is_one_line(PassUntilPlanRecord, out, "precision")
