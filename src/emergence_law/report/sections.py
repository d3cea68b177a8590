"""One renderer per result section (fit, ground truth, backtest, ablations, compare, to-params,
the ladder forecast, PassUntil, the toy lab, the data used), each from the typed results of one
results folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pandas as pd

from emergence_law.fitting.diagnostics import ESS_MIN, RHAT_MAX
from emergence_law.report.collect import Image, ResultsFolder
from emergence_law.report.render import (
    esc,
    figure,
    flatten,
    fmt,
    frame_table,
    json_html,
    key_values,
    nats,
    table,
)
from emergence_law.report.sentences import (
    ablation_sentence,
    anchor,
    backtest_sentence,
    compare_sentence,
    fit_warnings,
    num,
    passuntil_sentence,
    pct_label,
    question,
    size_sentence,
)
from emergence_law.results.analysis import ComparisonResult, ToParamsResult
from emergence_law.results.base import TableResult
from emergence_law.results.core import FitResult

R = TypeVar("R")

#: rows of data_used.csv shown before the table is cut (the rest is counted)
DATA_ROWS_SHOWN = 200
#: rows of any other CSV shown
OTHER_ROWS_SHOWN = 50

#: columns a reader looks at first in each long table; the others follow in file order
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "backtest": ("method", "n_held_out", "cutoff_loss", "max_flops_used", "flops_ratio",
                 "prediction", "p5", "p95", "error", "success", "status", "reason"),
    "ablations": ("ablation", "status", "error", "success", "error_p5", "error_median",
                  "error_p95", "reason"),
    "data": ("task", "model", "checkpoint", "loss", "setting", "shots", "n_train", "method",
             "metric", "value"),
}
#: tables with more rows than this are folded (``<details>``), so the figures come first
FOLD_ROWS = 12


class Section:
    """One ``<section>`` with an anchor, collected so the table of contents can list it."""

    def __init__(self, anchor: str, title: str, body: str) -> None:
        self.anchor, self.title, self.body = anchor, title, body

    def html(self) -> str:
        return (f'<section id="{esc(self.anchor)}"><h2>{esc(self.title)}</h2>'
                f"{self.body}</section>")

    def in_part(self, res: ResultsFolder) -> Section:
        """Anchor and title of a section read from a subfolder name that subfolder."""
        if res.part is None:
            return self
        return Section(anchor(res, self.anchor), f"{self.title} ({res.label})", self.body)


def key_columns_first(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    keys = [c for c in KEY_COLUMNS.get(kind, ()) if c in frame.columns]
    return frame[keys + [c for c in frame.columns if c not in keys]]


def long_table(frame: pd.DataFrame, kind: str, name: str, max_rows: int) -> str:
    """A table with its key columns first; folded behind a summary line when it is long."""
    html = frame_table(key_columns_first(frame, kind), max_rows)
    if len(frame) <= FOLD_ROWS:
        return html
    return (f"<details><summary>the table: {esc(name)}, {len(frame):,} rows (key columns "
            f"first; click to show)</summary>{html}</details>")


# ---------------------------------------------------------------------------------------------
# the fit


def diagnostic_warnings(diag: Mapping[str, Any]) -> str:
    """Flag sampler diagnostics past the fitter's limits (:mod:`emergence_law.fitting.
    diagnostics`) instead of hiding them in a table."""
    notes = []
    for key, value in flatten(diag):
        values = value if isinstance(value, list) else [value]
        nums = [float(v) for v in values if num(v) is not None]
        if not nums:
            continue
        parts = key.lower().replace("_", "").replace("-", "").split(".")
        if any("rhat" in p for p in parts) and max(nums) > RHAT_MAX:
            notes.append(f"{esc(key)} = {fmt(max(nums))} exceeds {RHAT_MAX}: the chains may "
                         "not have converged.")
        elif any(p.startswith("ess") for p in parts) and min(nums) < ESS_MIN:
            notes.append(f"{esc(key)} = {fmt(min(nums))} is below {ESS_MIN}: percentiles in "
                         "the tails are uncertain.")
    return "".join(f'<p class="warn">{n}</p>' for n in notes)


def fit_section(res: ResultsFolder) -> Section | None:
    if not (res.fit or res.fit_curves or res.emergence_cdf):
        return None
    return Section("fit", "Emergence-law fit", fit_body(res.fit, res.fit_curves,
                                                         res.emergence_cdf))


#: fit.json fields shown in their own tables, not among the facts
_FIT_TABLED = {"emergence_point", "params", "diagnostics", "posterior", "warnings", "mode",
               "data"}


def fit_body(fit: FitResult | None, curves: Image | None = None,
             cdf: Image | None = None) -> str:
    """A fit (and its two plots) as HTML: warnings first, then the emergence point."""
    warnings = fit_warnings(fit) if fit is not None else []
    body = [f'<p class="warn">Warning from the fit: {esc(w)}</p>' for w in warnings]
    if curves:
        body.append(figure(curves, "Fitted emergence law: data points, the fitted ReLU "
                           "per data level and the extrapolated few-shot prediction"))
    if cdf:
        body.append(figure(cdf, "Cumulative distribution of the emergence point "
                           "under the posterior"))
    if fit is None:
        return "".join(body)
    header, row = ["MLE"], [fit.mle]
    for label, value in (("median", fit.median), ("mode", fit.mode)):
        if value is not None:
            header.append(label)
            row.append(value)
    for q, value in fit.percentiles.items():
        header.append(pct_label(q))
        row.append(value)
    body.append(table(header, [row], caption="Emergence point (pretraining loss, nats)",
                      formatter=nats))
    if fit.samples is not None:
        body.append(f'<p class="note">{len(fit.samples):,} posterior samples of the emergence '
                    "point stored with the fit.</p>")
    facts = {k: v for k, v in fit.to_dict().items() if k not in _FIT_TABLED}
    body.append("<h3>Model and data selection</h3>" + key_values(facts))
    if fit.params:
        body.append("<h3>Parameters</h3>" + key_values(fit.params))
    if fit.diagnostics:
        # the fitter warns with the same limits; check here only a fit that did not warn
        checks = "" if warnings else diagnostic_warnings(fit.diagnostics)
        body.append("<h3>Sampler diagnostics</h3>" + checks + key_values(fit.diagnostics))
    body.append("<h3>Posterior</h3>" + key_values(fit.posterior))
    return "".join(body)


# ---------------------------------------------------------------------------------------------
# tables and JSON records with their plots


def table_plot_section(anchor: str, title: str, tab: TableResult | None, plot: Image | None,
                       caption: str, extra: str = "", lead: str = "") -> Section | None:
    if tab is None and plot is None and not extra:
        return None
    body = [lead]
    if plot is not None:
        body.append(figure(plot, caption))
    if tab is not None:
        body.append(long_table(tab.table, anchor, tab.FILES["table"], DATA_ROWS_SHOWN))
    body.append(extra)
    return Section(anchor, title, "".join(body))


def json_plot_section(anchor: str, title: str, record: Mapping[str, Any] | None,
                      plot: Image | None, caption: str, lead: str = "") -> Section | None:
    if record is None and plot is None:
        return None
    body = [lead]
    if record is not None:
        body.append(json_html(record))
    if plot is not None:
        body.append(figure(plot, caption))
    return Section(anchor, title, "".join(body))


def result_section(anchor: str, title: str, result: R | None, plot: Image | None,
                   caption: str, parts: Callable[[R], list[str]],
                   after_plot: Callable[[R], list[str]] | None = None) -> Section | None:
    """A section of one typed result and its plot, either of which may be missing: the
    result's ``parts`` (its verdict first), the figure, then parts that read best after it."""
    if result is None and plot is None:
        return None
    body = parts(result) if result is not None else []
    if plot:
        body.append(figure(plot, caption))
    if result is not None and after_plot is not None:
        body += after_plot(result)
    return Section(anchor, title, "".join(body))


def compare_section(res: ResultsFolder) -> Section | None:
    """Verdict first, then the numbers, the plot, and each series' fit as a fold-out."""
    return result_section("compare", "Comparison of model series", res.compare,
                          res.compare_plot, "Emergence posteriors of the compared series",
                          _compare_parts, _compare_fits)


def _compare_parts(cmp: ComparisonResult) -> list[str]:
    return [f"<p>{compare_sentence(cmp)}</p>",
            key_values({k: v for k, v in cmp.to_dict().items() if k not in ("verdict", "series")})]


def _compare_fits(cmp: ComparisonResult) -> list[str]:
    return [f"<details><summary>fit of series {esc(name)}</summary>{fit_body(fit)}</details>"
            for name, fit in cmp.fits().items()]


def to_params_section(res: ResultsFolder) -> Section | None:
    """The size (and FLOPs) at the predicted emergence loss, with the scaling law behind it."""
    return result_section("to-params", "From emergence loss to model size", res.to_params,
                          res.to_params_plot, "Loss scaling law of the model family and the "
                          "size at the predicted emergence loss", _to_params_parts)


def _to_params_parts(tp: ToParamsResult) -> list[str]:
    body = [f"<p>{size_sentence(tp)}</p>"]
    body.extend(f'<p class="note">{esc(n)}</p>' for n in tp.notes)
    levels = sorted({q for key, _ in tp.BLOCKS for q in tp.percentiles(key)})
    rows = []
    for key, label in tp.BLOCKS:
        pct = tp.percentiles(key)
        rows.append([label, getattr(tp, key).get("mle"), *[pct.get(q) for q in levels]])
    body.append(table(["", "MLE", *[pct_label(q) for q in levels]], rows))
    tabled = {key for key, _ in tp.BLOCKS} | {"message", "notes"}
    body.append(key_values({k: v for k, v in tp.to_dict().items() if k not in tabled}))
    return body


def folded(html: str, n_rows: int, what: str) -> str:
    """A table behind a summary line when it has more than FOLD_ROWS rows."""
    if n_rows <= FOLD_ROWS:
        return html
    return f"<details><summary>{esc(what)}, {n_rows:,} rows (click to show)</summary>{html}</details>"


def data_section(res: ResultsFolder) -> Section | None:
    """data_used.csv, or else the column-wise ``data`` a fit.json may carry."""
    if res.data_used is not None:
        frame, name = res.data_used.frame, res.data_used.name
    elif res.fit is not None and res.fit.data is not None:
        frame, name = pd.DataFrame(res.fit.data), "the data field of fit.json"
    else:
        return None
    facts = [f"{len(frame):,} observation rows"]
    for col in ("task", "model", "checkpoint"):
        if col in frame.columns:
            n = frame[col].nunique()
            facts.append(f"{n} {col}{'' if n == 1 else 's'}")
    if "setting" in frame.columns:
        counts = frame["setting"].value_counts()
        facts.append(", ".join(f"{int(n)} {esc(s)}" for s, n in counts.items()))
    if "n_train" in frame.columns:
        levels = sorted(pd.to_numeric(frame["n_train"], errors="coerce").dropna().unique())
        if levels:
            facts.append("data levels D = " + ", ".join(fmt(int(x)) for x in levels))
    lead = (f'<p>The rows the fit used ({esc(name)}): '
            f"{'; '.join(facts)}.</p>")
    return Section("data", "Data used", lead + long_table(frame, "data", name,
                                                          DATA_ROWS_SHOWN))


def lab_section(res: ResultsFolder) -> Section | None:
    """The toy lab: where its data came from, its answers, its plots, then the details."""
    if res.lab is None and not res.lab_plots:
        return None
    lab: Mapping[str, Any] = res.lab.to_dict() if res.lab else {}
    body = []
    if lab.get("origin"):
        body.append(f"<p><b>Data origin:</b> {esc(lab['origin'])}</p>")
    answers = lab.get("answers")
    if isinstance(answers, Mapping) and answers:
        body.append('<h3>Answers</h3><ul class="answers">' + "".join(
            f"<li><b>{esc(question(k))}</b>: {esc(v)}</li>" for k, v in answers.items())
            + "</ul>")
    body.extend(figure(img, img.path.stem.removeprefix("lab_").replace("_", " "))
                for img in res.lab_plots)
    rest = {k: v for k, v in lab.items() if k not in ("origin", "answers", "plots")}
    if rest:
        body.append("<h3>Details</h3>" + json_html(rest))
    for name, fit in res.lab_fits:
        body.append(f'<details><summary class="file">{esc(name)}</summary>'
                    f"{fit_body(fit)}</details>")
    return Section("lab", "Toy model lab", "".join(body))


def sections(res: ResultsFolder) -> list[Section]:
    """The result sections of one folder (or subfolder part): not other outputs or settings."""
    # the few-shot-only commands' sections build on this module's, so they are imported here
    from emergence_law.report.fewshot_sections import ground_truth_section, ladder_section

    markdown = res.ablations.markdown if res.ablations is not None else res.ablations_md
    ablation_md = ""
    if markdown and res.ablations is None:
        ablation_md = f"<pre>{esc(markdown)}</pre>"
    elif markdown:  # the CSV is the table; the Markdown adds its header lines
        ablation_md = (f"<details><summary>ablations.md</summary><pre>{esc(markdown)}"
                       "</pre></details>")
    pu_lead = f"<p>{passuntil_sentence(res.passuntil)}</p>" if res.passuntil else ""
    candidates = [
        fit_section(res),
        ground_truth_section(res),
        table_plot_section("backtest", "Backtest: how far in advance", res.backtest,
                           res.backtest_plot, "Prediction error as the most capable checkpoints "
                           "are held out, against the FLOPs of the largest model used",
                           lead=(f"<p>{backtest_sentence(res.backtest)}</p>"
                                 if res.backtest is not None else "")),
        table_plot_section("ablations", "Ablations", res.ablations, res.ablations_plot,
                           "Prediction error of each ablation (5th-95th percentile bars)",
                           extra=ablation_md,
                           lead=(f"<p>{ablation_sentence(res.ablations)}</p>"
                                 if res.ablations is not None else "")),
        compare_section(res),
        to_params_section(res),
        ladder_section(res),
        json_plot_section("passuntil", "PassUntil task scaling law",
                          res.passuntil.to_dict() if res.passuntil else None,
                          res.passuntil_plot, "Pass rate against model size, with the "
                          "prediction for the target size", lead=pu_lead),
        lab_section(res),
        data_section(res),
    ]
    return [s.in_part(res) for s in candidates if s is not None]
