"""Fitting emergence laws: the estimator, its result object, MLE, MCMC and bootstrap.

``EmergenceLaw(...).fit(obs, task)`` returns an :class:`EmergenceFit`. One module per idea:
``model`` (profiled likelihood), ``mle``, ``mcmc``, ``bootstrap``, ``diagnostics``, ``result``,
``plots``, ``estimator``.
"""

from emergence_law.fitting.estimator import (
    EDGE_NATS,
    EmergenceLaw,
    IdentifiabilityWarning,
    at_data_edge,
)
from emergence_law.fitting.result import EmergenceFit

__all__ = ["EDGE_NATS", "EmergenceLaw", "at_data_edge", "EmergenceFit", "IdentifiabilityWarning"]
