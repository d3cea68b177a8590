"""Bayesian experimental design of the next finetuning runs (issue 15).

``design_runs(obs, task, candidates, budget)`` chooses, among runs that could be made, the batch
within a budget that narrows the 90% interval of the forecast E(D0) the most, and says what it is
expected to buy. ``write_design_recipe`` turns the batch into a sweep recipe.
``plan_passuntil(counts, target_params, precision)`` plans PassUntil sampling (which sizes, how
many samples per instance) for a precision on the target's predicted pass rate. See
docs/design.md.
"""

from emergence_law.design.candidates import (
    candidate_grid,
    finetune_cost,
    load_candidates,
    load_checkpoints,
    prepare_candidates,
)
from emergence_law.design.particles import DesignWarning, Particles, current_particles
from emergence_law.design.passuntil import PassUntilPlan, plan_passuntil, plot_plan
from emergence_law.design.planner import DesignResult, design_runs
from emergence_law.design.recipe import design_recipe, write_design_recipe

__all__ = ["DesignResult", "DesignWarning", "Particles", "PassUntilPlan", "candidate_grid",
           "current_particles", "design_recipe", "design_runs", "finetune_cost",
           "load_candidates", "load_checkpoints", "plan_passuntil", "plot_plan",
           "prepare_candidates", "write_design_recipe"]
