"""Results folders shaped like the ones fit, backtest, ablate, passuntil fit and lab run write.

The files of fit, backtest, ablate, compare and to-params are written through their result
types (:mod:`emergence_law.results`), as the commands write them, with chosen numbers; PNGs are
real matplotlib plots of simulated emergence data, provenance records are real
(:func:`emergence_law.provenance.write_provenance`). ``passuntil_fit.json`` and
``lab_summary.json`` go through their types too (:class:`PassUntilFit`, :class:`LabSummary`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emergence_law.jsonfile import write_json  # noqa: E402
from emergence_law.provenance import write_provenance  # noqa: E402
from emergence_law.results import Result  # noqa: E402
from emergence_law.results.analysis import (  # noqa: E402
    AblationTable,
    BacktestTable,
    ComparisonResult,
    ToParamsResult,
)
from emergence_law.results.core import FitResult  # noqa: E402
from emergence_law.results.lab import LabSummary  # noqa: E402
from emergence_law.results.passuntil import PassUntilFit  # noqa: E402

ALL_SECTIONS = ("fit", "backtest", "ablate", "compare", "to_params", "passuntil", "lab")

#: the true emergence point of the simulated data, nats
TRUE_E = 1.9


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _data_used(rng: np.random.Generator, n_checkpoints: int = 30) -> pd.DataFrame:
    """Few-shot and finetuned accuracies that follow a ReLU in loss, with binomial noise."""
    rows = []
    losses = np.linspace(2.6, 2.0, n_checkpoints)
    shift = {0: 0.0, 100: 0.12, 1000: 0.22, 10000: 0.3}
    for i, loss in enumerate(losses):
        for d, s in shift.items():
            p = 0.25 + 1.2 * max(TRUE_E + s - loss, 0.0)
            value = rng.binomial(500, min(p, 0.99)) / 500
            rows.append({
                "series": "toy", "model": f"toy-{i // 10}", "checkpoint": str(1000 * (i + 1)),
                "params": 1e6 * (1 + i // 10), "tokens": 2e7 * (i + 1), "loss": round(loss, 4),
                "task": "arith", "metric": "acc", "value": value,
                "setting": "fewshot" if d == 0 else "finetune", "shots": 5 if d == 0 else None,
                "n_train": d or None, "subset": 0, "method": None if d == 0 else "full",
                "n_eval": 500, "chance": 0.25,
            })
    return pd.DataFrame(rows)


def fit_result(task: str, mle: float, *, form: str = "log_power", samples: np.ndarray | None = None,
               warnings: list[str] | None = None, data: pd.DataFrame | None = None,
               **fields) -> FitResult:
    """A fit.json record with chosen numbers (percentiles from ``samples`` when given)."""
    ep: dict = {"mle": mle, "median": mle, "percentiles": None, "interval_90": None}
    if samples is not None:
        pct = {str(q): float(np.percentile(samples, q)) for q in (5, 10, 25, 50, 75, 90, 95)}
        ep = {"mle": mle, "median": pct["50"], "percentiles": pct,
              "interval_90": [pct["5"], pct["95"]], "samples": samples.round(5).tolist()}
    return FitResult(
        task=task, metric="acc", method="full", form=form, d0=5.0, d_ref=1000.0,
        emergence_point=ep, params={"E_D0": mle, "A": 1.2, "B": 0.25, "sigma": 0.02},
        theta={"E_D0": mle, "E_ref": mle + 0.22, "alpha": 1.3}, loglik=250.0, n_obs=120,
        levels=[100.0, 1000.0, 10000.0], warnings=warnings or [], data_used=data, **fields)


def _write_fit(out: Path, rng: np.random.Generator, task: str) -> None:
    data = _data_used(rng)
    samples = rng.normal(TRUE_E + 0.01, 0.04, size=2000)
    fit = fit_result(
        task, TRUE_E + 0.02, samples=samples, data=data, mode=TRUE_E + 0.012,
        diagnostics={"rhat": {"k": 1.002, "alpha": 1.004, "C": 1.001},
                     "ess": {"k": 2100.0, "alpha": 1800.0, "C": 2500.0},
                     "acceptance_fraction": 0.41, "n_walkers": 32, "n_steps": 3000},
        posterior={"method": "mcmc", "sampler": "emcee", "thin": 5,
                   "n_samples": len(samples)})
    fit.save(out)  # fit.json and data_used.csv
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d, g in data.groupby(data["n_train"].fillna(0)):
        ax.plot(g["loss"], g["value"], "o", ms=3, label=f"D={int(d)}" if d else "few-shot")
    ax.axvline(fit.median, color="k", ls="--", label="predicted emergence")
    ax.invert_xaxis()
    ax.set(xlabel="pretraining loss (nats)", ylabel="accuracy", title=f"{task}: fit")
    ax.legend()
    _save(fig, out / "fit_curves.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.sort(samples)
    ax.plot(xs, np.arange(1, xs.size + 1) / xs.size)
    ax.set(xlabel="emergence point (nats)", ylabel="CDF", title="posterior CDF")
    _save(fig, out / "emergence_cdf.png")
    write_provenance(out, "fit", {"data": "obs.csv", "task": task, "form": "log_power",
                                  "samples": 2000, "seed": 0})


def _write_backtest(out: Path) -> None:
    bt = pd.DataFrame({   # part of emergence_law.analysis.backtest.CSV_COLUMNS
        "method": ["emergence_law"] * 5,
        "cutoff_loss": [2.05, 2.1, 2.15, 2.2, 2.25],
        "max_flops_used": [1.2e15, 8e14, 5e14, 3e14, 2e14],
        "prediction": [1.91, 1.92, 1.95, 1.99, 2.08],
        "p5": [1.86, 1.85, 1.86, 1.88, 1.9], "p95": [1.95, 1.97, 2.02, 2.08, 2.2],
        "error": [0.01, 0.02, 0.05, 0.09, 0.18],
        "success": [True, True, True, True, False],
        "flops_ratio": [1.5, 2.25, 3.6, 6.0, 9.0],
        "status": ["ok"] * 5,
    })
    BacktestTable(bt).save(out)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(bt["flops_ratio"], bt["prediction"], yerr=[bt["prediction"] - bt["p5"],
                bt["p95"] - bt["prediction"]], fmt="o")
    ax.axhline(TRUE_E, color="k", ls=":")
    ax.set(xscale="log", xlabel="FLOPs in advance (x)", ylabel="predicted emergence (nats)")
    _save(fig, out / "backtest.png")
    write_provenance(out, "backtest", {"data": "obs.csv", "task": "arith"})


def _write_ablate(out: Path) -> None:
    nan = float("nan")
    ab = pd.DataFrame({   # the columns of emergence_law.analysis.ablations.CSV_COLUMNS (part)
        "ablation": ["full data", "-1 smallest data level", "-1 largest data level",
                     "only subset sample 1", "last 4 checkpoints", "every other (odd)"],
        "group": ["full", "data", "data", "data", "checkpoints", "checkpoints"],
        "error": [0.02, 0.03, 0.07, 0.04, 0.12, nan],
        "error_p5": [0.0, 0.0, 0.01, 0.0, 0.02, nan],
        "error_p95": [0.08, 0.09, 0.15, 0.1, 0.25, nan],
        "success": [True, True, True, True, False, None],
        "status": ["ok", "ok", "ok", "ok", "ok", "skipped"],
        "reason": [None, None, None, None, None, "only 5 checkpoints"],
    })
    lines = ["| " + " | ".join(ab.columns) + " |", "|" + "---|" * len(ab.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in ab.itertuples(index=False)]
    AblationTable(ab, markdown="\n".join(lines) + "\n").save(out)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    fitted = ab[ab["status"] == "ok"]
    ax.barh(fitted["ablation"], fitted["error"], xerr=[fitted["error"] - fitted["error_p5"],
            fitted["error_p95"] - fitted["error"]], color="tab:orange")
    ax.set(xlabel="|MLE - GT| (nats)")
    _save(fig, out / "ablations.png")
    write_provenance(out, "ablate", {"data": "obs.csv", "task": "arith"})


def _write_json_plot(out: Path, stem: str, content: dict | Result, command: str) -> None:
    if isinstance(content, dict):
        (out / f"{stem}.json").write_text(json.dumps(content, indent=2))
    else:
        content.save(out)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = np.linspace(0, 1, 50)
    ax.plot(x, np.sin(6 * x) + x, color="tab:green")
    ax.set(title=stem)
    _save(fig, out / f"{stem}.png")
    write_provenance(out, command, {"stem": stem})


def _write_lab(out: Path) -> None:
    """The shape emergence_law.lab.pipeline writes: answers, origin, plots listed in plots/."""
    summary = LabSummary(**{
        "origin": "measured by `emergence-law lab run --scale small` (seed 0): tiny models "
                  "trained from scratch on CPU; nothing here is simulated",
        "scale": {"name": "small", "sizes": [1.1e5, 4.4e5], "seed": 0}, "device": "cpu",
        "seconds": 750.0, "cpu_seconds": 1400.0, "versions": {"torch": "2.13.0"},
        "finetune_shift": {"answer": "yes: 0.05 to 0.2 nats, growing with D"},
        "continuous_emergence": {"answer": "the loss falls smoothly"},
        "fewshot_emergence": {"answer": "yes: chance until 2.2 nats, then rising", "elbow": 2.2},
        "prediction": {"methods": {"full": {"mle": 2.16, "ground_truth": 2.2, "error_nats": -0.04,
                                            "interval_90": [2.1, 2.25], "success": True,
                                            "flops_in_advance": 3.1}}},
        "answers": {"1_fewshot_emergence": "yes: chance until 2.2 nats, then rising",
                    "2_finetuning_shifts_elbow": "yes: 0.05 to 0.2 nats, growing with D",
                    "3_prediction_vs_ground_truth": "full: predicted 2.160 nats vs ground truth "
                                                    "2.200: error -0.040 nats, success, 3.10x "
                                                    "the FLOPs in advance",
                    "4_passuntil_largest_model": "not measured"},
        "plots": ["plots/finetune_shift.png"],
    })
    summary.save(out)
    (out / "plots").mkdir(exist_ok=True)
    for path in (out / "lab_emergence.png", out / "plots" / "finetune_shift.png"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([3, 2.5, 2.2, 2.0], [0.25, 0.25, 0.4, 0.7], "o-")
        ax.set(title=path.stem.replace("_", " "))
        _save(fig, path)
    lab_fit = fit_result("lab-mc", 2.16, warnings=["few checkpoints"])
    write_json(out / "emergence_fit_full.json", lab_fit.to_dict())
    write_provenance(out, "lab run", {"scale": "small", "out": str(out)})


#: the files each command writes (glob patterns), to copy one command's outputs
SECTION_FILES = {
    "fit": ("fit.json", "fit_curves.png", "emergence_cdf.png", "data_used.csv", "run_fit.json"),
    "backtest": ("backtest.csv", "backtest.png", "run_backtest.json"),
    "ablate": ("ablations.csv", "ablations.md", "ablations.png", "run_ablate.json"),
    "compare": ("compare.json", "compare.png", "run_compare.json"),
    "to_params": ("to_params.json", "to_params.png", "run_to_params.json"),
    "passuntil": ("passuntil_fit.json", "passuntil_fit.png", "run_passuntil_fit.json"),
    "lab": ("lab_summary.json", "lab_*.png", "plots/*.png", "emergence_fit_*.json",
            "run_lab_run.json"),
}


def copy_sections(src: Path, dst: Path, sections: Iterable[str]) -> Path:
    """Copy the outputs of some commands from a full folder (cheaper than redrawing them)."""
    dst.mkdir(parents=True, exist_ok=True)
    for section in sections:
        for pattern in SECTION_FILES[section]:
            matches = list(src.glob(pattern))
            assert matches, (section, pattern)
            for path in matches:
                target = dst / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return dst


def build_results_folder(out: Path, sections: Iterable[str] = ALL_SECTIONS, *,
                         task: str = "arith", seed: int = 0) -> Path:
    """Write the outputs of the named commands into ``out`` (see ALL_SECTIONS)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sections = set(sections)
    unknown = sections - set(ALL_SECTIONS)
    assert not unknown, unknown
    if "fit" in sections:
        _write_fit(out, rng, task)
    if "backtest" in sections:
        _write_backtest(out)
    if "ablate" in sections:
        _write_ablate(out)
    if "compare" in sections:
        series = {"v1": fit_result(task, 1.95).to_dict(),
                  "v2": fit_result(task, 1.95, form="power").to_dict()}
        _write_json_plot(out, "compare", ComparisonResult(
            task=task, metric="acc", ft_method="full", series=series,
            p_a_higher=0.07, p_a_higher_mc_error=0.01,
            question="P(v1 emerges at a higher loss than v2)", a="v1", b="v2",
            ess={"v1": 900.0, "v2": 850.0},
            difference_a_minus_b={"mle": -0.07, "percentiles": {"50": -0.07}},
            verdict="v2 emerges first (at a higher pretraining loss) with probability "
                    "0.930 +/- 0.010 (Monte Carlo error)"), "compare")
    if "to_params" in sections:
        pct = {"5": 2.5e11, "50": 3.2e11, "95": 5e11}
        _write_json_plot(out, "to_params", ToParamsResult(**{
            "task": task,
            "emergence_loss": {"mle": 1.62, "percentiles": {"5": 1.58, "50": 1.62, "95": 1.66},
                               "n_draws": 2000},
            "scaling_law": {"E": 1.7, "A": 400.0, "alpha": 0.34},
            "tokens_per_param": 20.0,
            "params": {"mle": 3.1e11, "percentiles": pct, "fraction_unreachable": 0.0},
            "flops": {"mle": 1.2e25, "percentiles": {"5": 7.5e24, "50": 1.2e25, "95": 3e25},
                      "formula": "6 * tokens_per_param * params^2"},
            "n_draws": 2000,
            "message": "emergence at about 3.2e11 parameters (5-95%: 2.5e11 to 5e11)",
            "notes": ["the scaling law is extrapolated 0.1 nats below the smallest loss seen"],
        }), "to-params")
    if "passuntil" in sections:
        models = [{"model": f"m{i}", "params": 1e8 * 2 ** i, "pass_rate": 1e-6 * 4 ** i,
                   "se": 3e-7 * 4 ** i} for i in range(4)]
        _write_json_plot(out, "passuntil_fit", PassUntilFit(**{
            "target_params": 7e9, "predicted_pass_rate": 3e-4, "interval": [1e-4, 9e-4],
            "level": "pooled", "confidence": 0.9, "task": "arith",
            "design": "40 instances, sampled until the first pass (PassUntil)",
            "fit": {"level": "pooled", "confidence": 0.9, "c": 12.5, "alpha": 0.31,
                    "n_instances": 40, "models": models,
                    "population": {"mean_slope": 0.31, "sd_slope": 0.05, "converged": True}},
        }), "passuntil fit")
    if "lab" in sections:
        _write_lab(out)
    return out


