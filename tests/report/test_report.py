"""build_report on realistic results folders: sections, numbers, embedding, escaping, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import TRUE_E, copy_sections
from report_pagecheck import parse

from emergence_law.errors import DataError, OptionError
from emergence_law.report import build_report, collect

FULL_SECTIONS = ["fit", "backtest", "ablations", "compare", "to-params", "passuntil", "lab",
                 "data", "settings"]


@pytest.fixture(scope="module")
def full_page(full_results: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = build_report(full_results, tmp_path_factory.mktemp("page") / "report.html")
    return out.read_text(encoding="utf-8")


def test_every_section_appears_in_pipeline_order(full_page: str) -> None:
    page = parse(full_page)
    assert page.section_ids == FULL_SECTIONS
    # the table of contents links to each section, and every link has a target
    anchors = [v[1:] for tag, attr, v in page.urls if attr == "href"]
    assert anchors == FULL_SECTIONS
    assert set(anchors) <= set(page.ids)
    assert page.title == "emergence-law report: arith"


def test_numbers_from_the_files_are_shown(full_results: Path, full_page: str) -> None:
    fit = json.loads((full_results / "fit.json").read_text())
    ep = fit["emergence_point"]
    assert f"<b>{ep['median']:.3f} nats</b> (median)" in full_page
    assert f"[{ep['percentiles']['5']:.3f}, {ep['percentiles']['95']:.3f}]; MLE 1.920" in full_page
    assert "2,000 posterior samples" in full_page
    # the earliest successful backtest cut-off used 6x fewer FLOPs (the 9x one failed)
    assert ("Backtest: 5 cut-offs, all fitted, 4 within tolerance, the earliest successful "
            "prediction <b>6&times; the FLOPs</b> in advance (FLOPs ratio, defined in the "
            "answer above), median |error| 0.05 nats.") in full_page
    # PassUntil: rate, interval at its level, target size
    assert ("Ablations: 6 variants (1 skipped or failed); 4 of 5 within tolerance; |error| "
            "from 0.02 to 0.12 nats.") in full_page
    assert "<details><summary>ablations.md</summary>" in full_page
    assert "predicted pass rate <b>0.0003</b> (90% interval [0.0001, 0.0009])" in full_page
    assert "7e9 parameters (pooled fit of arith)" in full_page
    # where the data came from, as the commands' provenance records name it
    assert 'obs.csv</span> (fit, ablate, backtest).' in full_page
    pu = full_page[full_page.index('<section id="passuntil">'):]
    assert "<th>pass_rate</th>" in pu[:pu.index("</section>")]  # per-model table of the fit
    page = parse(full_page)
    assert page.sections_rows["backtest"] == 1 + 5          # header + 5 cut-offs
    assert page.sections_rows["data"] == 1 + 120            # 30 checkpoints x 4 settings
    assert full_page.count('<td class="ok">yes</td>') == 4 + 4   # backtest + ablations
    assert full_page.count('<td class="bad">no</td>') == 1 + 1


def test_no_warning_for_converged_chains(full_page: str) -> None:
    fit = full_page[full_page.index('<section id="fit">'):]
    assert 'class="warn"' not in fit[:fit.index("</section>")]


def test_images_are_embedded_byte_for_byte(full_results: Path, full_page: str) -> None:
    page = parse(full_page)
    pngs = sorted(full_results.rglob("*.png"))
    assert len(page.images) == len(pngs) == 9
    embedded = set()
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        embedded.add(base64.b64decode(img["src"][len(prefix):], validate=True))
        assert img["alt"]
    assert embedded == {p.read_bytes() for p in pngs}


def test_page_is_self_contained(full_page: str) -> None:
    page = parse(full_page)
    forbidden = {"script", "link", "iframe", "object", "embed", "base", "frame", "audio",
                 "video", "source", "form"}
    assert not forbidden & set(page.tags)
    for tag, attr, value in page.urls:
        assert value.startswith(("data:image/png;base64,", "#")), (tag, attr, value[:60])
    lowered = full_page.lower()
    for needle in ("http://", "https://", "url(", "@import", "//fonts", "src=\"//"):
        assert needle not in lowered
    assert "default-src 'none'" in full_page  # the browser itself refuses any fetch


def test_default_output_is_report_html_in_the_folder(results_copy) -> None:
    folder = results_copy()
    out = build_report(folder)
    assert out == folder / "report.html"
    assert out.stat().st_size > 50_000
    # a second build ignores the first report and leaves no temporary file behind
    assert build_report(folder) == out
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_sections_appear_only_when_their_files_are_present(results_subset) -> None:
    folder = results_subset(["backtest"])
    page = parse(build_report(folder).read_text())
    assert page.section_ids == ["backtest", "settings"]
    assert page.title == "emergence-law report"
    folder = results_subset(["passuntil", "lab"])
    page = parse(build_report(folder).read_text())
    assert page.section_ids == ["passuntil", "lab", "settings"]


def test_text_from_files_is_escaped(results_subset) -> None:
    evil = "<script>alert('x')</script> & <i>co</i>"
    folder = results_subset(["fit", "ablate"])
    ab = pd.read_csv(folder / "ablations.csv")
    ab.loc[0, "ablation"] = '<img src=x onerror="alert(1)">'
    ab.to_csv(folder / "ablations.csv", index=False)
    fit = json.loads((folder / "fit.json").read_text())
    fit["task"] = evil
    fit["params"]["<b>odd key</b>"] = "</td></tr></table>"
    (folder / "fit.json").write_text(json.dumps(fit))
    text = build_report(folder).read_text()
    page = parse(text)
    assert "script" not in page.tags
    assert len(page.images) == 3  # fit_curves, emergence_cdf, ablations: no injected <img>
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;i&gt;co&lt;/i&gt;" in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    assert "&lt;b&gt;odd key&lt;/b&gt;" in text
    assert page.section_ids == ["fit", "ablations", "data", "settings"]


def test_long_data_table_is_cut_with_a_count(results_subset) -> None:
    folder = results_subset(["fit"])
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"loss": rng.uniform(2, 3, 1234), "task": "arith",
                        "value": rng.uniform(0, 1, 1234), "setting": "fewshot", "shots": 5})
    big.to_csv(folder / "data_used.csv", index=False)
    text = build_report(folder).read_text()
    assert "Showing the first 200 of 1,234 rows (1,034 more in the file)" in text
    assert parse(text).sections_rows["data"] == 1 + 200
    assert "1,234 observation rows; 1 task; 1234 fewshot" in text


def test_other_outputs_get_their_own_section(results_copy) -> None:
    folder = results_copy()
    (folder / "extra_plot.png").write_bytes((folder / "compare.png").read_bytes())
    (folder / "notes.csv").write_text("name,score\nalpha,0.5\nbeta,0.75\n")
    (folder / "meta.json").write_text(json.dumps({"seed": 7, "origin": "lab"}))
    (folder / "README.txt").write_text("not shown")
    text = build_report(folder).read_text()
    page = parse(text)
    assert page.section_ids[-2:] == ["other", "settings"]
    assert len(page.images) == 10
    for needle in ("notes.csv", "meta.json", "extra plot", "<td class=\"t\">beta</td>",
                   "<td>0.75</td>", "origin"):
        assert needle in text
    assert "README.txt" not in text


def test_compare_and_to_params_sections(full_page: str) -> None:
    assert ("Comparison: v2 emerges first (at a higher pretraining loss) with probability "
            "0.930 +/- 0.010 (Monte Carlo error).") in full_page
    assert ("Model size at emergence: emergence at about 3.2e11 parameters (5-95%: 2.5e11 to "
            "5e11).") in full_page
    cmp = full_page[full_page.index('<section id="compare">'):]
    cmp = cmp[:cmp.index("</section>")]
    assert cmp.count("<details><summary>fit of series") == 2
    assert "<td>1.950</td>" in cmp                          # a series' emergence point
    tp = full_page[full_page.index('<section id="to-params">'):]
    tp = tp[:tp.index("</section>")]
    assert ('<tr><td class="t">parameters</td><td>3.1e11</td><td>2.5e11</td><td>3.2e11</td>'
            "<td>5e11</td></tr>") in tp
    assert "extrapolated 0.1 nats below" in tp
    assert "scaling_law.alpha" in tp


def test_backtest_of_two_predictors_is_summarised_per_predictor(results_subset) -> None:
    folder = results_subset(["backtest"])
    bt = pd.read_csv(folder / "backtest.csv")
    two = bt.assign(method="two_step", success=False, error=bt["error"] * 3)
    two.loc[4, "status"] = "failed"
    pd.concat([bt, two]).to_csv(folder / "backtest.csv", index=False)
    text = build_report(folder).read_text()
    assert ("Backtest, emergence_law: 5 cut-offs, all fitted, 4 within tolerance, the "
            "earliest successful prediction <b>6&times; the FLOPs</b> in advance (FLOPs ratio, "
            "defined in the answer above), median |error| 0.05 nats; two_step: 5 cut-offs, 4 "
            "fitted (1 skipped or failed), 0 within tolerance, median |error| 0.105 nats.") in text
    assert parse(text).sections_rows["backtest"] == 1 + 10


def test_lab_answers_origin_plots_and_fits(full_page: str) -> None:
    lab = full_page[full_page.index('<section id="lab">'):]
    lab = lab[:lab.index("</section>")]
    assert "<li><b>2. finetuning shifts elbow</b>: yes: 0.05 to 0.2 nats, growing with D</li>" \
        in lab
    assert lab.count("<img ") == 2                         # lab_emergence + plots/ listed
    assert "(finetune_shift.png)" in lab
    assert '<summary class="file">emergence_fit_full.json</summary>' in lab
    assert "Warning from the fit: few checkpoints" in lab
    assert "<td>2.160</td>" in lab                         # its emergence point, in nats
    # the headline carries the prediction answer and the data's origin
    assert "Toy lab, prediction vs ground truth: full: predicted 2.160 nats" in full_page
    assert "Data: measured by `emergence-law lab run --scale small` (seed 0)" in full_page


@pytest.mark.parametrize(("plots", "pattern"), [
    (["plots/missing.png"], r"lab_summary.json: listed plot 'plots/missing.png' does not exist"),
    (["../outside.png"], r"lab_summary.json: plot '../outside.png' lies outside the results"),
    ("plots/a.png", r"lab_summary.json: 'plots' must be a list of relative file names"),
])
def test_bad_listed_plot_is_named(results_subset, plots, pattern: str) -> None:
    folder = results_subset(["lab"])
    (folder.parent / "outside.png").write_bytes((folder / "lab_emergence.png").read_bytes())
    summary = json.loads((folder / "lab_summary.json").read_text())
    summary["plots"] = plots
    (folder / "lab_summary.json").write_text(json.dumps(summary))
    with pytest.raises(DataError, match=pattern):
        build_report(folder)


def test_broken_unknown_files_are_reported_not_fatal(results_subset) -> None:
    """Files no command writes may be anything: the page says which could not be read."""
    folder = results_subset(["backtest"])
    (folder / "notes.json").write_text("{,}")
    (folder / "logo.png").write_text("GIF89a")
    (folder / "table.csv").write_text("")
    text = build_report(folder).read_text()
    assert parse(text).section_ids == ["backtest", "other", "settings"]
    for name, reason in (("notes.json", "invalid JSON at line 1"),
                         ("logo.png", "not a PNG image"), ("table.csv", "empty file")):
        assert f'<span class="file">{name}</span> could not be read: {reason}' in text


def test_provenance_lists_commands_in_pipeline_order(full_page: str) -> None:
    order = ["lab run", "fit", "ablate", "backtest", "compare", "to-params", "passuntil fit"]
    positions = [full_page.index(f"<h3><code>{c}</code></h3>") for c in order]
    assert positions == sorted(positions)
    settings = full_page[full_page.index('<section id="settings">'):]
    assert "Versions" in settings and "numpy" in settings and "platform" not in settings[:10]
    assert "samples" in settings  # the fit's options


def test_unconverged_chains_are_flagged(results_subset) -> None:
    folder = results_subset(["fit"])
    fit = json.loads((folder / "fit.json").read_text())
    fit["diagnostics"]["rhat"]["alpha"] = 1.2
    fit["diagnostics"]["ess"]["C"] = 35.0
    (folder / "fit.json").write_text(json.dumps(fit))
    text = build_report(folder).read_text()
    assert "rhat.alpha = 1.2 exceeds 1.01" in text
    assert "ess.C = 35 is below 400" in text


def test_subfolders_with_outputs_become_labelled_parts(results_subset, full_results) -> None:
    folder = results_subset(["fit", "backtest"])
    copy_sections(full_results, folder / "passuntil_fit", ["passuntil"])
    copy_sections(full_results, folder / "lab out", ["lab"])
    raw = folder / "measurements"                     # no documented name: not a part
    raw.mkdir()
    (raw / "loss.csv").write_text("model,loss\nm,2.5\n")
    (folder / ".cache").mkdir()
    text = build_report(folder).read_text()
    page = parse(text)
    # grouped by kind across the parts (forecast first, data last), the folder before its parts
    assert page.section_ids == ["fit", "backtest", "passuntil_fit-passuntil", "lab-out-lab",
                                "data", "settings"]
    assert "PassUntil task scaling law (passuntil_fit/)" in text
    assert '<span class="file">passuntil_fit/</span> PassUntil: predicted pass rate' in text
    assert "<h3><code>passuntil fit</code> <span class=\"file\">in passuntil_fit/</span></h3>" \
        in text
    assert "loss.csv" not in text
    assert len(page.images) == 2 + 1 + 2 + 1  # fit, backtest, lab, passuntil


def test_only_subfolders(results_subset, tmp_path: Path, full_results: Path) -> None:
    copy_sections(full_results, tmp_path / "top" / "bt", ["backtest"])
    page = parse(build_report(tmp_path / "top").read_text())
    assert page.section_ids == ["bt-backtest", "settings"]
    assert (tmp_path / "top" / "report.html").is_file()


def test_collect_sees_every_image(full_results: Path) -> None:
    res = collect(full_results)
    assert len(res.images) == 9
    assert res.fit_curves is not None and res.fit_curves.width > 100
    assert res.fit.mle == pytest.approx(TRUE_E + 0.02)


# ---------------------------------------------------------------------------------------------
# bad input: one clear error naming the file / column / option


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"option DIR: results folder .*nope does not exist"):
        build_report(tmp_path / "nope")


def test_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(OptionError, match="is a file, expected a results folder"):
        build_report(tmp_path / "f.json")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no files it knows \(nor do its subfolders\); "
                                        "expected the outputs of fit"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_only_provenance(tmp_path: Path) -> None:
    (tmp_path / "run_fit.json").write_text(json.dumps({"command": "fit"}))
    with pytest.raises(DataError, match=r"only provenance records \(run_\*.json\)"):
        build_report(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("fit.json", '{"task": "arith",\n "form": }', r"fit.json: invalid JSON at line 2"),
        ("fit.json", "[1, 2]", r"fit.json: expected a JSON object, got a list"),
        ("backtest.csv", "cutoff_loss,prediction\n2.1,1.9\n",
         r"backtest.csv, column 'error': required column is missing \(columns found: "
         r"cutoff_loss, prediction\)"),
        ("ablations.csv", "", r"ablations.csv: empty file"),
        ("fit_curves.png", "not a png", r"fit_curves.png: not a PNG image"),
        ("lab_summary.json", b"\xff\xfe{", r"lab_summary.json: not UTF-8 text"),
        ("data_used.csv", b"loss,task\n\xff\xfe,x\n", r"data_used.csv: cannot be read as CSV"),
        ("data_used.csv", "loss,task\n2.5,a\n2.4,b,extra,cells\n",
         r"data_used.csv: cannot be read as CSV: Error tokenizing data"),
    ],
)
def test_bad_file_is_named(results_subset, name: str, content, pattern: str) -> None:
    folder = results_subset(["fit"])
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(DataError, match=pattern):
        build_report(folder)


def test_truncated_png_is_named(results_subset) -> None:
    folder = results_subset(["fit"])
    data = (folder / "emergence_cdf.png").read_bytes()
    (folder / "emergence_cdf.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="emergence_cdf.png: PNG image is truncated"):
        build_report(folder)


def test_out_is_a_folder(results_subset) -> None:
    folder = results_subset(["fit"])
    with pytest.raises(OptionError, match="^parameter out: .* is a folder"):
        build_report(folder, out=folder)


@pytest.mark.parametrize(("name", "change", "pattern"), [
    ("fit.json", lambda d: d.pop("theta"),
     r"fit\.json: not a fit result \(missing field 'theta'\)"),
    ("fit.json", lambda d: d["emergence_point"].update(percentiles={"p5": 1.8}),
     r"fit\.json: percentile key 'p5' is not a percent like \"5\""),
    ("compare.json", lambda d: d["series"]["v1"].pop("emergence_point"),
     r"compare\.json: series 'v1': not a fit result \(missing field 'emergence_point'\)"),
    ("to_params.json", lambda d: d.pop("message"),
     r"to_params\.json: not a to_params result \(missing field 'message'\)"),
    ("passuntil_fit.json", lambda d: d.pop("confidence"),
     r"passuntil_fit\.json: not a passuntil_fit result \(missing field 'confidence'\)"),
])
def test_a_result_missing_what_its_type_declares_is_named(results_copy, name, change,
                                                          pattern) -> None:
    """The report reads through the result types: a record that lacks a declared field, or
    writes percentiles under another key, stops it with one line naming the file."""
    folder = results_copy()
    record = json.loads((folder / name).read_text())
    change(record)
    (folder / name).write_text(json.dumps(record))
    with pytest.raises(DataError, match=pattern):
        build_report(folder)


def test_known_names_are_the_result_types_files() -> None:
    from emergence_law.report.collect import known_names
    from emergence_law.results import output_file_names

    assert known_names() == output_file_names()
    assert {"fit.json", "backtest.csv", "passuntil_fit.json", "lab_summary.json",
            "ground_truth.csv", "ladder_forecast.json"} <= known_names()
