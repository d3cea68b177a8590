"""Fixtures of the sweep tests: small synthetic recipes written into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

SYNTHETIC = "emergence_law.sweep.synthetic:synthetic_job"
ROOT = Path(__file__).resolve().parents[2]


def synthetic_recipe(
    steps: list[int] | None = None,
    n_train: list[int] | None = None,
    subsets: int = 2,
    hparams: dict[str, Any] | None = None,
    loss_hparams: dict[str, Any] | None = None,
    models: int = 2,
) -> dict[str, Any]:
    """A recipe tree of synthetic jobs: loss + few-shot + finetune per checkpoint."""
    steps = steps or [1000, 4000, 16000]
    tree: dict[str, Any] = {
        "name": "synthetic-test",
        "store": "store.sqlite",
        "loss": {"callable": SYNTHETIC, "hparams": loss_hparams or {}},
        "models": [
            {"name": f"m{i}", "series": "syn", "model": f"syn/m{i}", "params": 1e8 * 4**i,
             "steps": steps, "tokens_per_step": 2_097_152}
            for i in range(models)
        ],
        "tasks": {
            "toy": {
                "harness": "python",
                "callable": SYNTHETIC,
                "hparams": hparams or {},
                "fewshot": [5],
                "finetune": [{"n_train": n_train or [100, 1000], "subsets": subsets}],
            }
        },
    }
    return tree


def write_recipe(folder: Path, tree: dict[str, Any], name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    """A 3-checkpoint x 2-model synthetic recipe: 6 loss + 6 few-shot + 24 finetune jobs."""
    return write_recipe(tmp_path, synthetic_recipe())


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance with 2 CPUs (slow to start: one per session)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
