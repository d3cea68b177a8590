"""lm-eval-harness interop, in one import: read its result files, and run it in memory.

The work is done in five modules, one idea each; this one keeps the public names where callers
and docs have always found them (``from emergence_law.measure.lmeval import import_lmeval``):

* :mod:`.lmeval_import`: result files (older harness and 0.4) as observation rows (torch-free);
* :mod:`.lmeval_names`: what model, revision and file names say (size, family, step, tokens);
* :mod:`.lmeval_samples`: 0.4 per-document samples as continuous metrics;
* :mod:`.lmeval_run`: running the harness on a model already in memory (``measure`` extra);
* :mod:`.lmeval_json`: the files' JSON values, read leniently.
"""

from __future__ import annotations

from emergence_law.measure.lmeval_import import (
    LAMBADA_TASKS,
    PERPLEXITY_METRICS,
    LmEvalImportWarning,
    describe_import,
    import_lmeval,
    read_lmeval_samples,
    validate_imported,
)
from emergence_law.measure.lmeval_names import (
    ACCURACY_METRICS,
    KNOWN_CHANCE,
    TOKENS_PER_STEP,
    params_from_name,
    parse_model_args,
    series_from_name,
    step_from,
    tokens_from_revision,
    tokens_per_step_of,
)
from emergence_law.measure.lmeval_run import lmeval_results_to_rows, run_lmeval
from emergence_law.measure.lmeval_samples import continuous_rows

__all__ = [
    "ACCURACY_METRICS", "KNOWN_CHANCE", "LAMBADA_TASKS", "PERPLEXITY_METRICS", "TOKENS_PER_STEP",
    "LmEvalImportWarning", "continuous_rows", "describe_import", "import_lmeval",
    "lmeval_results_to_rows", "params_from_name", "parse_model_args", "read_lmeval_samples",
    "run_lmeval", "series_from_name", "step_from", "tokens_from_revision", "tokens_per_step_of",
    "validate_imported",
]
