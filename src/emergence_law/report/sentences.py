"""The report's words: the answer at the top, one headline per result, the sentences that lead
each section. Everything is read from the typed results (:mod:`emergence_law.results`): which
percentiles exist and what they are called is the type's business, not guessed here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from numbers import Number
from typing import Any

import pandas as pd

from emergence_law.report.collect import ResultsFolder
from emergence_law.report.render import esc, fmt, nats
from emergence_law.results.analysis import (
    MIN_FLOPS_LEAD,
    AblationTable,
    BacktestTable,
    ComparisonResult,
    GroundTruthTable,
    LadderForecastResult,
    ToParamsResult,
)
from emergence_law.results.core import FitResult
from emergence_law.results.demo import DemoResult
from emergence_law.results.passuntil import PassUntilFit


def num(value: Any) -> float | None:
    if isinstance(value, Number) and not isinstance(value, bool):
        return float(value)  # type: ignore[arg-type]
    return None


def pct_label(q: float) -> str:
    return f"{q:g}%"


def anchor(res: ResultsFolder, name: str) -> str:
    """A section's anchor: ``fit``, or ``mcmc-fit`` for the fit in subfolder ``mcmc/``."""
    if res.part is None:
        return name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", res.part) + "-" + name


def question(key: str) -> str:
    """``3_prediction_vs_ground_truth`` -> ``3. prediction vs ground truth``."""
    m = re.match(r"(\d+)_(.*)", key)
    return f"{m[1]}. {m[2].replace('_', ' ')}" if m else key.replace("_", " ")


# ---------------------------------------------------------------------------------------------
# the answer: what a reader opened the report for, before any figure or table


def _demo(parts: list[ResultsFolder]) -> DemoResult | None:
    return next((res.demo for res in parts if res.demo is not None), None)


def _ground_truth(parts: list[ResultsFolder]) -> tuple[float, str] | None:
    """The reference the forecast is scored against, and where it came from."""
    demo = _demo(parts)
    if demo is not None and num(demo.true_emergence_point) is not None:
        return float(demo.true_emergence_point), "the true emergence point of the simulation"
    gt = demo.ground_truth if demo is not None else None
    if isinstance(gt, Mapping) and num(gt.get("elbow")) is not None:
        return float(gt["elbow"]), "an elbow fitted to the few-shot rows of every checkpoint"
    for res in parts:
        for tab in (res.backtest, res.ablations):
            value = tab.ground_truth() if tab is not None else None
            if value is not None:
                return value, "the ground truth of the backtest"
    return None


