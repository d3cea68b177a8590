"""Analyses built on fitted laws: ground truth, ablations, backtests, comparisons, loss -> size."""
