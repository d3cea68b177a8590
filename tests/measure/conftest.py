"""Tiny real models shared by the measure tests (trained once per session, in seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A character-level llama trained 150 steps on addition facts."""
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("tiny") / "lm", arithmetic_texts(400, seed=0),
                        steps=150, seed=0, alphabet="0123456789+=? abcdefghijklmnopqrstuvwxyz")
