"""The lab's measured tables, shipped as package data for the demo (no models, no network).

They were produced by the lab itself (``emergence-law lab run --scale small``, and
``--scale facts-small`` for the knowledge-extraction family in ``data/facts-small/``; see
``emergence_law/data/README.md`` for the exact commands and settings) and are validated on load
like any user table, so the demo runs on real measurements, not simulations.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from emergence_law.errors import DataError

OBSERVATIONS = "lab_observations.csv"
PASSUNTIL_COUNTS = "lab_passuntil_counts.csv"
SUMMARY = "lab_summary.json"
CONTROL = "lab_control.csv"
#: the shipped lab runs: the ``lab run --scale`` that made each -> its folder under ``data/``
LAB_DATA = {"small": "", "facts-small": "facts-small"}


def data_path(name: str, lab: str = "small") -> Path:
    """Path of a shipped data file of lab run ``lab`` (a key of :data:`LAB_DATA`; raises a
    one-line DataError if the file is missing, a SettingError naming ``lab`` if unknown)."""
    from emergence_law.lab.family import one_of

    one_of("lab", lab, tuple(LAB_DATA), "shipped lab data")
    path = Path(str(resources.files("emergence_law") / "data" / LAB_DATA[lab] / name))
    if not path.exists():
        raise DataError("shipped lab data file is missing from the installation",
                        source=str(path))
    return path


def load_lab_observations(lab: str = "small") -> pd.DataFrame:
    """The lab's observation table (few-shot and finetuned accuracy of every checkpoint)."""
    from emergence_law.observations import load_observations

    return load_observations(data_path(OBSERVATIONS, lab))


def load_lab_passuntil_counts(lab: str = "small") -> pd.DataFrame:
    """The lab's PassUntil counts (one row per model and instance), validated."""
    from emergence_law.passuntil.counts import load_counts

    return load_counts(data_path(PASSUNTIL_COUNTS, lab))


def load_lab_control(lab: str = "small") -> pd.DataFrame | None:
    """The gate's control table (never-pretrained models finetuned in every setting), or
    None if the shipped data predate the gate."""
    try:
        path = data_path(CONTROL, lab)
    except DataError:
        return None
    return pd.read_csv(path)


def load_lab_summary(lab: str = "small") -> dict[str, Any]:
    """The lab's ``lab_summary.json``: settings, versions, and the answers it measured (read
    through its type, :class:`~emergence_law.results.lab.LabSummary`, as a plain dict)."""
    from emergence_law.results.lab import LabSummary

    return LabSummary.read(data_path(SUMMARY, lab)).to_dict()


def lab_data_origin(lab: str = "small") -> str:
    """One sentence naming where the shipped data came from (for demo output)."""
    return str(load_lab_summary(lab).get("origin", "emergence_law lab run"))
