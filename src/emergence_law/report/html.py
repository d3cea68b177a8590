"""Build the one-file HTML report of a results folder.

The page is self-contained on purpose: plots are base64 ``data:`` URIs, the CSS is inline, there
is no script and no external URL, and a Content-Security-Policy forbids the browser to fetch
anything but embedded images. It can be mailed, archived or opened offline and will look the
same in ten years. Sections follow the pipeline (fit, backtest, ablations, comparisons,
PassUntil, the toy lab, the data used, settings and versions) and appear only when their
files are present, in the folder itself or in one of its immediate subfolders.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Mapping
from numbers import Number
from pathlib import Path
from typing import Any

import pandas as pd

from emergence_law import __version__
from emergence_law.atomic import atomic_write_text
from emergence_law.errors import OptionError
from emergence_law.provenance import versions
from emergence_law.report.collect import Image, JsonDoc, ResultsFolder, collect_tree
from emergence_law.report.render import (
    esc,
    figure,
    flatten,
    fmt,
    frame_table,
    is_columns,
    json_html,
    key_values,
    nats,
    table,
)

#: rows of data_used.csv shown before the table is cut (the rest is counted)
DATA_ROWS_SHOWN = 200
#: rows of any other CSV shown
OTHER_ROWS_SHOWN = 50
#: convergence thresholds of Vehtari et al. (2021): flag R-hat above / ESS below these
RHAT_LIMIT = 1.01
ESS_LIMIT = 400

#: the browser may load embedded images and inline styles, nothing else (no network, no script)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { --fg:#1d232a; --muted:#5b6570; --line:#d8dde3; --accent:#1f5fa8; --bg-alt:#f4f6f8; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: var(--fg); margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1100px;
       line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem;
     border-bottom: 2px solid var(--accent); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.meta, .note, figcaption, .caption { color: var(--muted); font-size: .9rem; }
nav ol { columns: 2; margin: .6rem 0 0; padding-left: 1.3rem; }
nav a, a { color: var(--accent); text-decoration: none; }
.headline { background: var(--bg-alt); border-left: 4px solid var(--accent);
            padding: .6rem 1rem; margin: 1rem 0; }
.headline li { margin: .2rem 0; }
.answer { background: #eef5ee; border-left: 4px solid #2a7d46; padding: .5rem 1rem .7rem;
          margin: 1rem 0; }
.answer h2 { border: none; margin: .2rem 0 .4rem; font-size: 1.25rem; }
.answer li { margin: .3rem 0; }
.answer .big { font-size: 1.1rem; }
.flag { color: #9a5b00; font-weight: 600; }
.warn { background: #fff4e0; border-left: 4px solid #d98b00; padding: .4rem .8rem; }
.scroll { overflow-x: auto; margin: .5rem 0 1rem; }
.scroll.tall { max-height: 36rem; overflow-y: auto; border-bottom: 1px solid var(--line); }
.scroll.tall thead th { position: sticky; top: 0; }
td.t, th.t { text-align: left; }
td.t { white-space: nowrap; } td.long { white-space: normal; min-width: 24rem; }
details summary { cursor: pointer; color: var(--accent); margin: .4rem 0; }
.pair { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid var(--line); padding: .22rem .5rem; text-align: right;
         vertical-align: top; }
th { background: var(--bg-alt); }
table.kv th { text-align: left; font-weight: 500; }
table.kv td { text-align: left; }
td.ok { background: #e3f4e6; } td.bad { background: #fbe4e4; }
tbody tr:nth-child(even) td { background-color: #fafbfc; }
tbody tr:nth-child(even) td.ok { background: #d9efdd; }
tbody tr:nth-child(even) td.bad { background: #f6dada; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .82rem; }
pre { background: var(--bg-alt); padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; }
.file { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .8rem; }
@media print { .scroll.tall { max-height: none; } nav { display: none; } }
@media (max-width: 640px) { body { padding: 1rem .8rem 3rem; font-size: 14px; }
  nav ol { columns: 1; } td.long { min-width: 12rem; }
  .answer, .headline { padding: .4rem .6rem; } .answer ul, .headline ul { padding-left: 1.1rem; }
  h1 { font-size: 1.35rem; } }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
"""


class _Section:
    """One ``<section>`` with an anchor, collected so the table of contents can list it."""

    def __init__(self, anchor: str, title: str, body: str) -> None:
        self.anchor, self.title, self.body = anchor, title, body

    def html(self) -> str:
        return (f'<section id="{esc(self.anchor)}"><h2>{esc(self.title)}</h2>'
                f"{self.body}</section>")

    def in_part(self, res: ResultsFolder) -> _Section:
        """Anchor and title of a section read from a subfolder name that subfolder."""
        if res.part is None:
            return self
        return _Section(_anchor(res, self.anchor), f"{self.title} ({res.label})", self.body)