def answer(parts: list[ResultsFolder]) -> str:
    """The forecast, its interval, the ground truth when known, how far in advance, and the
    fit's warnings in words: the first thing on the page."""
    from emergence_law.demo import ADVANCE_DEFINITION

    items: list[str] = []
    fits = [(res, res.fit) for res in parts if res.fit is not None]
    gt = _ground_truth(parts)
    for res, fit in fits:
        mle, pct, post = fit.mle, fit.percentiles, fit.posterior_method
        where = f" ({esc(res.label)})" if res.part else ""
        text = (f'<span class="big">Forecast{where}: <b>{esc(fit.task)}</b> '
                f"emerges in few-shot use at a pretraining loss of <b>{nats(mle)} nats</b></span>"
                " (MLE")
        if pct.get(5.0) is not None and pct.get(95.0) is not None:
            text += (f"; 90% interval [{nats(pct[5.0])}, {nats(pct[95.0])}]"
                     + (f" from the {esc(post)} posterior" if post != "none" else ""))
        text += ")."
        if gt is not None:
            err = mle - gt[0]
            text += (f" Ground truth: <b>{nats(gt[0])} nats</b> ({esc(gt[1])}); error "
                     f"<b>{err:+.3f} nats</b>: " + ("a success" if abs(err) <= 0.1 else
                                                     '<span class="flag">a failure</span>')
                     + " by the paper's 0.1-nat rule.")
        if fit.at_data_edge:
            text += (' <span class="flag">A bound, not an extrapolation:</span> the MLE sits at '
                     f"the least loss of the few-shot rows used ({nats(fit.fewshot_loss_min)}), "
                     "which say only that emergence lies beyond them; read it as 'no earlier "
                     "than the data'.")
        items.append(text)
    bt = next((res.backtest for res in parts if res.backtest is not None), None)
    if bt is not None and {"success", "flops_ratio"} <= set(bt.table.columns):
        # the emergence law's backtest; a two_step-only one answers for the baseline, named
        methods = (list(dict.fromkeys(bt.table["method"].astype(str)))
                   if "method" in bt.table.columns else ["emergence_law"])
        method = "emergence_law" if "emergence_law" in methods else methods[0]
        rows = bt.table[bt.table["method"] == method] if "method" in bt.table.columns \
            else bt.table
        who = "" if method == "emergence_law" else f" ({method.replace('_', '-')} baseline)"
        ratio = bt.largest_successful_ratio(method)
        if ratio is not None:
            items.append(f"How far in advance{who}: <b>{ratio:.3g}&times;</b> the FLOPs "
                         f"({esc(ADVANCE_DEFINITION)}).")
        elif bt.succeeded(bt.fitted(rows)).any():
            items.append(f'How far in advance{who}: <span class="flag">no FLOPs lead</span>: '
                         "the checkpoints' FLOPs do not grow with capability (every successful "
                         "cut-off's FLOPs ratio is below 1); backtest.csv gives each cut-off's "
                         "loss gap.")
        else:
            items.append(f'How far in advance{who}: <span class="flag">no backtest cut-off '
                         "gave a successful prediction</span>.")
    demo = _demo(parts)
    pu = demo.passuntil if demo is not None else None
    if isinstance(pu, Mapping) and num(pu.get("predicted")) is not None \
            and num(pu.get("measured")) is not None:
        lvl = num(pu.get("level")) or 0.9
        iv, miv = pu.get("interval") or [None, None], pu.get("measured_interval") or [None, None]
        items.append(f"PassUntil at N = {fmt(pu.get('target_params'))} parameters: predicted "
                     f"<b>{fmt(pu['predicted'])}</b> ({lvl:.0%} [{fmt(iv[0])}, {fmt(iv[1])}]) "
                     f"from the smaller models; measured <b>{fmt(pu['measured'])}</b> "
                     f"([{fmt(miv[0])}, {fmt(miv[1])}], the {esc(pu.get('measured_estimator', ''))}"
                     " estimate).")
    warned = list(dict.fromkeys(w for _, fit in fits for w in fit_warnings(fit)))
    if warned:
        items.append('<span class="flag">Read with care</span>, the fit warned:<ul>'
                     + "".join(f"<li>{esc(w)}</li>" for w in warned) + "</ul>")
    if not items:
        return ""
    return ('<div id="answer" class="answer"><h2>The answer</h2><ul>'
            + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>")


def fit_warnings(fit: FitResult) -> list[str]:
    """The fitter's own warnings (convergence, identifiability), shown, never buried."""
    return [str(w) for w in fit.warnings]


# ---------------------------------------------------------------------------------------------
# one line per result


def headline(res: ResultsFolder) -> list[str]:
    """The few numbers a reader wants first, one sentence each."""
    items: list[str] = []
    if res.fit is not None:
        fit = res.fit
        median = fit.median
        text = f"Predicted few-shot emergence point of <b>{esc(fit.task)}</b>: "
        center = median if median is not None else fit.mle
        text += f"<b>{nats(center)} nats</b> ({'median' if median is not None else 'MLE'})"
        iv = fit.interval()
        if iv:
            lo_q, lo, hi_q, hi = iv
            text += (f", {pct_label(lo_q)}&ndash;{pct_label(hi_q)} interval "
                     f"[{nats(lo)}, {nats(hi)}]")
        if median is not None:
            text += f"; MLE {nats(fit.mle)}"
        items.append(text + " (pretraining loss).")
        n_warn = len(fit_warnings(fit))
        if n_warn:
            link = f'<a href="#{esc(anchor(res, "fit"))}">the fit</a>'
            items.append(f'<span class="flag">The fit reported {n_warn} warning'
                         f'{"s" if n_warn > 1 else ""}</span> (see {link}).')
    if res.ground_truth is not None:
        items.append(ground_truth_sentence(res.ground_truth))
    if res.backtest is not None:
        items.append(backtest_sentence(res.backtest))
    if res.ablations is not None:
        items.append(ablation_sentence(res.ablations))
    if res.passuntil:
        items.append(passuntil_sentence(res.passuntil))
    answers = res.lab.answers if res.lab else None
    if isinstance(answers, Mapping):
        for key, value in answers.items():
            if "prediction" in key:
                items.append(f"Toy lab, {esc(question(key).split('. ', 1)[-1])}: {esc(value)}")
    if res.compare:
        items.append(f"Comparison: {compare_sentence(res.compare)}")
    if res.to_params:
        items.append(f"Model size at emergence: {size_sentence(res.to_params)}")
    if res.ladder is not None:
        items.append(ladder_sentence(res.ladder))
    return items


def compare_sentence(cmp: ComparisonResult) -> str:
    """compare's own verdict."""
    return esc(cmp.verdict).rstrip(".") + "."


def size_sentence(tp: ToParamsResult) -> str:
    """to-params' own message."""
    return esc(tp.message).rstrip(".") + "."


#: provenance options that name where a command's input data came from
DATA_OPTIONS = ("origin", "data_origin", "source", "data", "observations", "obs", "counts",
                "input")


def data_origin(parts: list[ResultsFolder]) -> str | None:
    """"Data: X (fit, backtest)": the inputs named in the provenance records, deduplicated."""
    users: dict[str, list[str]] = {}
    for res in parts:
        if res.lab is not None and isinstance(res.lab.origin, str):
            users.setdefault(res.lab.origin, []).append("lab run")
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


def backtest_sentence(bt: BacktestTable) -> str:
    """Per predictor (``method`` column, when several): successes and how far in advance."""
    groups = bt.by_method()
    if len(groups) > 1:
        parts = [f"{esc(m)}: {_backtest_counts(bt, g)}" for m, g in groups]
        return "Backtest, " + "; ".join(parts) + "."
    return f"Backtest: {_backtest_counts(bt, groups[0][1])}."


def _backtest_counts(bt: BacktestTable, frame: pd.DataFrame) -> str:
    n = len(frame)
    frame = bt.fitted(frame)
    text = f"{n} cut-offs" + (f", {len(frame)} fitted ({n - len(frame)} skipped or failed)"
                              if len(frame) < n else ", all fitted")
    if "success" in frame.columns:
        ok = bt.succeeded(frame)
        text += f", {int(ok.sum())} within tolerance"
        if "flops_ratio" in frame.columns and ok.any():
            ratio = pd.to_numeric(frame.loc[ok, "flops_ratio"], errors="coerce").max()
            if pd.notna(ratio) and ratio >= MIN_FLOPS_LEAD:  # below: no lead
                text += (f", the earliest successful prediction <b>{ratio:.3g}&times; "
                         "the FLOPs</b> in advance (FLOPs ratio, defined in the answer "
                         "above)")
    err = pd.to_numeric(frame["error"], errors="coerce").abs()
    if err.notna().any():
        text += f", median |error| {fmt(err.median())} nats"
    return text


def ablation_sentence(ab: AblationTable) -> str:
    """How many ablations were fitted and succeeded, and the range of their errors."""
    frame = ab.table
    fitted = ab.fitted()
    text = f"Ablations: {len(frame)} variants"
    if len(fitted) < len(frame):
        text += f" ({len(frame) - len(fitted)} skipped or failed)"
    if "success" in frame.columns and len(fitted):
        text += f"; {int(ab.succeeded(fitted).sum())} of {len(fitted)} within tolerance"
    err = pd.to_numeric(fitted["error"], errors="coerce").abs()
    if err.notna().any():
        text += f"; |error| from {fmt(err.min())} to {fmt(err.max())} nats"
    return text + "."


def passuntil_sentence(pu: PassUntilFit) -> str:
    """``passuntil_fit.json``: ``confidence`` is the interval's coverage as a fraction (0.9),
    ``level`` names the fit (pooled, instance, dataset)."""
    text = f"PassUntil: predicted pass rate <b>{fmt(pu.predicted_pass_rate)}</b>"
    iv = pu.interval
    if isinstance(iv, list) and len(iv) == 2:
        cover = num(pu.confidence)
        lvl = "" if cover is None else f"{cover * 100:g}% "
        text += f" ({lvl}interval [{fmt(iv[0])}, {fmt(iv[1])}])"
    text += f" for a model of {fmt(pu.target_params)} parameters"
    return text + f" ({esc(pu.level)} fit of {esc(pu.task)})."


def _names(values: Any) -> str:
    """The distinct non-empty values of a column, in order, as escaped text."""
    seen = dict.fromkeys(str(v) for v in values if not pd.isna(v) and str(v).strip())
    return esc(", ".join(seen))


def ground_truth_sentence(gt: GroundTruthTable) -> str:
    """``ground_truth.csv`` in words: the elbow and its interval for one group, else how many
    groups have one, their range, and which have none."""
    t = gt.table
    fitted = gt.fitted()
    elbows = pd.to_numeric(fitted["elbow"], errors="coerce").dropna()
    metric = _names(t["metric"])
    text = (f"Ground truth of <b>{_names(t['task'])}</b>" + (f" ({metric})" if metric else ""))
    if len(t) == 1 and len(elbows) == 1:
        r = fitted.iloc[0]
        group = "" if str(r["group"]) == "all" else f" ({esc(r['group'])})"
        return (f"{text}{group}: the few-shot curve leaves chance at <b>{nats(r['elbow'])} "
                f"nats</b>, 95% interval [{nats(r['lower'])}, {nats(r['upper'])}] "
                f"({fmt(r['n_pre'])} of {fmt(r['n_checkpoints'])} checkpoints before it).")
    none = t[~t.index.isin(fitted.index)]
    if elbows.empty:
        return (f'{text}: <span class="flag">no elbow in {len(t)} group'
                f'{"" if len(t) == 1 else "s"}</span>: the few-shot rows never rise clearly, or '
                "rise from the weakest checkpoint on.")
    text += (f", one elbow per group: {len(elbows)} of {len(t)} groups have one, from "
             f"<b>{nats(elbows.min())}</b> to <b>{nats(elbows.max())}</b> nats")
    if len(none):
        text += f'; <span class="flag">no elbow</span> for {_names(none["group"])}'
    return text + "."


def ladder_info(lad: LadderForecastResult) -> Mapping[str, Any]:
    """The forecast's ``info`` record, or nothing when the JSON holds something else there."""
    return lad.info if isinstance(lad.info, Mapping) else {}


def ladder_level(lad: LadderForecastResult) -> str:
    """The predictive interval's level as a prefix ("90% "), or nothing when not a number."""
    level = num(lad.level)
    return f"{level:.0%} " if level is not None else ""


def ladder_sentence(lad: LadderForecastResult, with_note: bool = True) -> str:
    """``ladder_forecast.json`` in words: what forecast what, the mean error and how many
    targets fell inside the interval (flagged when not all did), and (``with_note``) the
    result's own note."""
    info = ladder_info(lad)
    metric = info.get("acc_metric")
    train = ", ".join(str(g) for g in lad.train_groups) if isinstance(
        lad.train_groups, list) else str(lad.train_groups)
    text = (f"Ladder forecast of <b>{esc(lad.task)}</b>" + (f" ({esc(metric)})" if metric else "")
            + f" for <b>{esc(lad.target)}</b> from {esc(train)}: {fmt(lad.n_targets)} target "
            f"checkpoint{'' if lad.n_targets == 1 else 's'}, mean |error| "
            f"<b>{nats(lad.mean_abs_error)}</b>, ")
    inside = (f"{fmt(lad.covered)} of {fmt(lad.n_targets)} inside the {ladder_level(lad)}"
              "predictive interval")
    missed = num(lad.covered) is None or lad.covered != lad.n_targets
    text += f'<span class="flag">{inside}</span>' if missed else f"<b>{inside}</b>"
    note = info.get("note")
    if note and with_note:
        text += f" ({esc(str(note).rstrip('.'))})"
    return text + "."
