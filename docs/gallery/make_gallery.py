"""Regenerate the figures of docs/gallery.md from the shipped lab data (about 2 min on 2 cores):

    OMP_NUM_THREADS=1 python docs/gallery/make_gallery.py

Every figure is made by the project's own commands, exactly as a user would run them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from emergence_law.cli import main
from emergence_law.demo import run_demo

HERE = Path(__file__).resolve().parent


def run(*args: str) -> None:
    rc = main([str(a) for a in args])
    if rc != 0:
        sys.exit(f"failed ({rc}): emergence-law {' '.join(map(str, args))}")


def copy(src: Path, name: str) -> None:
    shutil.copyfile(src, HERE / name)
    print("wrote", HERE / name)


def make() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        demo = t / "emergence-demo"
        run_demo(demo, echo=False)
        copy(demo / "mcmc" / "fit_curves.png", "fit_curves.png")
        copy(demo / "mcmc" / "emergence_cdf.png", "emergence_cdf_mcmc.png")
        copy(demo / "bootstrap" / "emergence_cdf.png", "emergence_cdf_bootstrap.png")
        copy(demo / "backtest.png", "backtest.png")
        copy(demo / "passuntil_fit" / "passuntil_fit.png", "passuntil_fit.png")
        obs = demo / "observations.csv"
        run("backtest", obs, "--task", "mul-mc", "--ft-method", "full", "--method", "both",
            "--posterior", "bootstrap", "--samples", "200", "--workers", "1",
            "--out", t / "both")
        copy(t / "both" / "backtest.png", "backtest_both.png")
        run("ablate", obs, "--task", "mul-mc", "--ft-method", "full", "--posterior", "none",
            "--workers", "1", "--out", t / "ablate")
        copy(t / "ablate" / "ablations.png", "ablations.png")
        # two series of the same suite: the two smaller sizes against the two larger ones
        table = pd.read_csv(obs)
        big = table["model"].isin(["lab-d48", "lab-d64"])
        table["series"] = big.map({True: "d48+d64", False: "d24+d32"})
        table.to_csv(t / "two_series.csv", index=False)
        run("compare", t / "two_series.csv", "--task", "mul-mc", "--ft-method", "full",
            "--series", "d24+d32", "--series", "d48+d64", "--posterior", "bootstrap",
            "--samples", "300", "--out", t / "compare")
        copy(t / "compare" / "compare.png", "compare.png")
        # loss -> size: the final checkpoint of each size as the family's scaling table
        last = (table.sort_values("tokens").groupby("model").tail(1)
                [["model", "params", "tokens", "loss"]])
        last.to_csv(t / "family.csv", index=False)
        run("to-params", demo / "mcmc" / "fit.json", "--scaling", t / "family.csv",
            "--out", t / "to_params")
        copy(t / "to_params" / "to_params.png", "to_params.png")


if __name__ == "__main__":
    make()
