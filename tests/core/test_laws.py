"""The law's building blocks: ReLU/softplus, Box-Cox shape, anchored <-> paper parameters."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.laws import (
    AnchoredLaw,
    anchors_from_paper,
    boxcox_shape,
    emergence_point_paper,
    performance,
    softplus_relu,
)


def test_softplus_tends_to_relu():
    x = np.linspace(-0.5, 0.5, 101)
    assert np.allclose(softplus_relu(x, 1e-4), np.maximum(x, 0), atol=1e-4)
    assert np.all(softplus_relu(x, 0.05) >= np.maximum(x, 0))
    assert np.array_equal(softplus_relu(x, 0.0), np.maximum(x, 0))


def test_performance_is_flat_then_linear():
    L = np.array([2.5, 2.0, 1.9])
    assert np.allclose(performance(L, 2.0, A=2.0, B=0.25), [0.25, 0.25, 0.45])
    assert np.allclose(performance(L, 2.0, A=2.0, B=0.25, delta=0.01), [0.26, 0.26, 0.46])


def test_boxcox_is_continuous_through_zero():
    x = np.array([1.6, 4.6, 9.2])
    for a in (1e-7, -1e-7, 1e-5):
        assert np.allclose(boxcox_shape(x, a), np.log(x), atol=1e-4)
    assert np.allclose(boxcox_shape(x, 1.0), x - 1)


@pytest.mark.parametrize("form", ["log_power", "power"])
@pytest.mark.parametrize(("k", "alpha", "C"), [(0.05, 1.0, 1.76), (0.3, 0.4, 1.2),
                                                (-0.8, -0.5, 2.9)])
def test_anchored_law_equals_paper_law(form, k, alpha, C):
    if form == "power" and alpha > 0.5:
        k = k / 30.0
    law = AnchoredLaw(form, 5.0, 3000.0)
    theta = anchors_from_paper(k, alpha, C, form=form, d0=5.0, d_ref=3000.0)
    D = np.array([5.0, 30.0, 100.0, 1000.0, 3000.0, 1e5])
    assert np.allclose(law.elbows(theta, D)[0], emergence_point_paper(D, k, alpha, C, form))
    back = law.paper_params(theta)
    assert back["k"] == pytest.approx(k) and back["C"] == pytest.approx(C)
    assert back["alpha"] == pytest.approx(alpha)
