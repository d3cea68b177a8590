"""The report's sections of ``ground-truth`` and ``ladder`` (they were only "other outputs").

Small synthetic tables go through the real commands (``emergence-law ground-truth --by model``,
``emergence-law ladder`` with three and with two training sizes), then ``emergence-law report``:
each command gets its own section, whose numbers are the files' numbers. Chosen CSV rows check
the ground-truth notes; broken ladder files are named. On the shared real data (skipped when
absent) the OLMo-2 7B's gap interval and a two-size ladder's note are shown as the commands
wrote them.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_pagecheck import parse
from scipy.special import expit

from emergence_law.cli import main
from emergence_law.errors import DataError
from emergence_law.report import build_report, collect
from emergence_law.results.analysis import GroundTruthTable

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OLMO = DATA / "olmo-ladder"


def _cli(*args: object) -> None:
    assert main([str(a) for a in args]) == 0


def _section(text: str, anchor: str) -> str:
    m = re.search(rf'<section id="{re.escape(anchor)}">(.*?)</section>', text, re.S)
    assert m, f"no section {anchor!r}"
    return m[1]


def _embedded(png: Path) -> str:
    return base64.b64encode(png.read_bytes()).decode("ascii")


def _elbow_table() -> pd.DataFrame:
    """Two sizes of one task: 'tiny' stays at chance, 'big' leaves it at 2.75 nats."""
    rng = np.random.default_rng(0)
    rows = []
    for model, params, elbow in (("tiny", 1e7, None), ("big", 1e9, 2.75)):
        for i, loss in enumerate(np.linspace(3.3, 2.2, 23)):
            mean = 0.25 + (0.9 * max(elbow - loss, 0.0) if elbow else 0.0)
            rows.append({"model": model, "params": params, "checkpoint": f"step{1000 * (i + 1)}",
                         "loss": round(float(loss), 4), "task": "toytask", "metric": "acc",
                         "value": float(np.clip(mean + rng.normal(0, 0.004), 0, 1)),
                         "setting": "fewshot", "shots": 5, "chance": 0.25})
    return pd.DataFrame(rows)


def _ladder_table() -> pd.DataFrame:
    """Four sizes, two runs each: loss -> bpb (power law) -> len_norm (sigmoid over chance)."""
    rng = np.random.default_rng(0)
    rows = []
    for model, params, last in (("100M", 1e8, 3.4), ("200M", 2e8, 3.2), ("400M", 4e8, 3.0),
                                ("800M", 8e8, 2.8)):
        for r in range(2):
            for i, loss in enumerate(np.linspace(4.2 + 0.01 * r, last - 0.05 * r, 12)):
                bpb = 0.25 * loss ** 1.5
                acc = 0.25 + 0.75 * expit((1.6 - bpb) / 0.3)
                for metric, v in (("bpb", bpb * (1 + rng.normal(0, 0.003))),
                                  ("len_norm", acc + rng.normal(0, 0.004))):
                    rows.append({"series": "toy", "model": model, "params": params,
                                 "run": f"{model}-{r + 1}xC", "checkpoint": f"step{100 * (i + 1)}",
                                 "loss": round(float(loss), 4), "task": "toy_rc",
                                 "metric": metric, "value": float(v), "setting": "fewshot",
                                 "shots": 5, "chance": 0.25})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gt/ (ground-truth --by model), lad/ (ladder, 3 sizes), lad2/ (2 sizes), report.html."""
    root = tmp_path_factory.mktemp("gtladder")
    _elbow_table().to_csv(root / "elbows.csv", index=False)
    _ladder_table().to_csv(root / "ladder.csv", index=False)
    out = root / "results"
    _cli("ground-truth", root / "elbows.csv", "--task", "toytask", "--by", "model",
         "--out", out / "gt")
    _cli("ladder", root / "ladder.csv", "--task", "toy_rc", "--target", "800M",
         "--n-boot", "20", "--out", out / "lad")
    _cli("ladder", root / "ladder.csv", "--task", "toy_rc", "--target", "800M",
         "--train", "100M", "--train", "200M", "--n-boot", "20", "--out", out / "lad2")
    _cli("report", out)
    return out


def test_each_command_has_its_own_section_not_other_outputs(made: Path) -> None:
    page = parse((made / "report.html").read_text())
    assert page.section_ids == ["gt-ground-truth", "lad-ladder", "lad2-ladder", "settings"]


