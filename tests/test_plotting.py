"""Tests for hts_lib.book.plotting: tail-index diagnostics, the reference slope and the animation player."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hts_lib.book.plotting import (  # noqa: E402
    PALETTE,
    animation_html,
    hill_plot,
    pareto_qq_plot,
    plot_moment_function,
    plot_moment_paths,
    plot_phase_diagram,
    plot_survival,
    plot_tail_index_curves,
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
    x = -sample_pareto(1.7, 20_000, seed=6)  # negative values: |x| is used
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
    for call in (
        lambda: reference_slope(bad_ax, x, 1.5),
        lambda: plot_survival(bad_ax, x),
        lambda: hill_plot(bad_ax, x),
        lambda: survival_fit_plot(bad_ax, x, hill(x)),
    ):
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
    assert 'alt="Three &quot;frames&quot; of a line"' in html  # escaped, on the player image
    assert html.count("<img ") == 1 and html.index("alt=") < html.index(">", html.index("<img "))
    assert "font-awesome" not in html and "<link" not in html  # nothing fetched from a CDN
    assert html.count("data:image/png;base64") == 3  # one embedded PNG per frame
    assert {0, 1, 2} <= set(calls)
    assert not plt.fignum_exists(fig.number)  # closed: not shown twice


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


def test_pareto_qq_plot_draws_log_order_statistics_and_a_slope_one_over_alpha_line(ax):
    x = -sample_pareto(2.0, 1000, seed=10)  # negative values: |x| is used
    points = pareto_qq_plot(ax, x, alpha=2.0, n_top=100, label="Pareto")
    # independent computation: the i-th largest of |x| against log(n / i), i = 1..100
    top = sorted(abs(v) for v in x.tolist())[::-1][:100]
    assert np.allclose(np.exp(points.get_ydata()), top, rtol=1e-12)  # floating-point log/exp only
    assert np.allclose(points.get_xdata(), [math.log(1000 / i) for i in range(1, 101)], rtol=1e-12)
    assert points.get_label() == "Pareto"
    ref = ax.get_lines()[1]
    slope = np.polyfit(ref.get_xdata(), ref.get_ydata(), 1)[0]
    assert slope == pytest.approx(0.5, rel=1e-10)  # exact: a straight line of slope 1/alpha
    assert ref.get_ydata()[10] == pytest.approx(math.log(top[10]))  # through the (n_top // 10)-th largest
    assert ax.get_xlabel() == r"$\log(n/i)$" and ax.get_ylabel() == r"$\log X_{(i)}$"


def test_pareto_qq_plot_without_alpha_draws_points_only(ax):
    pareto_qq_plot(ax, sample_pareto(1.5, 200, seed=11))
    assert len(ax.get_lines()) == 1 and ax.get_lines()[0].get_xdata().size == 200


def test_pareto_qq_plot_bad_input(ax):
    x = sample_pareto(1.5, 50, seed=12)
    with pytest.raises(ValueError, match="n_top"):
        pareto_qq_plot(ax, x, n_top=51)
    with pytest.raises(ValueError, match="alpha"):
        pareto_qq_plot(ax, x, alpha=-1.0)
    with pytest.raises(ValueError, match="x must have no zero"):
        pareto_qq_plot(ax, np.zeros(5))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        pareto_qq_plot("axes", x)


def test_plot_phase_diagram_draws_the_grid_and_critical_curves(ax):
    x, y = np.array([0.1, 0.5, 1.0, 1.5]), np.array([1.0, 2.0, 3.0])
    alpha = np.array([[9.0, 2.5, 1.2, np.nan], [np.inf, 4.0, 1.9, 0.7], [30.0, 6.0, 2.2, 1.1]])
    mesh = plot_phase_diagram(
        ax, x, y, alpha, eta_crit=[0.4, 0.9, 1.2], eta_max=[1.2, 1.6, 1.9], label="my label"
    )
    shown = mesh.get_array()
    # finite tail indices coloured as given; nan (no stationary law) and inf (light tail) not coloured
    assert np.array_equal(shown.mask, ~np.isfinite(alpha))
    assert np.allclose(shown.compressed(), alpha[np.isfinite(alpha)])
    assert mesh.norm.vmin == 0.1 and mesh.norm.vmax == 50.0
    # the grey layer covers exactly the nan cells
    grey = ax.collections[1].get_array()
    assert np.array_equal(~grey.mask, np.isnan(alpha))
    crit, top = ax.get_lines()
    assert np.array_equal(crit.get_xdata(), [0.4, 0.9, 1.2]) and np.array_equal(crit.get_ydata(), y)
    assert np.array_equal(top.get_xdata(), [1.2, 1.6, 1.9])
    assert "crit" in crit.get_label() and "max" in top.get_label()
    assert ax.get_xlabel() == r"step size $\eta$"
    assert ax.figure.axes[-1].get_ylabel() == "my label"  # the colour bar


def test_plot_phase_diagram_bad_input(ax):
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match="alpha must have shape"):
        plot_phase_diagram(ax, [1, 2], [1, 2, 3], a)
    with pytest.raises(ValueError, match="eta_crit must have one value per y"):
        plot_phase_diagram(ax, [1, 2, 3], [1, 2], a, eta_crit=[1.0])
    with pytest.raises(ValueError, match="vmax"):
        plot_phase_diagram(ax, [1, 2, 3], [1, 2], a, vmax=0.05)
    with pytest.raises(ValueError, match="y"):
        plot_phase_diagram(ax, [1, 2, 3], np.ones((2, 2)), a)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_phase_diagram(None, [1, 2, 3], [1, 2], a)


def test_plot_tail_index_curves_draws_each_curve_in_palette_order(ax):
    curves = {"$b = 1$": ([0.1, 0.2, 0.3], [20.0, 3.0, np.nan]), "$b = 2$": ([0.2, 0.4], [9.0, 1.5])}
    lines = plot_tail_index_curves(ax, curves, reference=2, marker="o")
    assert [ln.get_label() for ln in lines] == ["$b = 1$", "$b = 2$"]
    assert np.array_equal(lines[1].get_xdata(), [0.2, 0.4])
    assert np.array_equal(lines[1].get_ydata(), [9.0, 1.5])
    assert np.isnan(lines[0].get_ydata()[2])  # no stationary law: a gap, kept as nan
    assert [ln.get_color() for ln in lines] == list(PALETTE[:2]) and lines[0].get_marker() == "o"
    ref = ax.get_lines()[2]
    assert np.array_equal(ref.get_ydata(), [2, 2]) and ref.get_linestyle() == "--"
    assert ax.get_yscale() == "log" and ax.get_ylabel() == r"$\alpha$"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["$b = 1$", "$b = 2$"]


def test_plot_tail_index_curves_options_and_bad_input(ax):
    plot_tail_index_curves(
        ax, {"a": ([1, 2], [3, 4])}, reference=1, reference_style={"ls": ":"}, ylabel=None, legend=False
    )
    assert ax.get_lines()[1].get_linestyle() == ":" and ax.get_ylabel() == "" and ax.get_legend() is None
    with pytest.raises(ValueError, match="empty"):
        plot_tail_index_curves(ax, {})
    with pytest.raises(TypeError, match="curves"):
        plot_tail_index_curves(ax, [([1], [2])])
    with pytest.raises(ValueError, match="one shape"):
        plot_tail_index_curves(ax, {"a": ([1, 2], [3])})


def test_plot_moment_function_draws_h_and_titles_its_numbers(ax):
    from hts_lib.recursion import CriticalStepSizes

    s = np.linspace(0.0, 3.0, 7)
    h = s * (s - 2.0) / 4  # a convex h with h(0) = 0, root 2, h'(0) = -0.5
    line = plot_moment_function(ax, s, h, alpha=2.0, rho=-0.5, steps=CriticalStepSizes(0.123, 0.4567))
    assert np.array_equal(line.get_xdata(), s) and np.array_equal(line.get_ydata(), h)
    assert np.array_equal(ax.get_lines()[1].get_ydata(), [0, 0])  # the zero line
    assert ax.get_title() == (r"$\alpha$ = 2, $\rho$ = -0.5; $\eta_{crit}$ = 0.123, $\eta_{max}$ = 0.4567")
    assert ax.get_xlabel() == "$s$" and ax.get_ylabel() == "$h(s)$"


def test_plot_moment_function_bad_input(ax):
    with pytest.raises(ValueError, match="one shape"):
        plot_moment_function(ax, [0, 1], [0])
    with pytest.raises(ValueError, match="s must be non-negative"):
        plot_moment_function(ax, [-1, 1], [0, 0])
    with pytest.raises(TypeError, match="steps"):
        plot_moment_function(ax, [0, 1], [0, 0], steps=(0.1, 0.2))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_moment_function(3, [0, 1], [0, 0])


def test_plot_moment_paths_draws_means_bands_and_exact_curves(ax):
    steps = np.arange(1, 6)
    powers = [1.0, 1.5, 2.0]
    mean = np.array([steps * 1.0, steps * 2.0, steps * 3.0])
    se = np.array([np.full(5, 0.1), np.full(5, 5.0), np.full(5, 0.3)])
    lines = plot_moment_paths(ax, steps, powers, mean, se, alpha=1.5, exact={2.0: steps * 3.1})
    assert [ln.get_label() for ln in lines] == [
        r"$p = 1$ (below $\alpha$)",
        r"$p = 1.5$ (at $\alpha$)",
        r"$p = 2$ (above $\alpha$)",
    ]
    for line, m in zip(lines, mean):
        assert np.array_equal(line.get_xdata(), steps) and np.array_equal(line.get_ydata(), m)
    # each band spans mean -+ 2 se, cut at the floor 1e-3 where mean - 2 se <= 0 (the second order)
    for band, m, s in zip(ax.collections, mean, se):
        ys = band.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(max((m - 2 * s).min(), 1e-3))
        assert ys.max() == pytest.approx((m + 2 * s).max())
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert np.array_equal(dashed[0].get_ydata(), steps * 3.1)
    assert dashed[0].get_color() == lines[2].get_color()
    assert dashed[-1].get_label() == "exact (moment recursion)"  # the legend entry, no data
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step $k$"


def test_plot_moment_paths_bad_input(ax):
    one = np.ones((1, 3))
    with pytest.raises(ValueError, match="must have shape"):
        plot_moment_paths(ax, [1, 2, 3], [1.0, 2.0], one, one)
    with pytest.raises(ValueError, match="not in powers"):
        plot_moment_paths(ax, [1, 2, 3], [1.0], one, one, exact={2.0: [1, 2, 3]})
    with pytest.raises(TypeError, match="exact"):
        plot_moment_paths(ax, [1, 2, 3], [1.0], one, one, exact=[1, 2, 3])
    with pytest.raises(ValueError, match="floor"):
        plot_moment_paths(ax, [1, 2, 3], [1.0], one, one, floor=0.0)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_moment_paths(None, [1, 2, 3], [1.0], one, one)
