"""The simulator draws the paper-like design it promises, with the noise it promises."""

from __future__ import annotations

import numpy as np

from emergence_law.laws import emergence_point_paper
from emergence_law.simulate import simulate_observations


def test_design_and_truth():
    df, truth = simulate_observations(seed=0)
    ft = df[df["setting"] == "finetune"]
    fs = df[df["setting"] == "fewshot"]
    assert df["checkpoint"].nunique() == 25 and len(fs) == 25
    assert sorted(ft["n_train"].unique()) == [30, 100, 300, 1000, 3000]
    assert set(ft.groupby(["checkpoint", "n_train"])["subset"].nunique()) == {2}
    assert (fs["shots"] == 5).all() and truth["d0"] == 5
    assert truth["emergence_point"] == emergence_point_paper(5, truth["k"], truth["alpha"],
                                                             truth["C"])
    pre = fs[fs["loss"] > truth["emergence_point"] + 0.05]
    assert abs(pre["value"].mean() - 0.25) < 0.01          # flat at chance before the elbow
    post = fs[fs["loss"] < truth["emergence_point"] - 0.1]
    assert (post["value"] > 0.3).all()


def test_binomial_noise_matches_n_eval():
    # far before emergence every value is Binomial(n_eval, chance) / n_eval
    df, _ = simulate_observations(seed=1, n_eval=400, subset_sd=0.0, n_checkpoints=60,
                                  loss_range=(3.0, 4.0))
    v = df["value"].to_numpy()
    expected = np.sqrt(0.25 * 0.75 / 400)
    assert abs(v.std(ddof=1) / expected - 1) < 0.15
    assert abs(v.mean() - 0.25) < 3 * expected / np.sqrt(len(v)) + 1e-3


def test_jump_curve_family():
    """The saturating sharp-jump family: chance before the elbow, a jump, a slow rise after;
    the elbow falls inside the gap between the last pre- and first post-elbow checkpoint."""
    import pytest

    from emergence_law.simulate import JUMP_SHAPES, jump_curve_mean, simulate_jump_curve

    df, truth = simulate_jump_curve(shape="saturating", elbow=2.7, n_pre=6, n_post=30,
                                    n_eval=10**6, seed=0)
    assert len(df) == 36 and (df["setting"] == "fewshot").all() and truth["emergence_point"] == 2.7
    loss, y = df["loss"].to_numpy(), df["value"].to_numpy()
    assert (loss > 2.7).sum() == 6
    assert np.allclose(y[loss > 2.7], 0.25, atol=0.002)
    assert y[loss < 2.7].min() > 0.25 and y.max() < 0.995
    for shape in JUMP_SHAPES:
        m = jump_curve_mean(np.array([2.8, 2.7, 2.69, 2.6]), shape=shape, elbow=2.7, jump=0.2,
                            tau=0.01, slope=1.0, chance=0.25)
        assert m[0] == m[1] == 0.25 and np.all(np.diff(m[1:]) > 0), shape
    with pytest.raises(ValueError, match="unknown shape"):
        jump_curve_mean(np.array([2.0]), shape="cubic", elbow=2.7, jump=0.2, tau=0.01,
                        slope=1.0, chance=0.25)
