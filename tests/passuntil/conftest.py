"""Tiny character-level causal LMs trained here, on a task they rarely pass (a+b=c)."""

from __future__ import annotations

from pathlib import Path

import pytest

ALPHABET = "0123456789+="
SIZES = (16, 32)


@pytest.fixture(scope="session")
def tiny_lms(tmp_path_factory) -> dict[int, Path]:
    """Two sizes (about 4k and 17k parameters), 60 steps each: pass rates around 1e-3..1e-2.

    Trained once per test run: pytest-xdist workers share the folder under a file lock.
    """
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from filelock import FileLock

    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    torch.set_num_threads(1)
    root = tmp_path_factory.getbasetemp().parent / "passuntil_tiny_lms"
    root.mkdir(parents=True, exist_ok=True)
    paths = {d: root / f"d{d}" for d in SIZES}
    with FileLock(str(root / ".lock")):
        if not (root / "done").exists():
            texts = arithmetic_texts(400, max_operand=20)
            for d, path in paths.items():
                make_tiny_lm(path, texts, steps=60, d_model=d, n_layers=1, n_heads=2,
                             seq_len=32, batch_size=16, max_len=64, alphabet=ALPHABET)
            (root / "done").touch()
    return paths
