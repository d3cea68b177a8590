"""The report's sections for the few-shot-only commands: ``ground-truth`` (one elbow per group,
with notes a reader needs to trust it) and ``ladder`` (forecast against measured per target),
each read through its typed result."""

from __future__ import annotations

from typing import Any

import pandas as pd

from emergence_law.report.collect import ResultsFolder
from emergence_law.report.render import Html, esc, fmt, key_values, nats, table
from emergence_law.report.sections import DATA_ROWS_SHOWN, Section, folded, result_section
from emergence_law.report.sentences import (
    ground_truth_sentence,
    ladder_info,
    ladder_level,
    ladder_sentence,
    num,
)
from emergence_law.results.analysis import GroundTruthTable, LadderForecastResult

#: the short notes of the ground-truth table (one word or two, in the cell) and what each
#: means (said once, under the table)
GT_NOTES = {
    "no elbow": "the few-shot rows never rise clearly (not emerged in these checkpoints) or rise "
                "from the weakest checkpoint on (no flat base before the rise); the command "
                "printed which, and the group's panel in the figure says it",
    "gap interval": "only one checkpoint lies before the elbow, and one point is no flat base: "
                    "the rise starts somewhere in the gap below it, so the interval spans that "
                    "whole gap",
    "jump": "the saturating model (a jump, then a slow rise) was chosen by BIC: the interval "
            "reaches the checkpoints either side of the jump and its rise scale",
    "wide": "the interval is wider than the paper's success band of \u00b1{t:g} nats: too "
            "uncertain to score a forecast against at that precision",
}


def ground_truth_notes(row: pd.Series, threshold: float) -> list[str]:
    """The notes (keys of :data:`GT_NOTES`) of one group's elbow, read off its CSV row: why
    there is no elbow, an interval that spans a gap between checkpoints, the saturating
    model's widening, an interval too wide to score a forecast against."""
    if str(row["model_kind"]) == "none":
        return ["no elbow"]
    notes = []
    if num(pd.to_numeric(row["n_pre"], errors="coerce")) == 1:
        notes.append("gap interval")
    if str(row["model_kind"]) == "saturating":
        notes.append("jump")
    width = num(pd.to_numeric(row["upper"], errors="coerce")
                - pd.to_numeric(row["lower"], errors="coerce"))
    if width is not None and width > 2 * threshold:
        notes.append("wide")
    return notes


def ground_truth_section(res: ResultsFolder) -> Section | None:
    """ground_truth.csv and .png: the elbows in words, the figure, one row per group."""
    return result_section("ground-truth", "Ground truth: where few-shot performance leaves "
                          "chance", res.ground_truth, res.ground_truth_plot, "Few-shot "
                          "performance against pretraining loss, one panel per group: the "
                          "fitted curve, its elbow and the 95% interval", _gt_lead, _gt_table)


def _gt_lead(gt: GroundTruthTable) -> list[str]:
    return [f"<p>{ground_truth_sentence(gt)}</p>"]


def _gt_table(gt: GroundTruthTable) -> list[str]:
    from emergence_law.analysis.ablations import DEFAULT_THRESHOLD

    rows = []
    for _, r in gt.table.iterrows():
        found = str(r["model_kind"]) != "none"
        rows.append([
            str(r["group"]), "yes" if found else "no elbow",
            r["elbow"] if found else None,
            Html(f"[{nats(r['lower'])}, {nats(r['upper'])}]") if found else None,
            r["upper"] - r["lower"] if found else None,
            Html(f"{fmt(r['n_pre'])} of {fmt(r['n_checkpoints'])}") if found
            else Html(f"&ndash; of {fmt(r['n_checkpoints'])}"),
            str(r["model_kind"]) if found else None,
            ", ".join(ground_truth_notes(r, DEFAULT_THRESHOLD)) or None])
    header = ["group", "emerged", "elbow (nats)", "95% interval", "width", "checkpoints before "
              "the elbow", "model", "notes"]
    html = table(header, rows, formatter=nats)
    used = [n for n in GT_NOTES if any(n in str(r[-1]).split(", ") for r in rows)]
    legend = "".join(f"<li><b>{esc(n)}</b>: {esc(GT_NOTES[n].format(t=DEFAULT_THRESHOLD))}</li>"
                     for n in used)
    return [folded(html, len(rows), "the elbows: " + GroundTruthTable.FILES["table"])
            + (f'<ul class="note">{legend}</ul>' if legend else "")]


