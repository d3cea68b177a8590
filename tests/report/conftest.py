"""Fixtures of the report tests: realistic results folders (see report_fixtures.py)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# the helper modules beside this file (report_*.py) must import under either pytest import
# mode (prepend or importlib, which does not put test folders on sys.path)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures import ALL_SECTIONS, build_results_folder, copy_sections  # noqa: E402


@pytest.fixture(scope="session")
def full_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with every section (read-only for tests: copy it before changing)."""
    return build_results_folder(tmp_path_factory.mktemp("results") / "full")


@pytest.fixture
def results_copy(full_results: Path, tmp_path: Path) -> Callable[[], Path]:
    """A private, writable copy of :func:`full_results`."""
    def make() -> Path:
        return Path(shutil.copytree(full_results, tmp_path / "copy"))
    return make


@pytest.fixture
def results_subset(full_results: Path, tmp_path: Path) -> Callable[..., Path]:
    """A writable folder with the outputs of only some commands, e.g. ``("fit", "ablate")``."""
    count = 0

    def make(sections=ALL_SECTIONS) -> Path:
        nonlocal count
        count += 1
        return copy_sections(full_results, tmp_path / f"subset{count}", sections)
    return make
