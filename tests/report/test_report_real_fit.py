"""The report on what the real commands write (not fixtures of their shapes).

Simulated observations (known law) -> ``emergence-law fit`` (MLE + a short MCMC run),
``backtest`` and ``ablate`` (MLE only, to stay fast); simulated PassUntil counts ->
``emergence-law passuntil fit`` into ``passuntil_fit/``; then ``emergence-law report``. The
numbers on the page are the files' numbers, and the plots load in Chromium.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
from report_browser import find_chromium, loaded_image_widths
from report_pagecheck import parse

from emergence_law.cli import main
from emergence_law.passuntil.simulate import simulate_task
from emergence_law.simulate import simulate_observations

PNGS = ("fit_curves.png", "emergence_cdf.png", "backtest.png", "ablations.png",
        "passuntil_fit/passuntil_fit.png")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("realfit")
    obs, _ = simulate_observations(seed=3, n_checkpoints=12, data_levels=(30, 100, 300, 1000),
                                   task="simtask")
    obs.to_csv(root / "obs.csv", index=False)
    out = root / "results"
    # a short MCMC run may not converge: the fitter then warns, and the report must show it
    assert main(["fit", str(root / "obs.csv"), "--task", "simtask", "--samples", "100",
                 "--out", str(out)]) == 0
    # hold out the most capable checkpoints one by one, MLE only, while 8 or more remain
    assert main(["backtest", str(root / "obs.csv"), "--task", "simtask", "--posterior", "none",
                 "--min-checkpoints", "8", "--workers", "1", "--out", str(out)]) == 0
    # two ablations, MLE only (the full set with MCMC is minutes of work)
    assert main(["ablate", str(root / "obs.csv"), "--task", "simtask", "--posterior", "none",
                 "--only", "full", "--only", "last 3 checkpoints", "--workers", "1",
                 "--out", str(out)]) == 0
    # passuntil fit's default output folder name, as a subfolder: the report reads it too
    task = simulate_task(n_instances=12, seed=0)
    task.counts.to_csv(root / "counts.csv", index=False)
    assert main(["passuntil", "fit", str(root / "counts.csv"), "--target-params", "1e10",
                 "--level", "dataset", "--out", str(out / "passuntil_fit")]) == 0
    assert main(["report", str(out)]) == 0
    return out


def test_report_shows_the_real_fit(fitted: Path) -> None:
    fit = json.loads((fitted / "fit.json").read_text())
    text = (fitted / "report.html").read_text()
    page = parse(text)
    assert page.section_ids == ["fit", "backtest", "ablations", "passuntil_fit-passuntil",
                                "data", "settings"]
    assert page.title == "emergence-law report: simtask"
    ep = fit["emergence_point"]
    assert f"<b>{ep['median']:.3f} nats</b> (median)" in text
    assert f"MLE {ep['mle']:.3f}" in text
    p5, p95 = ep["percentiles"]["5"], ep["percentiles"]["95"]
    assert f"5%&ndash;95% interval [{p5:.3f}, {p95:.3f}]" in text
    for warning in fit.get("warnings", []):            # the fitter's warnings are shown
        assert f"Warning from the fit: {warning}" in html.unescape(text)
    # the data table: every row of data_used.csv (fewer than the 200-row cut)
    n_rows = len((fitted / "data_used.csv").read_text().strip().splitlines()) - 1
    assert page.sections_rows["data"] == 1 + n_rows
    # backtest: every cut-off, and the headline's counts and FLOPs ratio from the CSV
    bt = pd.read_csv(fitted / "backtest.csv")
    assert page.sections_rows["backtest"] == 1 + len(bt)
    fitted_bt = bt[bt["status"] == "ok"]
    good = fitted_bt[fitted_bt["success"].astype(bool)]
    expected = f"Backtest: {len(bt)} cut-offs"  # every cut-off counted, then the fitted ones
    if len(fitted_bt) < len(bt):
        expected += f", {len(fitted_bt)} fitted ({len(bt) - len(fitted_bt)} skipped or failed)"
    else:
        expected += ", all fitted"
    expected += f", {len(good)} within tolerance"
    if len(good):
        expected += (f", the earliest successful prediction <b>"
                     f"{good['flops_ratio'].max():.3g}&times; the FLOPs</b> in advance")
    assert expected in text
    # ablations: every row of the CSV, the success count in the headline, the Markdown kept
    ab = pd.read_csv(fitted / "ablations.csv")
    assert page.sections_rows["ablations"] == 1 + len(ab)
    ok = ab[ab["status"] == "ok"]
    skipped = f" ({len(ab) - len(ok)} skipped or failed)" if len(ok) < len(ab) else ""
    assert (f"Ablations: 2 variants{skipped}; {int(ok['success'].astype(bool).sum())} of "
            f"{len(ok)} within tolerance") in text
    assert "<details><summary>ablations.md</summary>" in text
    # PassUntil: prediction, interval and its coverage, the fit's per-model table
    pu = json.loads((fitted / "passuntil_fit" / "passuntil_fit.json").read_text())
    lo, hi = pu["interval"]
    assert (f"predicted pass rate <b>{pu['predicted_pass_rate']:.4g}</b> (90% interval "
            f"[{lo:.4g}, {hi:.4g}]) for a model of 1e10 parameters (dataset fit of sim)") in text
    assert page.sections_rows["passuntil_fit-passuntil"] > len(pu["fit"]["models"])
    # every plot embedded byte for byte; the input files named as the data's origin
    pngs = {(fitted / n).read_bytes() for n in PNGS}
    assert {base64.b64decode(i["src"].split(",", 1)[1]) for i in page.images} == pngs
    assert "obs.csv</span> (fit, ablate, backtest)" in text and "counts.csv</span> (passuntil fit)" in text
    assert "<h3><code>fit</code></h3>" in text and "<h3><code>report</code></h3>" in text


def test_real_fit_report_images_load_in_chromium(fitted: Path, tmp_path: Path) -> None:
    chromium = find_chromium()
    widths, _ = loaded_image_widths(chromium, fitted / "report.html", tmp_path)
    expected = [mpimg.imread(fitted / n).shape[1] for n in PNGS]
    assert widths == expected