def _anchor(res: ResultsFolder, name: str) -> str:
    """A section's anchor: ``fit``, or ``mcmc-fit`` for the fit in subfolder ``mcmc/``."""
    if res.part is None:
        return name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", res.part) + "-" + name


def _num(value: Any) -> float | None:
    if isinstance(value, Number) and not isinstance(value, bool):
        return float(value)  # type: ignore[arg-type]
    return None


def _percentiles(ep: Mapping[str, Any]) -> list[tuple[float, Any]]:
    """The ``percentiles`` dict of an emergence point, sorted by level ("5" < "10" < ...)."""
    raw = ep.get("percentiles")
    if not isinstance(raw, Mapping):
        return []
    out = []
    for key, value in raw.items():
        try:
            out.append((float(str(key).rstrip("%").lstrip("p")), value))
        except ValueError:
            continue
    return sorted(out)


def _interval(ep: Mapping[str, Any]) -> tuple[float, Any, float, Any] | None:
    """The widest reported percentile interval (normally 5th to 95th)."""
    pct = _percentiles(ep)
    if len(pct) < 2:
        return None
    (lo_q, lo), (hi_q, hi) = pct[0], pct[-1]
    return lo_q, lo, hi_q, hi


def _pct_label(q: float) -> str:
    return f"{q:g}%"


# ---------------------------------------------------------------------------------------------
# the answer: what a reader opened the report for, before any figure or table

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


