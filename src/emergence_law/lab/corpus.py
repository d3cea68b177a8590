"""Generated pretraining corpus and downstream task of the toy model suite.

Why this design (docs/lab.md has the measurements): skills a tiny model can learn in minutes on a
CPU must be the data itself and use a rigid, fixed-width format; a skill that is *rare* in the
pretraining mixture is learned late and sooner by larger models, which gives real emergence.
Every equation is 13 characters, ``aaa?bbb=cccc;``, over a 15-character vocabulary:

- ``add``: ``aaa+bbb=cccc`` (common), ``sub``: ``aaa-bbb=cccc`` with a >= b (common),
- ``mul``: ``aaa*00b=cccc`` with b in 2..9 (rare): the downstream task.

The task's items (8,000 products) are split once, by a fixed seed, into an evaluation set (never
in pretraining or finetuning data) and a training pool (pretraining and finetuning draw from it),
so accuracy measures the skill, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VOCAB = "0123456789+-*=;"
#: the ids :func:`emergence_law.tinylm.build_char_tokenizer` gives: 4 special tokens, then the
#: characters in sorted order (a test checks the real tokenizer agrees)
N_SPECIAL = 4
BOS_ID = 2
EQ_LEN = 13
ANSWER_OFFSET = 8  # the answer's 4 digits are characters 8..11 of an equation
ANSWER_LEN = 4
OPS = ("add", "sub", "mul")
_OP_CHAR = {"add": "+", "sub": "-", "mul": "*"}
CHAR_TO_ID = {c: N_SPECIAL + i for i, c in enumerate(sorted(VOCAB))}
VOCAB_SIZE = N_SPECIAL + len(VOCAB)


def equation(op: str, a: int, b: int) -> str:
    """One fixed-width equation with its answer, e.g. ``equation('mul', 37, 6) == '037*006=0222;'``."""
    if op == "add":
        c = a + b
    elif op == "sub":
        a, b = max(a, b), min(a, b)
        c = a - b
    elif op == "mul":
        c = a * b
    else:
        raise ValueError(f"unknown op {op!r}")
    return f"{a:03d}{_OP_CHAR[op]}{b:03d}={c:04d};"


def encode(text: str) -> list[int]:
    """Character ids of ``text`` (the lab's own tokenizer is character-level over VOCAB)."""
    return [CHAR_TO_ID[c] for c in text]


@dataclass(frozen=True)
class TaskSplit:
    """The multiplication items split into evaluation items and a training pool (fixed seed)."""

    eval_items: np.ndarray  # (n_eval, 2) pairs (a, b)
    pool_items: np.ndarray  # (n_pool, 2)

    @classmethod
    def make(cls, n_eval: int = 600, seed: int = 0) -> TaskSplit:
        a, b = np.meshgrid(np.arange(1000), np.arange(2, 10), indexing="ij")
        items = np.stack([a.ravel(), b.ravel()], axis=1)
        perm = np.random.default_rng(seed).permutation(len(items))
        return cls(items[perm[:n_eval]], items[perm[n_eval:]])


@dataclass
class CorpusConfig:
    """The pretraining mixture: equations per row and the share of each op."""

    mixture: dict[str, float] = field(
        default_factory=lambda: {"add": 0.51, "sub": 0.34, "mul": 0.15}
    )
    eqs_per_row: int = 6

    def probs(self) -> np.ndarray:
        p = np.array([self.mixture.get(op, 0.0) for op in OPS], dtype=float)
        return p / p.sum()


def sample_rows(
    cfg: CorpusConfig, split: TaskSplit, n_rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` pretraining rows as token ids, and a mask of the answer tokens (the loss targets).

    Returns ``ids`` (n_rows, 1 + eqs_per_row * EQ_LEN) int64, each row BOS then its equations (as
    the tokenizer encodes text), and ``answer_mask`` of the same shape, True at answer-digit
    positions (the token to predict there is an answer digit).
    """
    n_eq = n_rows * cfg.eqs_per_row
    ops = rng.choice(len(OPS), size=n_eq, p=cfg.probs())
    a = rng.integers(0, 1000, size=n_eq)
    b = rng.integers(0, 1000, size=n_eq)
    is_mul = ops == OPS.index("mul")
    pick = rng.integers(0, len(split.pool_items), size=int(is_mul.sum()))
    a[is_mul] = split.pool_items[pick, 0]
    b[is_mul] = split.pool_items[pick, 1]
    ids = equations_to_ids(ops, a, b).reshape(n_rows, -1)
    mask = np.zeros((n_rows, cfg.eqs_per_row, EQ_LEN), dtype=bool)
    mask[:, :, ANSWER_OFFSET:ANSWER_OFFSET + ANSWER_LEN] = True
    bos = np.full((n_rows, 1), BOS_ID, dtype=np.int64)
    return (np.concatenate([bos, ids], axis=1),
            np.concatenate([np.zeros_like(bos, dtype=bool), mask.reshape(n_rows, -1)], axis=1))


def equations_to_ids(ops: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectorised :func:`equation` + :func:`encode`: (n,) arrays -> (n, EQ_LEN) ids."""
    ops = np.asarray(ops)
    a = np.asarray(a).copy()
    b = np.asarray(b).copy()
    is_sub = ops == OPS.index("sub")
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    a[is_sub], b[is_sub] = hi[is_sub], lo[is_sub]
    c = np.where(ops == 0, a + b, np.where(is_sub, a - b, a * b))
    out = np.empty((len(a), EQ_LEN), dtype=np.int64)
    out[:, 0:3] = _digits(a, 3)
    out[:, 3] = np.array([CHAR_TO_ID[_OP_CHAR[o]] for o in OPS])[ops]
    out[:, 4:7] = _digits(b, 3)
    out[:, 7] = CHAR_TO_ID["="]
    out[:, 8:12] = _digits(c, 4)
    out[:, 12] = CHAR_TO_ID[";"]
    return out


def _digits(x: np.ndarray, width: int) -> np.ndarray:
    """Token ids of the zero-padded decimal digits of ``x`` (digits have consecutive ids)."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return CHAR_TO_ID["0"] + (np.asarray(x)[:, None] // powers) % 10