def ladder_section(res: ResultsFolder) -> Section | None:
    """ladder_forecast.json/.csv/.png: the forecast in words with the result's own note, the
    figure, forecast against measured per target, then the fitted law and settings."""
    return result_section("ladder", "Ladder forecast: a larger model from smaller ones",
                          res.ladder, res.ladder_plot, "Step 1, task loss against pretraining "
                          "loss, and step 2, accuracy against pretraining loss: the ladder by "
                          "size, the two-step fit, the target's measured points and its "
                          "forecasts with their intervals", _ladder_lead, _ladder_table)


def _ladder_lead(lad: LadderForecastResult) -> list[str]:
    body = [f"<p>{ladder_sentence(lad, with_note=False)}</p>"]  # the note follows, boxed
    info = ladder_info(lad)
    if info.get("note"):
        body.append(f'<p class="warn">Read with care: {esc(info["note"])}.</p>')
    parts = []
    runs, n_ckpt = info.get("n_train_runs"), info.get("n_train_checkpoints")
    if num(n_ckpt) is not None and num(runs) is not None:
        parts.append(f"The two-step law (pretraining loss &rarr; "
                     f"{esc(info.get('nll_metric', 'task loss'))} &rarr; "
                     f"{esc(info.get('acc_metric', 'accuracy'))}) was fitted on {fmt(n_ckpt)} "
                     f"checkpoints of {fmt(runs)} runs; the target's own loss is the input.")
    sd, reach = num(info.get("size_level_sd")), num(info.get("reach_ratio"))
    text = (f"The predictive interval resamples the training runs ({fmt(lad.n_boot)} "
            "bootstrap fits) and adds a resampled residual")
    if sd:
        text += (f" and a size-level error of sd {nats(sd)} (the error of forecasting the "
                 "largest training size from the others"
                 + (f", scaled &times;{reach:.3g} for how much further the target reaches"
                    if reach is not None and reach != 1 else "") + ")")
    parts.append(text + ".")
    body.append(f'<p class="note">{" ".join(parts)}</p>')
    return body


def _ladder_table(lad: LadderForecastResult) -> list[str]:
    frame = lad.to_frame()
    pct = ladder_level(lad)
    info = ladder_info(lad)
    step1 = "nll" in frame.columns and "nll_pred" in frame.columns
    nll = esc(info.get("nll_metric", "task loss"))
    header = ["run", "checkpoint", "loss (nats)", "measured", "forecast",
              f"{pct}predictive interval", "error", "covered"]
    if step1:
        header += [f"{nll} measured", f"{nll} forecast"]
    rows = []
    for _, r in frame.head(DATA_ROWS_SHOWN).iterrows():
        row = [str(r["run"]), str(r["checkpoint"]), r["loss"], r["acc"], r["acc_pred"],
               Html(f"[{nats(r['pred_lower'])}, {nats(r['pred_upper'])}]"),
               Html(_signed(r["error"])), _flag_value(r["covered"])]
        if step1:
            row += [r["nll"], r["nll_pred"]]
        rows.append(row)
    note = ""
    if len(frame) > DATA_ROWS_SHOWN:
        note = (f'<p class="note">Showing the first {DATA_ROWS_SHOWN:,} of {len(frame):,} '
                "targets.</p>")
    html = note + table(header, rows, caption="Forecast against measured, per target "
                        "checkpoint", formatter=nats)
    body = [folded(html, len(frame), "forecast against measured: "
                   + LadderForecastResult.FILES["table"])]
    settings = {"params": lad.params, "level": lad.level, "n_boot": lad.n_boot,
                "train_groups": lad.train_groups, "info": info}
    body.append("<details><summary>the fitted two-step law and the settings</summary>"
                + key_values(settings) + "</details>")
    return body


def _signed(value: Any) -> str:
    """An error with its sign (+0.030: the forecast was above the measurement)."""
    x = num(value)
    return fmt(value) if x is None or pd.isna(x) else esc(f"{x:+.3f}")


def _flag_value(value: Any) -> Any:
    """A CSV's True/False (or 1/0) as a bool; anything else as it was written."""
    text = str(value).strip().lower()
    return {"true": True, "1": True, "1.0": True, "false": False, "0": False,
            "0.0": False}.get(text, value)
