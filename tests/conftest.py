"""Shared fixtures. Area-specific fixtures live in each area's tests/<area>/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pythia_dir() -> Path:
    """The real Pythia lm-eval results in ../shared/data/pythia-evals (skipped when absent)."""
    path = SHARED / "data" / "pythia-evals"
    if not path.is_dir():
        pytest.skip("../shared/data/pythia-evals is not present")
    return path
