"""Checkers: decide whether one sampled completion solves an instance.

A checker is any callable ``completion -> bool``. The ones here are built from a task file's
``checker`` spec (see :func:`checker_from_spec`): ``exact`` (exact match after normalisation),
``numeric`` (a number within a tolerance), ``regex`` and ``code`` (HumanEval-style: the
completion runs in the sandbox, the tests call it from a separate supervisor process).
:func:`check_batch` runs a checker over a batch and turns a checker that raises into a reported fail, so a broken checker never stops a run.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from emergence_law.errors import DataError
from emergence_law.passuntil.sandbox import (
    IsolationMode,
    SandboxResult,
    isolation_mode,
    run_check,
)

Checker = Callable[[str], bool]

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def normalise(text: str) -> str:
    """Case-folded, NFKC, whitespace collapsed, surrounding punctuation and quotes stripped."""
    t = unicodedata.normalize("NFKC", str(text)).casefold()
    t = " ".join(t.split())
    return t.strip(" .,;:!?\"'`")


@dataclass
class ExactMatch:
    """Pass when the completion (its first line by default) equals an answer after normalising."""

    answers: Sequence[str]
    first_line: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.answers, str):
            self.answers = [self.answers]
        self._norm = {normalise(a) for a in self.answers}

    def __call__(self, completion: str) -> bool:
        text = completion.strip().split("\n", 1)[0] if self.first_line else completion
        return normalise(text) in self._norm


@dataclass
class NumericAnswer:
    """Pass when the completion's first (or last) number equals ``answer`` within tolerance."""

    answer: float
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9
    which: str = "first"

    def __call__(self, completion: str) -> bool:
        found = _NUMBER.findall(completion)
        if not found:
            return False
        raw = (found[0] if self.which == "first" else found[-1]).replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            return False
        return math.isclose(value, float(self.answer), rel_tol=self.rel_tol, abs_tol=self.abs_tol)


@dataclass
class RegexMatch:
    """Pass when ``pattern`` is found in (or, with ``full``, matches all of) the completion."""

    pattern: str
    ignore_case: bool = False
    full: bool = False

    def __post_init__(self) -> None:
        self._re = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)

    def __call__(self, completion: str) -> bool:
        text = completion.strip()
        m = self._re.fullmatch(text) if self.full else self._re.search(text)
        return m is not None


@dataclass
class CodeExecution:
    """HumanEval-style: ``check(candidate)`` from ``test`` must return, where ``candidate`` is
    ``entry_point`` of ``prompt + completion``.

    Runs in the sandbox (:func:`~.sandbox.run_check`): the completion in an isolated worker
    process, the test in a supervisor that alone reports the verdict. ``isolation`` picks the
    sandbox mode (``network`` is its old name, still read from task files).
    """

    test: str
    entry_point: str
    prompt: str = ""
    timeout: float = 5.0
    memory_mb: int = 512
    network: IsolationMode | None = None
    workers: int = 2
    isolation: IsolationMode = "auto"
    last_results: list[SandboxResult] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.network is not None:
            self.isolation = self.network
        isolation_mode(self.isolation)  # a bad name fails here, and a fallback warns once

    def run(self, completion: str) -> SandboxResult:
        return run_check(self.prompt, completion, self.test, self.entry_point,
                         timeout=self.timeout, memory_mb=self.memory_mb,
                         isolation=self.isolation)

    def __call__(self, completion: str) -> bool:
        return self.run(completion).passed

    def check_many(self, completions: Sequence[str]) -> list[bool]:
        """Check a batch with a few sandboxes in parallel (each is its own process)."""
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            self.last_results = list(pool.map(self.run, completions))
        return [r.passed for r in self.last_results]


@dataclass
class BatchCheck:
    """Outcome of checking a batch: pass flags in sample order and the checker errors seen."""

    passed: list[bool]
    errors: list[str]


def check_batch(checker: Checker, completions: Sequence[str]) -> BatchCheck:
    """Check completions in order; an exception in the checker counts as a fail and is reported."""
    many = getattr(checker, "check_many", None)
    if many is not None:
        try:
            return BatchCheck([bool(x) for x in many(list(completions))], [])
        except Exception:  # fall back to one at a time to isolate the failing completion
            pass
    passed, errors = [], []
    for c in completions:
        try:
            passed.append(bool(checker(c)))
        except Exception as exc:  # a broken checker is a fail, never a crash of the run
            passed.append(False)
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
    return BatchCheck(passed, errors)


CHECKER_TYPES = ("exact", "numeric", "regex", "code")


def checker_from_spec(spec: Mapping | str, *, prompt: str = "", source: str = "task",
                      row: int | None = None) -> Checker:
    """Build a checker from a task file's spec; a bad spec raises one DataError line.

    Specs: ``{"type": "exact", "answer": "42"}`` (or ``"answers": [...]``),
    ``{"type": "numeric", "answer": 3.5, "rel_tol": 1e-6}``, ``{"type": "regex", "pattern":
    "^4[26]$"}``, ``{"type": "code", "test": "def check(candidate): ...", "entry_point": "f"}``.
    A bare string means exact match with that answer.
    """
    if isinstance(spec, str):
        return ExactMatch([spec])
    if not isinstance(spec, Mapping):
        raise DataError("checker must be an object with a 'type'", source=source, row=row,
                        column="checker")
    kind = str(spec.get("type", "exact")).lower()
    opts = {k: v for k, v in spec.items() if k != "type"}
    try:
        if kind == "exact":
            answers = opts.pop("answers", None) or [opts.pop("answer")]
            return ExactMatch([str(a) for a in answers], **opts)
        if kind == "numeric":
            return NumericAnswer(float(opts.pop("answer")), **opts)
        if kind == "regex":
            return RegexMatch(str(opts.pop("pattern")), **opts)
        if kind == "code":
            opts.setdefault("prompt", prompt)
            return CodeExecution(str(opts.pop("test")), str(opts.pop("entry_point")), **opts)
    except KeyError as exc:
        raise DataError(f"{kind} checker needs {exc.args[0]!r}", source=source, row=row,
                        column="checker") from None
    except (TypeError, ValueError, re.error) as exc:
        raise DataError(f"bad {kind} checker: {exc}", source=source, row=row,
                        column="checker") from None
    raise DataError(f"unknown checker type {kind!r} (choose from {', '.join(CHECKER_TYPES)})",
                    source=source, row=row, column="checker")
