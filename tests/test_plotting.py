"""Tests for hts_lib.book.plotting: tail-index diagnostics, the reference slope and the animation player."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hts_lib.book.plotting import (  # noqa: E402
    animation_html,
    hill_plot,
    plot_survival,
    reference_slope,
    survival_fit_plot,
)
from hts_lib.tails.distributions import sample_pareto, sample_symmetric_stable  # noqa: E402
from hts_lib.tails.estimators import alpha_stable, hill, hill_path  # noqa: E402


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


def test_reference_slope_has_slope_minus_alpha_and_sits_on_the_tail(ax):
    x = -sample_pareto(1.7, 20_000, seed=6)          # negative values: |x| is used
    plot_survival(ax, x)
    line = reference_slope(ax, x, 1.7, color="red")
    t, p = line.get_xdata(), line.get_ydata()
    slope = np.polyfit(np.log(t), np.log(p), 1)[0]
    assert slope == pytest.approx(-1.7, rel=1e-10)  # exact: the line is p0 (t/t0)^-alpha
    # anchored at the 99 % quantile of |x|, at the empirical survival there (1 %), up to the maximum
    assert t[0] == pytest.approx(np.quantile(np.abs(x), 0.99))
    assert p[0] == pytest.approx(0.01)
    assert t[-1] == pytest.approx(np.abs(x).max())
    assert np.mean(np.abs(x) > t[0]) == pytest.approx(0.01, abs=1 / x.size)  # ties at one sample at most
    assert line.get_label() == r"slope $-\alpha = -1.70$"
    assert line.get_linestyle() == "--"


def test_reference_slope_labels(ax):
    x = sample_pareto(1.5, 500, seed=7)
    assert reference_slope(ax, x, 1.5, label="mine").get_label() == "mine"
    assert reference_slope(ax, x, 1.5, label=None).get_label().startswith("_")
    assert reference_slope(ax, x, 1.5, tail_fraction=0.1, n_points=5).get_ydata()[0] == pytest.approx(0.1)


def test_reference_slope_bad_input(ax):
    x = sample_pareto(1.5, 500, seed=8)
    with pytest.raises(ValueError, match="alpha"):
        reference_slope(ax, x, 0.0)
    with pytest.raises(ValueError, match="tail_fraction"):
        reference_slope(ax, x, 1.5, tail_fraction=1.0)
    with pytest.raises(ValueError, match="n_points"):
        reference_slope(ax, x, 1.5, n_points=1)
    with pytest.raises(ValueError, match="ndim"):
        reference_slope(ax, np.ones((10, 2)), 1.5)
    with pytest.raises(ValueError, match="anchor"):
        reference_slope(ax, np.zeros(100), 1.5)
    with pytest.raises(TypeError, match="label"):
        reference_slope(ax, x, 1.5, label=1.5)


@pytest.mark.parametrize("bad_ax", [0, "axes", np.ones(3), None])
def test_plots_name_a_bad_ax(bad_ax):
    x = sample_pareto(1.5, 300, seed=9)
    for call in (lambda: reference_slope(bad_ax, x, 1.5), lambda: plot_survival(bad_ax, x),
                 lambda: hill_plot(bad_ax, x), lambda: survival_fit_plot(bad_ax, x, hill(x))):
        with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
            call()


def _animated_figure():
    fig, axis = plt.subplots(figsize=(2, 1.5), dpi=40)
    (line,) = axis.plot([], [])
    axis.set(xlim=(0, 3), ylim=(0, 3))
    calls = []

    def update(i):
        calls.append(i)
        line.set_data([0, 1], [0, i])
        return [line]
    return fig, update, calls


def test_animation_html_is_self_contained_with_alt_text():
    fig, update, calls = _animated_figure()
    out = animation_html(fig, update, 3, alt='Three "frames" of a line', interval=100)
    html = out.data
    assert 'alt="Three &quot;frames&quot; of a line"' in html   # escaped, on the player image
    assert html.count("<img ") == 1 and html.index("alt=") < html.index(">", html.index("<img "))
    assert "font-awesome" not in html and "<link" not in html      # nothing fetched from a CDN
    assert html.count("data:image/png;base64") == 3                # one embedded PNG per frame
    assert {0, 1, 2} <= set(calls)
    assert not plt.fignum_exists(fig.number)                       # closed: not shown twice


def test_animation_html_bad_input():
    fig, update, _ = _animated_figure()
    try:
        with pytest.raises(ValueError, match="alt"):
            animation_html(fig, update, 3, alt="  ")
        with pytest.raises(TypeError, match="alt"):
            animation_html(fig, update, 3, alt=None)
        with pytest.raises(TypeError, match="update"):
            animation_html(fig, "draw", 3, alt="x")
        with pytest.raises(ValueError, match="frames"):
            animation_html(fig, update, 0, alt="x")
        with pytest.raises(ValueError, match="default_mode"):
            animation_html(fig, update, 2, alt="x", default_mode="bounce")
    finally:
        plt.close(fig)
