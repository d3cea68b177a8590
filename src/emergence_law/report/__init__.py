"""The HTML report: one self-contained page from a results folder (``emergence-law report``)."""

from __future__ import annotations

from emergence_law.report.collect import ResultsFolder, collect, collect_tree
from emergence_law.report.html import build_report, render_report

__all__ = ["ResultsFolder", "build_report", "collect", "collect_tree", "render_report"]
