"""Tests for the tail-index diagnostics in hts_lib.book.plotting (hill_plot, survival_fit_plot)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hts_lib.tails.distributions import sample_pareto, sample_symmetric_stable  # noqa: E402
from hts_lib.tails.estimators import alpha_stable, hill, hill_path  # noqa: E402
from hts_lib.book.plotting import hill_plot, survival_fit_plot  # noqa: E402


@pytest.fixture
def ax():
    fig, axis = plt.subplots()
    yield axis
    plt.close(fig)


def test_hill_plot_draws_the_path_band_and_choice(ax):
    x = sample_pareto(1.5, 3000, seed=0)
    est = hill(x)
    line = hill_plot(ax, x, estimate=est, true_alpha=1.5)
    path = hill_path(x)
    assert np.array_equal(line.get_xdata(), path.k)
    assert np.allclose(line.get_ydata(), path.alpha)
    assert ax.get_xscale() == "log"
    # the chosen k is marked by a vertical line, the truth by a horizontal one
    xs = [ln.get_xdata() for ln in ax.get_lines()]
    assert any(np.allclose(v, est.k) for v in xs)
    assert any(np.allclose(ln.get_ydata(), 1.5) for ln in ax.get_lines())
    assert len(ax.collections) >= 1  # the band
    labels = [t.get_text() for t in ax.legend().get_texts()]
    assert any("chosen" in t for t in labels) and any("90%" in t for t in labels)


def test_hill_plot_without_marker(ax):
    x = sample_pareto(1.5, 500, seed=1)
    hill_plot(ax, x, estimate=False, k_values=[5, 50, 400])
    assert len(ax.get_lines()) == 1


def test_survival_fit_line_has_slope_minus_alpha(ax):
    x = sample_pareto(1.2, 5000, seed=2)
    est = hill(x)
    line = survival_fit_plot(ax, x, est)
    xs, ps = line.get_xdata(), line.get_ydata()
    slope = np.polyfit(np.log(xs), np.log(ps), 1)[0]
    assert slope == pytest.approx(-est.alpha, rel=1e-10)  # exact: the line is p0 (x/x0)^-alpha
    # it starts at the threshold, at the empirical survival there
    assert xs[0] == pytest.approx(est.x_min)
    assert ps[0] == pytest.approx(np.mean(np.abs(x) >= est.x_min))


def test_survival_fit_for_alpha_stable_is_anchored_at_top_percent(ax):
    x = sample_symmetric_stable(1.5, 5000, seed=3)
    est = alpha_stable(x, ci="none")
    line = survival_fit_plot(ax, x, est)
    assert line.get_xdata()[0] == pytest.approx(np.quantile(np.abs(x), 0.99))
    assert math.isclose(line.get_ydata()[0], np.mean(np.abs(x) >= line.get_xdata()[0]))


def test_survival_fit_light_tail_draws_no_line(ax):
    x = np.random.default_rng(4).standard_normal(5000)
    from hts_lib.tails.estimators import moment_estimator

    est = moment_estimator(x)
    assert est.alpha == math.inf
    assert survival_fit_plot(ax, x, est) is None


def test_bad_input(ax):
    x = sample_pareto(1.5, 500, seed=5)
    with pytest.raises(TypeError, match="TailEstimate"):
        survival_fit_plot(ax, x, 1.5)
    with pytest.raises(TypeError, match="TailEstimate"):
        hill_plot(ax, x, estimate="hill")
    with pytest.raises(ValueError, match="no k"):
        hill_plot(ax, x, estimate=alpha_stable(x, ci="none"))
    with pytest.raises(ValueError, match="finite"):
        hill_plot(ax, np.array([np.nan] * 100))
    with pytest.raises(ValueError, match="k_values"):
        hill_plot(ax, x, k_values=[0, 10])
