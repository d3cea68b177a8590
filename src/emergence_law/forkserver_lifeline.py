"""Imported only as a fork server preload (never import it elsewhere): the fork server of a
sweep's process pool then dies with the sweep that started it (see :mod:`.lifeline`)."""

from emergence_law.sweep.lifeline import die_with_parent

die_with_parent()
