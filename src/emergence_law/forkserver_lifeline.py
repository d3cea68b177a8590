"""Imported only as a fork server preload (never import it elsewhere): the fork server of
:mod:`emergence_law.pool` then dies with the process that started it (see :mod:`.lifeline`).
A top-level module, so the fork server imports nothing else (not the sweep package's pandas)."""

from emergence_law.lifeline import die_with_parent

die_with_parent()
