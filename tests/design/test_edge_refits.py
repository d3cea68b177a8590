"""A simulated refit whose E(D0) sits at the data's edge is a bound, not a forecast (issue 15).

Measured on the lab's full-finetuning pilot (bench_design_lab.py settings, 20 % of the grid's
cost): every simulated refit after the first chosen run was a bound, with bootstrap widths
0.28-0.55 (mean 0.45); after the whole 19-run batch they were bounds too, mean 0.53. Credited
with those widths, one run looked significantly better than the whole batch and the batch was
cut to one run (the realised widths: 0.43 after one run, 0.35 after the 19).
"""

from __future__ import annotations

import numpy as np

from emergence_law.design.planner import _cut, _cut_reference, score_tables

ONE = np.array([0.277, 0.519, 0.526, 0.554, 0.51, 0.533, 0.374, 0.357, 0.31, 0.547])
EIGHT = np.array([0.522, 0.55, 0.515, 0.538, 0.534, 0.525, 0.52, 0.518, 0.534, 0.529])
ALL = np.array([0.507, 0.528, 0.537, 0.517, 0.467, 0.526, 0.53, 0.54, 0.54, 0.553])
POSTERIOR = 0.113   # the posterior's width under the prior (the pilot's fit is a bound)


def _lab_tables():
    ok = np.ones(10, bool)
    edge_eight = np.ones(10, bool)
    edge_eight[1] = False                       # one simulated outcome gave a forecast
    return {1: (ONE, ok, np.ones(10, bool)), 8: (EIGHT, ok, edge_eight),
            19: (ALL, ok, np.ones(10, bool))}


def test_bound_widths_cut_the_batch_to_one_run_under_the_old_rule():
    """The old rule (raw bootstrap widths, refused tables only as no forecast) on these
    numbers: one run (documents the failure the new rule fixes)."""
    t = _lab_tables()
    assert _cut({j: w for j, (w, _, _) in t.items()}, None,
                {j: float(ok.mean()) for j, (_, ok, _) in t.items()}) == 1


def test_bounds_count_as_no_forecast_and_the_batch_is_kept():
    t = _lab_tables()
    per = {j: score_tables(w, ok, e, POSTERIOR) for j, (w, ok, e) in t.items()}
    share = {j: float((ok & ~e).mean()) for j, (_, ok, e) in t.items()}
    assert np.allclose(per[1], POSTERIOR) and np.allclose(per[19], POSTERIOR)
    keep = _cut_reference(per, _cut(per, None, share), POSTERIOR, share)
    assert keep == 19


def test_no_forecast_is_never_worse_than_now_and_a_fair_bar_still_cuts():
    rng = np.random.default_rng(0)
    w = rng.uniform(0.05, 0.9, 200)
    ok = rng.random(200) < 0.7
    edge = rng.random(200) < 0.4
    s = score_tables(w, ok, edge, 0.3)
    assert np.all(s[~(ok & ~edge)] == 0.3)           # no forecast: the current width
    assert np.array_equal(s[ok & ~edge], w[ok & ~edge])
    # with a fair bar (the current fit's width), a batch wider than now is cut to none
    wide = {1: np.full(6, 0.5), 4: np.full(6, 0.6)}
    assert _cut(wide, 0.4, {1: 1.0, 4: 1.0}) == 0
    # a prefix that gives forecasts less often than the whole batch is never preferred
    per = {1: np.full(6, 0.2), 4: np.full(6, 0.35)}
    assert _cut(per, None, {1: 0.0, 4: 0.5}) == 4
