"""Shared by the result-type tests: a fit built from its parts, and the missing-field check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emergence_law.errors import DataError
from emergence_law.fitting.result import EmergenceFit


def make_fit(n_samples: int = 400) -> EmergenceFit:
    """A fit built from its parts (what the fitter returns), with draws and the rows used."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"model": ["m"] * 4, "checkpoint": ["1", "2", "3", "4"],
                         "loss": [2.5, 2.3, 2.1, 1.9], "value": [0.25, 0.25, 0.4, 0.6],
                         "setting": ["fewshot", "finetune", "fewshot", "finetune"],
                         "n_train": [None, 100.0, None, 100.0]})
    return EmergenceFit(
        task="arith", form="log_power", d0=5.0, d_ref=100.0, likelihood="gaussian",
        shared_ab=True, theta=np.array([1.9, 2.1, 0.5]),
        params={"E_D0": 1.9, "A": 1.2, "B": 0.25, "sigma": 0.02}, loglik=12.5, n_obs=4,
        levels=[100.0], emergence_samples=rng.normal(1.9, 0.04, n_samples),
        posterior={"method": "mcmc", "n_walkers": 32}, diagnostics={"rhat_max": 1.002},
        warnings=["few checkpoints"], data=data, metric="acc", method="full")


def missing_field_is_one_line(cls, folder, field: str) -> None:
    """Drop ``field`` from a saved record: loading it is a DataError naming file and field."""
    path = folder / cls.FILES["json"]
    record = json.loads(path.read_text())
    del record[field]
    path.write_text(json.dumps(record))
    with pytest.raises(DataError) as info:
        cls.load(folder)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and repr(field) in msg, msg
