"""The task-as-data format: loading, rendering, few-shot prefixes, and one-line errors."""

from __future__ import annotations

import json

import pytest

from emergence_law.errors import DataError
from emergence_law.measure.tasks import builtin_tasks, load_task


def _write(path, text):
    path.write_text(text)
    return path


def test_yaml_task_with_inline_data_and_fixed_choices(tmp_path):
    f = _write(tmp_path / "t.yaml", """
name: sentiment
template: "Review: {text}\\nSentiment:"
choices: [negative, positive]
answer: label
description: "Classify.\\n\\n"
fewshot: {shots: 2, split: train, sampler: random, seed: 3}
splits:
  train: [{text: good, label: 1}, {text: bad, label: 0}, {text: fine, label: positive}]
  eval: [{text: great, label: 1}]
""")
    task = load_task(f)
    ex = task.examples()[0]
    assert ex.prompt == "Review: great\nSentiment:" and ex.choices == ("negative", "positive")
    assert ex.answer == 1 and task.chance_level() == 0.5
    assert task.examples("train")[2].answer == 1  # answer given as the choice's text
    prefix = task.fewshot_prefix()
    assert prefix.startswith("Classify.\n\n") and prefix.count("Sentiment:") == 2
    assert prefix == task.fewshot_prefix()  # the same for every example: shareable


def test_jsonl_task(tmp_path):
    f = tmp_path / "t.jsonl"
    rows = [{"prompt": "2+2=", "choices": ["4", "5"], "answer": 0, "split": "eval"},
            {"prompt": "1+1=", "choices": ["2", "3", "1"], "answer": "2", "split": "train"}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f, shots=1)
    assert task.kind == "multiple_choice" and task.shots == 1
    assert task.fewshot_prefix() == "1+1= 2\n\n"
    assert task.chance_level() == 0.5


@pytest.mark.parametrize("body, match", [
    ("template: '{x}'\nsplits: {eval: [{answer: 0, choices: [a, b]}]}",
     r"row 1, column 'x': template field \{x\}"),
    ("splits: {eval: [{prompt: p, answer: 5, choices: [a, b]}]}", "out of range"),
    ("splits: {eval: [{prompt: p, answer: c, choices: [a, b]}]}", "neither a choice"),
    ("splits: {eval: [{prompt: p, choices: [a, b]}]}", "column 'answer': answer is missing"),
    ("kind: essay\nsplits: {eval: []}", "kind must be one of"),
    ("colour: red\nsplits: {eval: []}", "unknown key"),
    ("fewshot: {shots: 5}\nsplits: {eval: [{prompt: p, answer: 0, choices: [a, b]}], "
     "train: [{prompt: p, answer: 0, choices: [a, b]}]}", "has only 1"),
    ("splits: {eval: missing.jsonl}", "missing.jsonl: data file not found"),
    ("splits: [1, 2", "invalid YAML"),
])
def test_bad_task_files_name_the_problem(tmp_path, body, match):
    f = _write(tmp_path / "bad.yaml", body)
    with pytest.raises(DataError, match=match):
        load_task(f)


def test_missing_task_lists_builtins(tmp_path):
    with pytest.raises(DataError, match="task file not found"):
        load_task(tmp_path / "nope.yaml")


def test_builtin_task_loads():
    names = builtin_tasks()
    assert "addition" in names
    task = load_task("addition")
    assert task.shots == 3 and len(task.examples()) >= 50


def test_a_saved_task_loads_back_equal(tmp_path):
    """Task.save writes the YAML + JSONL form that load_task reads (the lab names its task by
    file in its sweep recipes this way)."""
    from emergence_law.lab.corpus import TaskSplit
    from emergence_law.lab.task import multiple_choice_task

    task = multiple_choice_task(TaskSplit.make(seed=0), 40, 3, 0)
    again = load_task(task.save(tmp_path / "mul"))
    for split in task.splits:
        assert again.examples(split) == task.examples(split)
    assert again.fewshot_prefix() == task.fewshot_prefix() and again.shots == 3
    assert (again.train_split, again.fewshot_split, again.eval_split) == ("train", "fewshot",
                                                                          "eval")
    assert again.chance_level() == task.chance_level() == 0.25
