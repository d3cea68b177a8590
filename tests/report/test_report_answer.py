"""The report opens with the answer (forecast, interval, ground truth, how far in advance, the
fit's warnings in words), then figures, then tables; long tables are folded with their key
columns first; the backtest summary counts every cut-off."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from emergence_law.demo import ADVANCE_DEFINITION
from emergence_law.report import build_report
from emergence_law.report.render import esc
from emergence_law.results.demo import DemoResult


def _page(folder: Path) -> str:
    return build_report(folder).read_text()


def test_the_answer_comes_first_with_ground_truth_advance_and_warnings(results_copy):
    folder = results_copy()
    fit = json.loads((folder / "fit.json").read_text())
    fit["warnings"] = ["alpha = -2 sits at its bound [-2, 4]: the curvature of E(D) is not "
                       "pinned down"]
    (folder / "fit.json").write_text(json.dumps(fit))
    bt = pd.read_csv(folder / "backtest.csv").assign(gt=1.9)
    bt.to_csv(folder / "backtest.csv", index=False)
    page = _page(folder)
    start = page.index('<div id="answer"')
    assert start < page.index("<nav>") < page.index('<section id="fit">')
    assert start < page.index('class="headline"')
    answer = page[start:page.index("</div>", start)]
    ep = fit["emergence_point"]
    p = ep["percentiles"]
    assert f"pretraining loss of <b>{ep['mle']:.3f} nats</b>" in answer
    assert f"90% interval [{p['5']:.3f}, {p['95']:.3f}]" in answer
    err = ep["mle"] - 1.9
    assert f"Ground truth: <b>1.900 nats</b> (the ground truth of the backtest); error <b>" \
           f"{err:+.3f} nats</b>: a success" in answer
    assert f"How far in advance: <b>6&times;</b> the FLOPs ({esc(ADVANCE_DEFINITION)})" in answer
    assert "the curvature of E(D) is not pinned down" in answer and "np.float64" not in answer


def test_demo_json_supplies_the_ground_truth(results_copy):
    folder = results_copy()
    DemoResult(source="shipped measured data", simulated=False, task="arith", method="full",
               ground_truth={"elbow": 1.95}, min_loss=1.95, mcmc={"mle": 1.92},
               bootstrap={"mle": 1.93}).save(folder)
    page = _page(folder)
    assert ("Ground truth: <b>1.950 nats</b> (an elbow fitted to the few-shot rows of every "
            "checkpoint)") in page


def test_figures_come_before_tables_in_the_fit_section(full_results, tmp_path):
    page = build_report(full_results, tmp_path / "r.html").read_text()
    fit = page[page.index('<section id="fit">'):page.index("</section>",
                                                           page.index('<section id="fit">'))]
    assert fit.index("<img") < fit.index("<table")


def test_a_long_backtest_table_is_folded_with_key_columns_first_and_counted(results_copy):
    folder = results_copy()
    rows = []
    for i in range(23):  # 23 cut-offs, 12 fitted (the CSV)
        ok = i < 12
        rows.append({"n_held_out": i, "extra_a": 1, "extra_b": 2, "cutoff_loss": 2 + i / 100,
                     "prediction": 1.9 if ok else None, "error": 0.01 if ok else None,
                     "success": ok, "flops_ratio": 1 + i / 10 if ok else None,
                     "status": "ok" if ok else ("skipped" if i % 2 else "failed"),
                     "method": "emergence_law", "max_flops_used": 1e15 / (i + 1)})
    pd.DataFrame(rows).to_csv(folder / "backtest.csv", index=False)
    page = _page(folder)
    assert "Backtest: 23 cut-offs, 12 fitted (11 skipped or failed), 12 within tolerance" in page
    sec = page[page.index('<section id="backtest">'):]
    sec = sec[:sec.index("</section>")]
    assert sec.index("<img") < sec.index("<details><summary>the table: backtest.csv, 23 rows")
    header = sec[sec.index("<thead>"):sec.index("</thead>")]
    cols = [h.split(">")[-1] for h in header.split("</th>")[:-1]]
    assert cols[:4] == ["method", "n_held_out", "cutoff_loss", "max_flops_used"]
    assert cols.index("success") < cols.index("extra_a")


def test_a_forecast_at_the_data_edge_is_called_a_bound(results_copy):
    """A forecast at the edge of its data is a bound and says so, next to the forecast."""
    folder = results_copy()
    fit = json.loads((folder / "fit.json").read_text())
    rows = pd.read_csv(folder / "data_used.csv") if "data" not in fit else pd.DataFrame(fit["data"])
    fewshot = rows.loc[rows["setting"] == "fewshot", "loss"].tolist()
    assert fewshot, "the fixture's fit has few-shot rows"
    page = _page(folder)
    answer = page[page.index('<div id="answer"'):]
    answer = answer[:answer.index("</div>")]
    inside = abs(fit["emergence_point"]["mle"] - min(fewshot)) <= 0.02
    assert ("A bound, not an extrapolation" in answer) == inside
    fit["emergence_point"]["mle"] = min(fewshot) + 0.01  # now at the edge
    (folder / "fit.json").write_text(json.dumps(fit))
    answer = _page(folder)
    assert ("A bound, not an extrapolation:</span> the MLE sits at the least loss of the "
            f"few-shot rows used ({min(fewshot):.3f})") in answer
