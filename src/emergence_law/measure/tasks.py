"""Tasks described as data: a small YAML (or JSONL) format for few-shot and finetuning evals.

A task is a prompt template, choices (multiple choice) or a target string (generative), an
answer, a few-shot pool and count, and a chance level. Keeping tasks as data, not code, lets a
recipe name any task by file and lets the same examples be exported to lm-eval-harness
(:meth:`Task.to_lmeval`), so the built-in evaluator and the harness can be compared on
identical prompts.

YAML form (paths relative to the YAML file; ``splits`` may also hold inline lists)::

    name: add-mc
    kind: multiple_choice          # or: generate
    description: ""                # text put once before the few-shot examples
    template: "{a}+{b}="           # Python format fields from each example
    choices_field: choices         # per-example list, or `choices: [...]` for fixed choices
    answer: answer                 # field with the index of the correct choice (or its text)
    target_delimiter: ""           # between prompt and answer (lm-eval default " ")
    fewshot: {shots: 3, split: train, sampler: first_n, seed: 1234, delimiter: "\\n"}
    splits: {train: train.jsonl, eval: eval.jsonl}
    chance: 0.25                   # default: mean of 1/number of choices; 0 for generate
    until: ["\\n"]                  # generate: stop strings
    max_new_tokens: 16             # generate

JSONL form: one example per line with ``prompt``, ``choices`` (absent for generative tasks),
``answer`` and ``split`` (``train`` or ``eval``); everything else takes the defaults.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergence_law.errors import DataError
from emergence_law.jsonfile import jsonl_records, read_utf8

KINDS = ("multiple_choice", "generate")
SAMPLERS = ("first_n", "random")
BUILTIN_DIR = Path(__file__).resolve().parents[1] / "tasks"


@dataclass(frozen=True)
class Example:
    """One rendered example: the prompt, its choices (multiple choice) and the answer."""

    index: int
    prompt: str
    choices: tuple[str, ...] | None
    answer: int | str  # index of the correct choice, or the target string

    @property
    def answer_text(self) -> str:
        return self.choices[self.answer] if self.choices is not None else str(self.answer)


@dataclass
class Task:
    """A task as data; see the module docstring for the file format."""

    name: str
    kind: str = "multiple_choice"
    template: str = "{prompt}"
    description: str = ""
    choices: list[str] | None = None
    choices_field: str | None = "choices"
    answer_field: str = "answer"
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    shots: int = 0
    fewshot_split: str = "train"
    fewshot_sampler: str = "first_n"
    fewshot_seed: int = 1234
    eval_split: str = "eval"
    train_split: str = "train"
    splits: dict[str, list[dict]] = field(default_factory=dict)
    chance: float | None = None
    until: list[str] = field(default_factory=lambda: ["\n"])
    max_new_tokens: int = 16
    source: str = "<task>"

    # ------------------------------------------------------------------ examples

    def examples(self, split: str | None = None) -> list[Example]:
        """The rendered examples of ``split`` (default: the eval split)."""
        split = split or self.eval_split
        if split not in self.splits:
            raise DataError(f"task {self.name!r} has no split {split!r} (splits: "
                            f"{', '.join(self.splits) or 'none'})", source=self.source)
        return [self._render(i, ex, split) for i, ex in enumerate(self.splits[split])]

    def _render(self, i: int, ex: dict, split: str) -> Example:
        where = {"source": f"{self.source} [{split}]", "row": i + 1}
        try:
            prompt = self.template.format_map(ex)
        except KeyError as exc:
            raise DataError(f"template field {{{exc.args[0]}}} is not in the example",
                            column=str(exc.args[0]), **where) from exc
        except (ValueError, IndexError) as exc:
            raise DataError(f"bad template {self.template!r}: {exc}", source=self.source) from exc
        if self.answer_field not in ex:
            raise DataError("answer is missing", column=self.answer_field, **where)
        answer = ex[self.answer_field]
        if self.kind == "generate":
            return Example(i, prompt, None, str(answer))
        choices = self.choices
        if choices is None:
            if not self.choices_field or self.choices_field not in ex:
                raise DataError("choices are missing", column=self.choices_field or "choices",
                                **where)
            choices = ex[self.choices_field]
        if not isinstance(choices, (list, tuple)) or len(choices) < 2:
            raise DataError("choices must be a list of at least two strings",
                            column=self.choices_field or "choices", **where)
        choices = tuple(str(c) for c in choices)
        if isinstance(answer, bool):
            answer = None
        if isinstance(answer, int) or (isinstance(answer, str) and answer.isdigit()
                                       and answer not in choices):
            idx = int(answer)
            if not 0 <= idx < len(choices):
                raise DataError(f"answer index {idx} is out of range for {len(choices)} choices",
                                column=self.answer_field, **where)
        elif isinstance(answer, str) and answer in choices:
            idx = choices.index(answer)
        else:
            raise DataError(f"answer {answer!r} is neither a choice index nor one of the choices",
                            column=self.answer_field, **where)
        return Example(i, prompt, choices, idx)

    # ------------------------------------------------------------------ few-shot prompts

    def fewshot_examples(self, shots: int | None = None) -> list[Example]:
        """The few-shot examples: the same ones for every evaluated example (shared prefix)."""
        k = self.shots if shots is None else shots
        if k <= 0:
            return []
        pool = self.examples(self.fewshot_split)
        if len(pool) < k:
            raise DataError(f"{k} shots asked for but the few-shot pool '{self.fewshot_split}' "
                            f"has only {len(pool)} examples", source=self.source)
        if self.fewshot_sampler == "random":
            pool = random.Random(self.fewshot_seed).sample(pool, k)
        return pool[:k]

    def fewshot_prefix(self, shots: int | None = None) -> str:
        """Description plus the solved few-shot examples: identical for every eval example."""
        parts = [ex.prompt + self.target_delimiter + ex.answer_text + self.fewshot_delimiter
                 for ex in self.fewshot_examples(shots)]
        return self.description + "".join(parts)

    def chance_level(self, examples: list[Example] | None = None) -> float:
        """Random-guess level of accuracy: given, or mean 1/choices (0 for generative tasks)."""
        if self.chance is not None:
            return float(self.chance)
        if self.kind == "generate":
            return 0.0
        exs = examples if examples is not None else self.examples()
        return sum(1.0 / len(e.choices) for e in exs) / max(1, len(exs))

    # ------------------------------------------------------------------ saving

    def save(self, out_dir: str | Path) -> Path:
        """Write this task as ``task.yaml`` plus one JSONL file per split; return the YAML path.

        :func:`load_task` reads it back as an equal task, so a task built in code (the lab's)
        can be named by file in a sweep recipe.
        """
        import yaml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for split, rows in self.splits.items():
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            (out / f"{split}.jsonl").write_text(text, encoding="utf-8")
        spec: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "template": self.template,
            "description": self.description, "answer": self.answer_field,
            "target_delimiter": self.target_delimiter,
            "fewshot": {"shots": self.shots, "split": self.fewshot_split,
                        "sampler": self.fewshot_sampler, "seed": self.fewshot_seed,
                        "delimiter": self.fewshot_delimiter},
            "splits": {split: f"{split}.jsonl" for split in self.splits},
            "eval_split": self.eval_split, "train_split": self.train_split,
            "until": list(self.until), "max_new_tokens": self.max_new_tokens,
        }
        if self.choices is not None:
            spec["choices"] = list(self.choices)
        elif self.choices_field is not None:
            spec["choices_field"] = self.choices_field
        if self.chance is not None:
            spec["chance"] = float(self.chance)
        path = out / "task.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        return path

    # ------------------------------------------------------------------ lm-eval export

    def to_lmeval(self, out_dir: str | Path, shots: int | None = None) -> Path:
        """Write this task as an lm-eval-harness task (YAML + local JSONL); return the folder.

        Prompts are rendered here and stored as fields, so the harness sees exactly the strings
        the built-in evaluator scores; few-shot examples are the first ``shots`` of the pool
        (``sampler: first_n``), matching :meth:`fewshot_examples` for ``first_n`` tasks.
        """
        import yaml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        name = _lmeval_name(self.name)
        files = {}
        for split in dict.fromkeys([self.eval_split, self.fewshot_split]):
            if split not in self.splits:
                continue
            path = out / f"{name}_{split}.jsonl"
            exs = self.examples(split)
            if split == self.fewshot_split and self.fewshot_sampler == "random":
                exs = self.fewshot_examples(len(exs))  # shuffled once, so first_n matches
            with open(path, "w", encoding="utf-8") as fh:
                for ex in exs:
                    rec = {"prompt": ex.prompt, "answer": ex.answer}
                    if ex.choices is not None:
                        rec["choices"] = list(ex.choices)
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            files[split] = str(path.resolve())
        spec: dict[str, Any] = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": files[self.eval_split]}},
            "test_split": "test",
            "doc_to_text": "{{prompt}}",
            "target_delimiter": self.target_delimiter,
            "fewshot_delimiter": self.fewshot_delimiter,
            "num_fewshot": self.shots if shots is None else shots,
            "metadata": {"version": 1.0},
        }
        if self.description:
            spec["description"] = self.description
        if self.fewshot_split in files:
            spec["dataset_kwargs"]["data_files"]["train"] = files[self.fewshot_split]
            spec["fewshot_split"] = "train"
            spec["fewshot_config"] = {"sampler": "first_n"}
        if self.kind == "multiple_choice":
            spec.update({"output_type": "multiple_choice", "doc_to_choice": "{{choices}}",
                         "doc_to_target": "{{answer}}",
                         "metric_list": [{"metric": "acc", "aggregation": "mean",
                                          "higher_is_better": True},
                                         {"metric": "acc_norm", "aggregation": "mean",
                                          "higher_is_better": True}]})
        else:
            spec.update({"output_type": "generate_until", "doc_to_target": "{{answer}}",
                         "generation_kwargs": {"until": list(self.until), "do_sample": False,
                                               "max_gen_toks": self.max_new_tokens},
                         "metric_list": [{"metric": "exact_match", "aggregation": "mean",
                                          "higher_is_better": True, "ignore_case": False,
                                          "ignore_punctuation": False}],
                         "filter_list": [{"name": "none", "filter": [
                             {"function": "regex", "regex_pattern": r"^\s*(.*?)\s*$",
                              "group_select": 0},
                             {"function": "take_first"}]}]})
        (out / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False,
                                                         allow_unicode=True))
        return out


def _lmeval_name(name: str) -> str:
    keep = set(string.ascii_letters + string.digits + "_")
    return "".join(c if c in keep else "_" for c in name)


# ---------------------------------------------------------------------------------------------
# loading


def builtin_tasks() -> list[str]:
    """Names of the example tasks shipped with the package."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_task(path_or_name: str | Path, *, shots: int | None = None) -> Task:
    """Load a task file (YAML or JSONL) or a built-in task by name; ``shots`` overrides."""
    p = Path(path_or_name)
    if not p.exists():
        builtin = BUILTIN_DIR / f"{path_or_name}.yaml"
        if builtin.exists():
            p = builtin
        else:
            raise DataError(f"task file not found (built-in tasks: "
                            f"{', '.join(builtin_tasks()) or 'none'})", source=str(path_or_name))
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        task = _task_from_jsonl(p)
    elif p.suffix.lower() in (".yaml", ".yml"):
        task = _task_from_yaml(p)
    else:
        raise DataError(f"unknown task file type {p.suffix!r} (use .yaml or .jsonl)",
                        source=str(p))
    if shots is not None:
        if shots < 0:
            raise DataError(f"shots must be >= 0, got {shots}", source=str(p))
        task.shots = shots
    task.examples()  # validate every eval example now, not halfway through a run
    if task.shots:
        task.fewshot_examples()
    return task


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, rec in jsonl_records(read_utf8(path, missing="data file not found"), str(path)):
        if not isinstance(rec, dict):
            raise DataError("each line must be a JSON object", source=str(path), row=lineno)
        rows.append(rec)
    return rows


def _task_from_jsonl(path: Path) -> Task:
    rows = _read_jsonl(path)
    if not rows:
        raise DataError("no examples", source=str(path))
    splits: dict[str, list[dict]] = {}
    for i, r in enumerate(rows, 1):
        split = str(r.get("split", "eval"))
        if "prompt" not in r:
            raise DataError("prompt is missing", source=str(path), row=i, column="prompt")
        splits.setdefault(split, []).append(r)
    kind = "multiple_choice" if "choices" in rows[0] else "generate"
    return Task(name=path.stem, kind=kind, splits=splits, source=str(path),
                fewshot_split="train", shots=0)


_YAML_KEYS = {"name", "kind", "template", "description", "choices", "choices_field", "answer",
              "target_delimiter", "fewshot", "splits", "chance", "until", "max_new_tokens",
              "eval_split", "train_split"}


def _task_from_yaml(path: Path) -> Task:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"invalid YAML: {str(exc).splitlines()[0]}", source=str(path)) from exc
    if not isinstance(spec, dict):
        raise DataError("a task file must be a YAML mapping", source=str(path))
    unknown = set(spec) - _YAML_KEYS
    if unknown:
        raise DataError(f"unknown key(s) {', '.join(sorted(unknown))} (known: "
                        f"{', '.join(sorted(_YAML_KEYS))})", source=str(path))
    kind = spec.get("kind", "multiple_choice")
    if kind not in KINDS:
        raise DataError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", source=str(path))
    fs = spec.get("fewshot") or {}
    if not isinstance(fs, dict):
        raise DataError("fewshot must be a mapping (shots, split, sampler, seed, delimiter)",
                        source=str(path))
    sampler = fs.get("sampler", "first_n")
    if sampler not in SAMPLERS:
        raise DataError(f"fewshot.sampler must be one of {', '.join(SAMPLERS)}",
                        source=str(path))
    splits_spec = spec.get("splits")
    if not isinstance(splits_spec, dict) or not splits_spec:
        raise DataError("splits must map split names to JSONL files or lists of examples",
                        source=str(path))
    splits: dict[str, list[dict]] = {}
    for name, val in splits_spec.items():
        if isinstance(val, str):
            splits[str(name)] = _read_jsonl((path.parent / val).resolve())
        elif isinstance(val, list) and all(isinstance(v, dict) for v in val):
            splits[str(name)] = val
        else:
            raise DataError(f"split {name!r} must be a JSONL file name or a list of examples",
                            source=str(path))
    choices = spec.get("choices")
    chance = spec.get("chance")
    return Task(
        name=str(spec.get("name", path.stem)),
        kind=kind,
        template=str(spec.get("template", "{prompt}")),
        description=str(spec.get("description", "")),
        choices=[str(c) for c in choices] if choices is not None else None,
        choices_field=spec.get("choices_field", "choices"),
        answer_field=str(spec.get("answer", "answer")),
        target_delimiter=str(spec.get("target_delimiter", " ")),
        fewshot_delimiter=str(fs.get("delimiter", "\n\n")),
        shots=int(fs.get("shots", 0)),
        fewshot_split=str(fs.get("split", "train")),
        fewshot_sampler=sampler,
        fewshot_seed=int(fs.get("seed", 1234)),
        eval_split=str(spec.get("eval_split", "eval")),
        train_split=str(spec.get("train_split", "train")),
        splits=splits,
        chance=float(chance) if chance is not None else None,
        until=[str(u) for u in spec.get("until", ["\n"])],
        max_new_tokens=int(spec.get("max_new_tokens", 16)),
        source=str(path),
    )