def test_ground_truth_section_shows_the_csv(made: Path) -> None:
    text = (made / "report.html").read_text()
    sec = _section(text, "gt-ground-truth")
    csv = pd.read_csv(made / "gt" / "ground_truth.csv")
    assert parse(text).sections_rows["gt-ground-truth"] == 1 + len(csv)  # one row per group
    big = csv.set_index("group").loc["big"]
    assert big["model_kind"] == "relu"
    row = (f'<td class="t">big</td><td class="ok">yes</td><td>{big["elbow"]:.3f}</td>'
           f'<td class="t">[{big["lower"]:.3f}, {big["upper"]:.3f}]</td>'
           f'<td>{big["upper"] - big["lower"]:.3f}</td>'
           f'<td class="t">{int(big["n_pre"])} of {int(big["n_checkpoints"])}</td>')
    assert row in sec
    assert csv.set_index("group").loc["tiny", "model_kind"] == "none"
    assert '<td class="t">tiny</td><td class="bad">no elbow</td>' in sec
    assert "<b>no elbow</b>: the few-shot rows never rise clearly" in sec  # the legend
    assert _embedded(made / "gt" / "ground_truth.png") in sec
    lead = ("Ground truth of <b>toytask</b> (acc), one elbow per group: 1 of 2 groups have "
            f"one, from <b>{big['elbow']:.3f}</b> to <b>{big['elbow']:.3f}</b> nats; "
            '<span class="flag">no elbow</span> for tiny.')
    assert f"<p>{lead}</p>" in sec
    assert f"<li><span class=\"file\">gt/</span> {lead}</li>" in text  # in the one-line summary


def test_ladder_section_shows_forecast_against_measured(made: Path) -> None:
    text = (made / "report.html").read_text()
    sec = _section(text, "lad-ladder")
    rec = json.loads((made / "lad" / "ladder_forecast.json").read_text())
    csv = pd.read_csv(made / "lad" / "ladder_forecast.csv")
    assert rec["train_groups"] == ["100M", "200M", "400M"] and len(csv) == rec["n_targets"] == 2
    for r in csv.itertuples():
        cells = (f'<td class="t">{r.run}</td><td class="t">{r.checkpoint}</td>'
                 f"<td>{r.loss:.3f}</td><td>{r.acc:.3f}</td><td>{r.acc_pred:.3f}</td>"
                 f'<td class="t">[{r.pred_lower:.3f}, {r.pred_upper:.3f}]</td>'
                 f'<td class="t">{r.error:+.3f}</td>'
                 f'<td class="{"ok" if r.covered else "bad"}">{"yes" if r.covered else "no"}'
                 "</td>")
        assert cells in sec
    inside = f"{rec['covered']} of {rec['n_targets']} inside the 90% predictive interval"
    shown = (f"<b>{inside}</b>" if rec["covered"] == rec["n_targets"]
             else f'<span class="flag">{inside}</span>')
    assert (f"Ladder forecast of <b>toy_rc</b> (len_norm) for <b>800M</b> from 100M, 200M, "
            f"400M: 2 target checkpoints, mean |error| <b>{rec['mean_abs_error']:.3f}</b>, "
            f"{shown}.") in sec
    sd = rec["info"]["size_level_sd"]
    assert sd > 0 and f"a size-level error of sd {sd:.3f}" in sec
    assert 'class="warn"' not in sec  # three sizes: no note
    assert _embedded(made / "lad" / "ladder_forecast.png") in sec


def test_two_size_ladder_says_its_interval_lacks_the_size_level_error(made: Path) -> None:
    text = (made / "report.html").read_text()
    sec = _section(text, "lad2-ladder")
    note = json.loads((made / "lad2" / "ladder_forecast.json").read_text())["info"]["note"]
    assert note.startswith("no size-level error in the interval")
    assert f'<p class="warn">Read with care: {html.escape(note)}.</p>' in sec
    headline = text[text.index("Every result in one line"):text.index("<nav>")]
    assert "from 100M, 200M: 2 target checkpoints" in headline
    assert f"({html.escape(note)})." in headline  # said in the one-line summary too


def test_ground_truth_notes_read_off_the_rows(tmp_path: Path) -> None:
    """Chosen rows: a gap interval (1 checkpoint before the elbow, as OLMo-2 7B's cloze tasks),
    a saturating jump with a narrow interval, a wide ReLU interval and a group with no elbow."""
    rows = pd.DataFrame({
        "task": "t", "group": ["gap", "jump", "wide", "none"],
        "elbow": [4.3255, 2.7075, 5.6173, np.nan], "lower": [3.1152, 2.6904, 5.0883, np.nan],
        "upper": [12.2571, 2.7456, 6.3839, np.nan], "n_checkpoints": [186, 186, 27, 27],
        "n_pre": [1, 11, 12, np.nan], "model_kind": ["relu", "saturating", "relu", "none"],
        "metric": "acc"})
    GroundTruthTable(rows).save(tmp_path)
    sec = _section(build_report(tmp_path).read_text(), "ground-truth")
    assert '<td class="t">gap interval, wide</td>' in sec
    assert '<td class="t">jump</td>' in sec  # 0.055 nats wide: not "wide"
    assert '<td class="t">wide</td>' in sec and '<td class="t">no elbow</td>' in sec
    assert "<td>9.142</td>" in sec and "[3.115, 12.257]" in sec and "1 of 186" in sec
    for note in ("gap interval", "jump", "wide", "no elbow"):  # each explained once
        assert sec.count(f"<li><b>{note}</b>: ") == 1
    assert "the interval is wider than the paper&#x27;s success band of ±0.1 nats" in sec