def key_columns_first(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    keys = [c for c in KEY_COLUMNS.get(kind, ()) if c in frame.columns]
    return frame[keys + [c for c in frame.columns if c not in keys]]


def _long_table(frame: pd.DataFrame, kind: str, name: str, max_rows: int) -> str:
    """A table with its key columns first; folded behind a summary line when it is long."""
    html = frame_table(key_columns_first(frame, kind), max_rows)
    if len(frame) <= FOLD_ROWS:
        return html
    return (f"<details><summary>the table: {esc(name)}, {len(frame):,} rows (key columns "
            f"first; click to show)</summary>{html}</details>")


def _demo_facts(parts: list[ResultsFolder]) -> Mapping[str, Any]:
    for res in parts:
        for doc in res.other_json:
            if doc.name == "demo.json" and isinstance(doc.content, Mapping):
                return doc.content
    return {}


def _ground_truth(parts: list[ResultsFolder]) -> tuple[float, str] | None:
    """The reference the forecast is scored against, and where it came from."""
    demo = _demo_facts(parts)
    if _num(demo.get("true_emergence_point")) is not None:
        return float(demo["true_emergence_point"]), "the true emergence point of the simulation"
    gt = demo.get("ground_truth")
    if isinstance(gt, Mapping) and _num(gt.get("elbow")) is not None:
        return float(gt["elbow"]), "an elbow fitted to the few-shot rows of every checkpoint"
    for res in parts:
        for tab in (res.backtest, res.ablations):
            if tab is not None and "gt" in tab.frame.columns:
                v = pd.to_numeric(tab.frame["gt"], errors="coerce").dropna()
                if len(v):
                    return float(v.iloc[0]), "the ground truth of the backtest"
    return None


def _answer(parts: list[ResultsFolder]) -> str:
    """The forecast, its interval, the ground truth when known, how far in advance, and the
    fit's warnings in words: the first thing on the page."""
    from emergence_law.demo import ADVANCE_DEFINITION

    items: list[str] = []
    fits = [(res, res.fit.content) for res in parts
            if res.fit is not None and isinstance(res.fit.content.get("emergence_point"), Mapping)]
    gt = _ground_truth(parts)
    for res, fit in fits:
        ep = fit["emergence_point"]
        mle = _num(ep.get("mle"))
        if mle is None:
            continue
        pct = dict(_percentiles(ep))
        where = f" ({esc(res.label)})" if res.part else ""
        post = fit.get("posterior", {}).get("method") if isinstance(fit.get("posterior"),
                                                                    Mapping) else None
        text = (f'<span class="big">Forecast{where}: <b>{esc(fit.get("task", "the task"))}</b> '
                f"emerges in few-shot use at a pretraining loss of <b>{nats(mle)} nats</b></span>"
                " (MLE")
        if 5.0 in pct and 95.0 in pct:
            text += (f"; 90% interval [{nats(pct[5.0])}, {nats(pct[95.0])}]"
                     + (f" from the {esc(post)} posterior" if post and post != "none" else ""))
        text += ")."
        if gt is not None:
            err = mle - gt[0]
            text += (f" Ground truth: <b>{nats(gt[0])} nats</b> ({esc(gt[1])}); error "
                     f"<b>{err:+.3f} nats</b>: " + ("a success" if abs(err) <= 0.1 else
                                                     '<span class="flag">a failure</span>')
                     + " by the paper's 0.1-nat rule.")
        items.append(text)
    bt = next((res.backtest.frame for res in parts if res.backtest is not None), None)
    if bt is not None and {"success", "flops_ratio"} <= set(bt.columns):
        law = bt[bt["method"] == "emergence_law"] if "method" in bt.columns else bt
        if "status" in law.columns:
            law = law[law["status"].astype(str).str.strip().str.lower() == "ok"]
        ok = law[_truthy(law["success"])]
        ratio = pd.to_numeric(ok["flops_ratio"], errors="coerce").max() if len(ok) else None
        if ratio is not None and pd.notna(ratio):
            items.append(f"How far in advance: <b>{ratio:.3g}&times;</b> the FLOPs "
                         f"({esc(ADVANCE_DEFINITION)}).")
        else:
            items.append('How far in advance: <span class="flag">no backtest cut-off gave a '
                         "successful prediction</span>.")
    pu = _demo_facts(parts).get("passuntil")
    if isinstance(pu, Mapping) and _num(pu.get("predicted")) is not None \
            and _num(pu.get("measured")) is not None:
        lvl = _num(pu.get("level")) or 0.9
        iv, miv = pu.get("interval") or [None, None], pu.get("measured_interval") or [None, None]
        items.append(f"PassUntil at N = {fmt(pu.get('target_params'))} parameters: predicted "
                     f"<b>{fmt(pu['predicted'])}</b> ({lvl:.0%} [{fmt(iv[0])}, {fmt(iv[1])}]) "
                     f"from the smaller models; measured <b>{fmt(pu['measured'])}</b> "
                     f"([{fmt(miv[0])}, {fmt(miv[1])}], the {esc(pu.get('measured_estimator', ''))}"
                     " estimate).")
    warned = list(dict.fromkeys(w for _, fit in fits for w in _fit_warnings(fit)))
    if warned:
        items.append('<span class="flag">Read with care</span>, the fit warned:<ul>'
                     + "".join(f"<li>{esc(w)}</li>" for w in warned) + "</ul>")
    if not items:
        return ""
    return ('<div id="answer" class="answer"><h2>The answer</h2><ul>'
            + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>")


# ---------------------------------------------------------------------------------------------
# sections


def _headline(res: ResultsFolder) -> list[str]:
    """The few numbers a reader wants first, one sentence each."""
    items: list[str] = []
    if res.fit and isinstance(res.fit.content.get("emergence_point"), Mapping):
        fit = res.fit.content
        ep = fit["emergence_point"]
        task = f" of <b>{esc(fit['task'])}</b>" if "task" in fit else ""
        text = f"Predicted few-shot emergence point{task}: "
        center = ep.get("median", ep.get("mle"))
        text += f"<b>{nats(center)} nats</b> ({'median' if 'median' in ep else 'MLE'})"
        iv = _interval(ep)
        if iv:
            lo_q, lo, hi_q, hi = iv
            text += (f", {_pct_label(lo_q)}&ndash;{_pct_label(hi_q)} interval "
                     f"[{nats(lo)}, {nats(hi)}]")
        if "mle" in ep and "median" in ep:
            text += f"; MLE {nats(ep['mle'])}"
        items.append(text + " (pretraining loss).")
        n_warn = len(_fit_warnings(fit))
        if n_warn:
            link = f'<a href="#{esc(_anchor(res, "fit"))}">the fit</a>'
            items.append(f'<span class="flag">The fit reported {n_warn} warning'
                         f'{"s" if n_warn > 1 else ""}</span> (see {link}).')
    if res.backtest is not None:
        items.append(_backtest_sentence(res.backtest.frame))
    if res.ablations is not None:
        items.append(_ablation_sentence(res.ablations.frame))
    if res.passuntil:
        items.append(_passuntil_sentence(res.passuntil.content))
    answers = res.lab.content.get("answers") if res.lab else None
    if isinstance(answers, Mapping):
        for key, value in answers.items():
            if "prediction" in key:
                items.append(f"Toy lab, {esc(_question(key).split('. ', 1)[-1])}: {esc(value)}")
    if res.compare:
        items.append(f"Comparison: {_compare_sentence(res.compare.content)}")
    if res.to_params:
        items.append(f"Model size at emergence: {_size_sentence(res.to_params.content)}")
    return items


def _compare_sentence(cmp: Mapping[str, Any]) -> str:
    """compare's own verdict; else its question and probability."""
    if isinstance(cmp.get("verdict"), str):
        return esc(cmp["verdict"]) + "."
    p = _num(cmp.get("p_a_higher"))
    if p is not None:
        question = cmp.get("question", "P(first series emerges at a higher loss)")
        err = _num(cmp.get("p_a_higher_mc_error"))
        return f"{esc(question)} = {fmt(p)}" + (f" &plusmn; {fmt(err)}." if err else ".")
    return "see the comparison section."


def _size_sentence(tp: Mapping[str, Any]) -> str:
    """to-params' own message; else the median and interval of the parameter count."""
    if isinstance(tp.get("message"), str):
        return esc(tp["message"]).rstrip(".") + "."
    params = tp.get("params")
    if isinstance(params, Mapping):
        iv = _interval(params)
        pct = dict(_percentiles(params))
        text = f"median {fmt(pct.get(50.0, params.get('mle')))} parameters"
        if iv:
            text += f", {_pct_label(iv[0])}&ndash;{_pct_label(iv[2])} [{fmt(iv[1])}, {fmt(iv[3])}]"
        return text + "."
    return "see the section."


#: provenance options that name where a command's input data came from
DATA_OPTIONS = ("origin", "data_origin", "source", "data", "observations", "obs", "counts",
                "input")


def _data_origin(parts: list[ResultsFolder]) -> str | None:
    """"Data: X (fit, backtest)": the inputs named in the provenance records, deduplicated."""
    users: dict[str, list[str]] = {}
    for res in parts:
        if res.lab is not None and isinstance(res.lab.content.get("origin"), str):
            users.setdefault(res.lab.content["origin"], []).append("lab run")
        for doc in res.provenance:
            options = doc.content.get("options")
            if not isinstance(options, Mapping):
                continue
            for key in DATA_OPTIONS:
                value = options.get(key)
                if isinstance(value, (str, int, float)) and str(value):
                    users.setdefault(str(value), []).append(str(doc.content.get("command", "?")))
                    break
    if not users:
        return None
    def shown(value: str) -> str:  # a path in monospace, a sentence (the lab's origin) as text
        return esc(value) if " " in value else f'<span class="file">{esc(value)}</span>'

    return "Data: " + "; ".join(f'{shown(v)} ({esc(", ".join(dict.fromkeys(c)))})'
                                for v, c in users.items()) + "."


def _backtest_sentence(frame: pd.DataFrame) -> str:
    """Per predictor (``method`` column, when several): successes and how far in advance."""
    if "method" in frame.columns and frame["method"].nunique() > 1:
        parts = [f"{esc(m)}: {_backtest_counts(g)}" for m, g in frame.groupby("method", sort=False)]
        return "Backtest, " + "; ".join(parts) + "."
    return f"Backtest: {_backtest_counts(frame)}."


def _backtest_counts(frame: pd.DataFrame) -> str:
    n = len(frame)
    if "status" in frame.columns:
        frame = frame[frame["status"].astype(str).str.strip().str.lower() == "ok"]
    text = f"{n} cut-offs" + (f", {len(frame)} fitted ({n - len(frame)} skipped or failed)"
                              if len(frame) < n else ", all fitted")
    if "success" in frame.columns:
        ok = _truthy(frame["success"])
        text += f", {int(ok.sum())} within tolerance"
        if "flops_ratio" in frame.columns and ok.any():
            ratio = pd.to_numeric(frame.loc[ok, "flops_ratio"], errors="coerce").max()
            if pd.notna(ratio):
                text += (f", the earliest successful prediction <b>{ratio:.3g}&times; "
                         "the FLOPs</b> in advance (FLOPs ratio, defined in the answer "
                         "above)")
    if "error" in frame.columns:
        err = pd.to_numeric(frame["error"], errors="coerce").abs()
        if err.notna().any():
            text += f", median |error| {fmt(err.median())} nats"
    return text


def _truthy(column: pd.Series) -> pd.Series:
    return column.astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes"))


def _ablation_sentence(frame: pd.DataFrame) -> str:
    """How many ablations were fitted and succeeded, and the range of their errors."""
    fitted = frame
    text = f"Ablations: {len(frame)} variants"
    if "status" in frame.columns:
        fitted = frame[frame["status"].astype(str).str.strip().str.lower() == "ok"]
        if len(fitted) < len(frame):
            text += f" ({len(frame) - len(fitted)} skipped or failed)"
    if "success" in frame.columns and len(fitted):
        text += f"; {int(_truthy(fitted['success']).sum())} of {len(fitted)} within tolerance"
    err = pd.to_numeric(fitted.get("error", pd.Series(dtype=float)), errors="coerce").abs()
    if err.notna().any():
        text += f"; |error| from {fmt(err.min())} to {fmt(err.max())} nats"
    return text + "."


def _passuntil_sentence(pu: Mapping[str, Any]) -> str:
    text = "PassUntil: predicted pass rate "
    text += f"<b>{fmt(pu.get('predicted_pass_rate'))}</b>"
    iv = pu.get("interval")
    if isinstance(iv, list) and len(iv) == 2:
        # the interval's coverage: ``confidence`` (``level`` names the fit: pooled, dataset...)
        cover = _num(pu.get("confidence", pu.get("level")))
        lvl = "" if cover is None else f"{cover * 100:g}% " if cover <= 1 else f"{cover:g}% "
        text += f" ({lvl}interval [{fmt(iv[0])}, {fmt(iv[1])}])"
    if "target_params" in pu:
        text += f" for a model of {fmt(pu['target_params'])} parameters"
    if isinstance(pu.get("level"), str):
        text += f" ({esc(pu['level'])} fit"
        text += f" of {esc(pu['task'])})" if "task" in pu else ")"
    return text + "."


def _diagnostic_warnings(diag: Mapping[str, Any]) -> str:
    """Flag sampler diagnostics past the usual limits instead of hiding them in a table."""
    notes = []
    for key, value in flatten(diag):
        values = value if isinstance(value, list) else [value]
        nums = [float(v) for v in values if _num(v) is not None]
        if not nums:
            continue
        parts = key.lower().replace("_", "").replace("-", "").split(".")
        if any("rhat" in p for p in parts) and max(nums) > RHAT_LIMIT:
            notes.append(f"{esc(key)} = {fmt(max(nums))} exceeds {RHAT_LIMIT}: the chains may "
                         "not have converged.")
        elif any(p.startswith("ess") for p in parts) and min(nums) < ESS_LIMIT:
            notes.append(f"{esc(key)} = {fmt(min(nums))} is below {ESS_LIMIT}: percentiles in "
                         "the tails are uncertain.")
    return "".join(f'<p class="warn">{n}</p>' for n in notes)


def _fit_section(res: ResultsFolder) -> _Section | None:
    if not (res.fit or res.fit_curves or res.emergence_cdf):
        return None
    fit: Mapping[str, Any] = res.fit.content if res.fit else {}
    return _Section("fit", "Emergence-law fit", _fit_body(fit, res.fit_curves, res.emergence_cdf))


def _fit_body(fit: Mapping[str, Any], curves: Image | None = None,
              cdf: Image | None = None) -> str:
    """A fit.json (and its two plots) as HTML: warnings first, then the emergence point."""
    body = [f'<p class="warn">Warning from the fit: {esc(w)}</p>' for w in _fit_warnings(fit)]
    if curves:
        body.append(figure(curves, "Fitted emergence law: data points, the fitted ReLU "
                           "per data level and the extrapolated few-shot prediction"))
    if cdf:
        body.append(figure(cdf, "Cumulative distribution of the emergence point "
                           "under the posterior"))
    ep = fit.get("emergence_point")
    if isinstance(ep, Mapping):
        header, row = [], []
        for key, label in (("mle", "MLE"), ("median", "median"), ("mode", "mode")):
            value = ep.get(key, fit.get(key) if key == "mode" else None)
            if value is not None:
                header.append(label)
                row.append(value)
        for q, value in _percentiles(ep):
            header.append(_pct_label(q))
            row.append(value)
        if header:
            body.append(table(header, [row], caption="Emergence point (pretraining loss, nats)",
                              formatter=nats))
        samples = ep.get("samples")
        if isinstance(samples, list):
            body.append(f'<p class="note">{len(samples):,} posterior samples of the emergence '
                        "point stored with the fit.</p>")
    shown = {"emergence_point", "params", "diagnostics", "posterior", "warnings", "mode", "data"}
    facts = {k: v for k, v in fit.items() if k not in shown}
    if facts:
        body.append("<h3>Model and data selection</h3>" + key_values(facts))
    if isinstance(fit.get("params"), Mapping):
        body.append("<h3>Parameters</h3>" + key_values(fit["params"]))
    if isinstance(fit.get("diagnostics"), Mapping):
        checks = "" if "warnings" in fit else _diagnostic_warnings(fit["diagnostics"])
        body.append("<h3>Sampler diagnostics</h3>" + checks + key_values(fit["diagnostics"]))
    if isinstance(fit.get("posterior"), Mapping):
        body.append("<h3>Posterior</h3>" + key_values(fit["posterior"]))
    return "".join(body)


def _fit_warnings(fit: Mapping[str, Any]) -> list[str]:
    """The fitter's own warnings (convergence, identifiability), shown, never buried."""
    warnings = fit.get("warnings")
    if isinstance(warnings, str):
        return [warnings]
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def _table_plot_section(anchor: str, title: str, tab, plot, caption: str,
                        extra: str = "", lead: str = "") -> _Section | None:
    if tab is None and plot is None and not extra:
        return None
    body = [lead]
    if plot is not None:
        body.append(figure(plot, caption))
    if tab is not None:
        body.append(_long_table(tab.frame, anchor, tab.name, DATA_ROWS_SHOWN))
    body.append(extra)
    return _Section(anchor, title, "".join(body))


def _json_plot_section(anchor: str, title: str, doc: JsonDoc | None, plot,
                       caption: str, lead: str = "") -> _Section | None:
    if doc is None and plot is None:
        return None
    body = [lead]
    if doc is not None:
        body.append(json_html(doc.content))
    if plot is not None:
        body.append(figure(plot, caption))
    return _Section(anchor, title, "".join(body))


def _compare_section(res: ResultsFolder) -> _Section | None:
    """Verdict first, then the numbers, the plot, and each series' fit as a fold-out."""
    if res.compare is None and res.compare_plot is None:
        return None
    cmp: Mapping[str, Any] = res.compare.content if res.compare else {}
    body = [f"<p>{_compare_sentence(cmp)}</p>"] if cmp else []
    series = cmp.get("series")
    rest = {k: v for k, v in cmp.items()
            if k not in ("verdict",) and not (k == "series" and isinstance(series, Mapping))}
    if rest:
        body.append(key_values(rest))
    if res.compare_plot:
        body.append(figure(res.compare_plot, "Emergence posteriors of the compared series"))
    if isinstance(series, Mapping):
        for name, fit in series.items():
            if isinstance(fit, Mapping):
                body.append(f"<details><summary>fit of series {esc(name)}</summary>"
                            f"{_fit_body(fit)}</details>")
    return _Section("compare", "Comparison of model series", "".join(body))


def _to_params_section(res: ResultsFolder) -> _Section | None:
    """The size (and FLOPs) at the predicted emergence loss, with the scaling law behind it."""
    if res.to_params is None and res.to_params_plot is None:
        return None
    tp: Mapping[str, Any] = res.to_params.content if res.to_params else {}
    body = [f"<p>{_size_sentence(tp)}</p>"] if tp else []
    notes = tp.get("notes")
    if isinstance(notes, list):
        body.extend(f'<p class="note">{esc(n)}</p>' for n in notes)
    rows, levels = [], sorted({q for k in ("emergence_loss", "params", "flops")
                               if isinstance(tp.get(k), Mapping)
                               for q, _ in _percentiles(tp[k])})
    for key, label in (("emergence_loss", "emergence loss (nats)"), ("params", "parameters"),
                       ("flops", "FLOPs")):
        block = tp.get(key)
        if isinstance(block, Mapping):
            pct = dict(_percentiles(block))
            rows.append([label, block.get("mle"), *[pct.get(q) for q in levels]])
    if rows:
        body.append(table(["", "MLE", *[_pct_label(q) for q in levels]], rows))
    tabled = {"emergence_loss", "params", "flops", "message", "notes"} if rows else {
        "message", "notes"}
    rest = {k: v for k, v in tp.items() if k not in tabled}
    if rest:
        body.append(key_values(rest))
    if res.to_params_plot:
        body.append(figure(res.to_params_plot, "Loss scaling law of the model family and the "
                           "size at the predicted emergence loss"))
    return _Section("to-params", "From emergence loss to model size", "".join(body))


def _data_section(res: ResultsFolder) -> _Section | None:
    """data_used.csv, or else the column-wise ``data`` a fit.json may carry."""
    if res.data_used is not None:
        frame, name = res.data_used.frame, res.data_used.name
    elif res.fit is not None and is_columns(res.fit.content.get("data")):
        frame, name = pd.DataFrame(res.fit.content["data"]), "the data field of fit.json"
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
    return _Section("data", "Data used", lead + _long_table(frame, "data", name,
                                                            DATA_ROWS_SHOWN))


def _settings_section(parts: list[ResultsFolder]) -> _Section:
    body = []
    records = [(res, doc) for res in parts for doc in res.provenance]
    if not records:
        body.append('<p class="note">No provenance records (run_*.json) in the folder: the '
                    "settings of the runs are unknown.</p>")
    for res, doc in records:
        rec = doc.content
        command = rec.get("command", doc.name)
        where = f" <span class=\"file\">in {esc(res.label)}</span>" if res.part else ""
        body.append(f"<h3><code>{esc(command)}</code>{where}</h3>")
        meta = []
        if "time" in rec:
            meta.append(f"run at {esc(rec['time'])}")
        if "platform" in rec:
            meta.append(f"on {esc(rec['platform'])}")
        meta.append(f'<span class="file">{esc(doc.name)}</span>')
        body.append(f'<p class="meta">{", ".join(meta)}</p>')
        argv = rec.get("argv")
        if isinstance(argv, list) and argv:
            words = [str(a) for a in argv]
            words[0] = Path(words[0]).name
            body.append(f"<pre>{esc(shlex.join(words))}</pre>")
        tables = []
        if isinstance(rec.get("options"), Mapping) and rec["options"]:
            tables.append(key_values(rec["options"], caption="Options"))
        if isinstance(rec.get("versions"), Mapping):
            tables.append(key_values(rec["versions"], caption="Versions"))
        body.append(f'<div class="pair">{"".join(tables)}</div>')
        rest = {k: v for k, v in rec.items()
                if k not in ("command", "time", "platform", "argv", "options", "versions")}
        if rest:
            body.append(key_values(rest, caption="Other"))
    body.append("<h3>This report</h3>" + key_values(versions(), caption="Built with"))
    return _Section("settings", "Settings and versions", "".join(body))


def _other_section(res: ResultsFolder) -> _Section | None:
    if not (res.other_images or res.other_tables or res.other_json or res.unreadable):
        return None
    body = [f'<p class="warn"><span class="file">{esc(path.name)}</span> could not be read: '
            f"{esc(reason)}</p>" for path, reason in res.unreadable]
    for img in res.other_images:
        body.append(figure(img, img.path.stem.replace("_", " ")))
    for tab in res.other_tables:
        body.append(f'<h3 class="file">{esc(tab.name)}</h3>'
                    + _long_table(tab.frame, "data", tab.name, OTHER_ROWS_SHOWN))
    for doc in res.other_json:
        body.append(f'<h3 class="file">{esc(doc.name)}</h3>' + json_html(doc.content))
    return _Section("other", "Other outputs", "".join(body))


def _sections(res: ResultsFolder) -> list[_Section]:
    """The result sections of one folder (or subfolder part): not other outputs or settings."""
    ablation_md = ""
    if res.ablations_md and res.ablations is None:
        ablation_md = f"<pre>{esc(res.ablations_md)}</pre>"
    elif res.ablations_md:  # the CSV is the table; the Markdown adds its header lines
        ablation_md = (f"<details><summary>ablations.md</summary><pre>{esc(res.ablations_md)}"
                       "</pre></details>")
    pu_lead = f"<p>{_passuntil_sentence(res.passuntil.content)}</p>" if res.passuntil else ""
    candidates = [
        _fit_section(res),
        _table_plot_section("backtest", "Backtest: how far in advance", res.backtest,
                            res.backtest_plot, "Prediction error as the most capable checkpoints "
                            "are held out, against the FLOPs of the largest model used",
                            lead=(f"<p>{_backtest_sentence(res.backtest.frame)}</p>"
                                  if res.backtest is not None else "")),
        _table_plot_section("ablations", "Ablations", res.ablations, res.ablations_plot,
                            "Prediction error of each ablation (5th-95th percentile bars)",
                            extra=ablation_md,
                            lead=(f"<p>{_ablation_sentence(res.ablations.frame)}</p>"
                                  if res.ablations is not None else "")),
        _compare_section(res),
        _to_params_section(res),
        _json_plot_section("passuntil", "PassUntil task scaling law", res.passuntil,
                           res.passuntil_plot, "Pass rate against model size, with the "
                           "prediction for the target size", lead=pu_lead),
        _lab_section(res),
        _data_section(res),
    ]
    return [s.in_part(res) for s in candidates if s is not None]


def _lab_section(res: ResultsFolder) -> _Section | None:
    """The toy lab: where its data came from, its answers, its plots, then the details."""
    if res.lab is None and not res.lab_plots:
        return None
    lab: Mapping[str, Any] = res.lab.content if res.lab else {}
    body = []
    if lab.get("origin"):
        body.append(f"<p><b>Data origin:</b> {esc(lab['origin'])}</p>")
    answers = lab.get("answers")
    if isinstance(answers, Mapping) and answers:
        body.append('<h3>Answers</h3><ul class="answers">' + "".join(
            f"<li><b>{esc(_question(k))}</b>: {esc(v)}</li>" for k, v in answers.items())
            + "</ul>")
    body.extend(figure(img, img.path.stem.removeprefix("lab_").replace("_", " "))
                for img in res.lab_plots)
    rest = {k: v for k, v in lab.items() if k not in ("origin", "answers", "plots")}
    if rest:
        body.append("<h3>Details</h3>" + json_html(rest))
    for doc in res.lab_fits:
        body.append(f'<details><summary class="file">{esc(doc.name)}</summary>'
                    f"{_fit_body(doc.content)}</details>")
    return _Section("lab", "Toy model lab", "".join(body))


def _question(key: str) -> str:
    """``3_prediction_vs_ground_truth`` -> ``3. prediction vs ground truth``."""
    m = re.match(r"(\d+)_(.*)", key)
    return f"{m[1]}. {m[2].replace('_', ' ')}" if m else key.replace("_", " ")


# ---------------------------------------------------------------------------------------------


#: the order of the result sections: the forecast first, the data it used last
SECTION_ORDER = ("fit", "backtest", "ablations", "compare", "to-params", "passuntil", "lab",
                 "data")


def _section_rank(section: _Section) -> int:
    for i, kind in enumerate(SECTION_ORDER):
        if section.anchor == kind or section.anchor.endswith("-" + kind):
            return i
    return len(SECTION_ORDER)


def _part_rank(res: ResultsFolder) -> tuple[int, int]:
    """The folder itself first, except that an MCMC fit (the default) leads other fits."""
    post = res.fit.content.get("posterior") if res.fit is not None else None
    method = post.get("method") if isinstance(post, Mapping) else None
    return (0 if method == "mcmc" else 1 if res.fit is not None else 2,
            0 if res.part is None else 1)


def render_report(parts: ResultsFolder | list[ResultsFolder]) -> str:
    """The report page for an already collected results folder (and its subfolder parts)."""
    if isinstance(parts, ResultsFolder):
        parts = [parts]
    root = parts[0].root if parts[0].part is None else parts[0].root.parent
    fits = [res.fit for res in parts if res.fit is not None]
    task = fits[0].content.get("task") if fits else None
    title = f"emergence-law report: {task}" if task else "emergence-law report"
    parts = sorted(parts, key=_part_rank)
    sections = sorted((s for res in parts for s in _sections(res)), key=_section_rank)
    sections += [o.in_part(res) for res in parts if (o := _other_section(res))]
    sections.append(_settings_section(parts))
    headline = [f"<span class=\"file\">{esc(res.label)}</span> {item}" if res.part else item
                for res in parts for item in _headline(res)]
    origin = _data_origin(parts)
    if origin:
        headline.append(origin)
    nav = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in sections)
    parts_in = parts
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',  # constant, no " inside
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="emergence-law {esc(__version__)}">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1>",
        f'<p class="meta">Results folder <span class="file">{esc(root.resolve())}</span>; '
        f"report built {esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))} by emergence-law "
        f"{esc(__version__)}.</p></header>",
    ]
    answer = _answer(parts_in)
    if answer:
        parts.append(answer)
    if headline:
        parts.append('<div class="headline"><b>Every result in one line</b><ul>'
                     + "".join(f"<li>{h}</li>" for h in headline) + "</ul></div>")
    parts.append(f"<nav><b>Contents</b><ol>{nav}</ol></nav>")
    parts.extend(s.html() for s in sections)
    parts.append("<footer>Self-contained report: every plot is embedded; the page loads nothing "
                 "from the network.</footer></body></html>")
    return "\n".join(parts) + "\n"


def build_report(results_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of ``results_dir`` and return its path.

    Immediate subfolders holding a command's outputs (e.g. ``passuntil_fit/``, the default
    ``--out`` of ``passuntil fit``) are reported too, each section labelled with its subfolder.
    ``out`` defaults to ``results_dir/report.html``. The file is written atomically (a reader
    never sees half a report). Raises :class:`~emergence_law.errors.OptionError` for a missing
    folder or an unusable ``out`` and :class:`~emergence_law.errors.DataError` for a folder with
    no known outputs or an unreadable file.
    """
    parts = collect_tree(results_dir)
    target = Path(out) if out is not None else Path(results_dir) / "report.html"
    if target.is_dir():
        raise OptionError("--out", f"{target} is a folder, expected an .html file name")
    page = render_report(parts)
    return atomic_write_text(target, page)