def test_no_legend_for_notes_no_row_has(tmp_path: Path) -> None:
    rows = pd.DataFrame({"task": "t", "group": ["all"], "elbow": [2.7], "lower": [2.68],
                         "upper": [2.74], "n_checkpoints": [40], "n_pre": [12],
                         "model_kind": ["relu"], "metric": "acc"})
    GroundTruthTable(rows).save(tmp_path)
    text = build_report(tmp_path).read_text()
    sec = _section(text, "ground-truth")
    assert "<li><b>" not in sec
    assert ("Ground truth of <b>t</b> (acc): the few-shot curve leaves chance at <b>2.700 "
            "nats</b>, 95% interval [2.680, 2.740] (12 of 40 checkpoints before it).") in sec


def test_broken_ladder_files_are_named(made: Path, tmp_path: Path) -> None:
    src = made / "lad"
    csv = pd.read_csv(src / "ladder_forecast.csv")
    record = json.loads((src / "ladder_forecast.json").read_text())
    csv.drop(columns="pred_upper").to_csv(tmp_path / "ladder_forecast.csv", index=False)
    (tmp_path / "ladder_forecast.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"ladder_forecast\.csv.*pred_upper.*required column"):
        collect(tmp_path)
    (tmp_path / "ladder_forecast.csv").unlink()  # the JSON's forecasts are the table then
    record["forecasts"][1].pop("acc")
    (tmp_path / "ladder_forecast.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"ladder_forecast\.json.*forecast 1 has no 'acc'"):
        collect(tmp_path)
    del record["covered"]
    (tmp_path / "ladder_forecast.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"ladder_forecast\.json.*missing field 'covered'"):
        collect(tmp_path)


def test_ladder_csv_without_its_record_stays_an_other_output(made: Path, tmp_path: Path) -> None:
    (tmp_path / "ladder_forecast.csv").write_bytes(
        (made / "lad" / "ladder_forecast.csv").read_bytes())
    res = collect(tmp_path)
    assert res.ladder is None and [t.name for t in res.other_tables] == ["ladder_forecast.csv"]


# ------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OLMo-2 7B piqa_rc ground truth (one checkpoint before the elbow: the gap interval) and a
    ladder of two sizes (190M, 370M; 1xC runs) forecasting the 3B's arc_easy_rc."""
    seven = OLMO / "peteish7_eval_full.csv"
    small = [OLMO / f"{s}-1xC.csv" for s in ("190M", "370M", "3B")]
    if not seven.is_file() or not all(p.is_file() for p in small):
        pytest.skip("shared OLMo ladder data absent")
    root = tmp_path_factory.mktemp("real")
    out = root / "results"
    _cli("import-olmo", seven, "--task", "piqa_rc", "--out", root / "7b.parquet")
    _cli("ground-truth", root / "7b.parquet", "--task", "piqa_rc", "--metric", "len_norm",
         "--out", out / "gt")
    _cli("import-olmo", *small, "--task", "arc_easy_rc", "--out", root / "ladder.parquet")
    _cli("ladder", root / "ladder.parquet", "--task", "arc_easy_rc", "--target", "3B",
         "--metric", "len_norm", "--n-boot", "20", "--out", out / "ladder")
    _cli("report", out)
    return out


def test_real_sections_show_the_gap_interval_and_the_ladder_note(real: Path) -> None:
    text = (real / "report.html").read_text()
    assert parse(text).section_ids == ["gt-ground-truth", "ladder-ladder", "settings"]
    gt = pd.read_csv(real / "gt" / "ground_truth.csv").iloc[0]
    assert (gt["n_pre"], gt["model_kind"]) == (1, "relu")  # docs/real-data.md: 4.33 [3.12, 12.26]
    sec = _section(text, "gt-ground-truth")
    assert (f"the few-shot curve leaves chance at <b>{gt['elbow']:.3f} nats</b>, 95% interval "
            f"[{gt['lower']:.3f}, {gt['upper']:.3f}] (1 of {int(gt['n_checkpoints'])} "
            "checkpoints before it)") in sec
    assert '<td class="t">gap interval, wide</td>' in sec
    sec = _section(text, "ladder-ladder")
    rec = json.loads((real / "ladder" / "ladder_forecast.json").read_text())
    assert rec["train_groups"] == ["190M", "370M"]
    assert f'Read with care: {html.escape(rec["info"]["note"])}.' in sec
    for r in pd.read_csv(real / "ladder" / "ladder_forecast.csv").itertuples():
        assert (f"<td>{r.acc:.3f}</td><td>{r.acc_pred:.3f}</td>"
                f'<td class="t">[{r.pred_lower:.3f}, {r.pred_upper:.3f}]</td>') in sec
    assert f"mean |error| <b>{rec['mean_abs_error']:.3f}</b>" in sec
