"""Tests for hts_lib.book.plotting.plot_tail_index_sweep (the Part III sweep plot)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hts_lib.book.plotting import plot_tail_index_sweep  # noqa: E402


def _record(eta, b, alpha=None, flags=(), diverged=False, train_acc=0.99):
    est = (
        None
        if alpha is None
        else {"alpha": alpha, "ci_low": alpha - 0.1, "ci_high": alpha + 0.1, "flags": list(flags)}
    )
    return {
        "config": {"eta": eta, "batch_size": b},
        "diverged": diverged,
        "metrics_average": None if diverged else {"train_acc": train_acc},
        "alpha": {}
        if est is None
        else {"layer1": {"alpha_stable": est, "hill": {**est, "alpha": 3 * alpha}}},
    }


@pytest.fixture
def runs():
    return [
        _record(0.01, 1, 1.8),
        _record(0.05, 1, 1.5),
        _record(0.1, 1, diverged=True),
        _record(0.01, 10, 2.0, flags=("at_ceiling",)),
        _record(0.1, 10, 1.9),
    ]


def test_counts_and_artists(runs):
    fig, ax = plt.subplots()
    out = plot_tail_index_sweep(ax, runs, "layer1")
    assert out == {"n_plotted": 4, "n_diverged": 1, "n_at_ceiling": 1, "n_collapsed": 0}
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None"]
    xs = np.concatenate([ln.get_xdata() for ln in lines])
    # every run appears once at its eta/b: four estimates and one diverged cross
    assert sorted(xs.tolist()) == sorted([0.01, 0.05, 0.1, 0.001, 0.01])
    hollow = [ln for ln in lines if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and hollow[0].get_xdata().tolist() == [0.001]  # the at_ceiling run
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    plt.close(fig)


def test_hill_on_log_axis_and_values(runs):
    fig, ax = plt.subplots()
    plot_tail_index_sweep(ax, runs, "layer1", "hill", legend=False)
    assert ax.get_yscale() == "log"
    ys = sorted(np.concatenate([ln.get_ydata() for ln in ax.get_lines() if ln.get_marker() != "x"]).tolist())
    assert ys == pytest.approx(sorted([5.4, 4.5, 6.0, 5.7]))  # 3 * alpha in the fixture
    assert ax.get_legend() is None
    plt.close(fig)


def test_collapsed_runs_are_set_apart(runs):
    runs = runs + [_record(0.06, 1, 1.1, train_acc=0.1)]
    fig, ax = plt.subplots()
    out = plot_tail_index_sweep(ax, runs, "layer1", min_train_acc=0.2)
    assert out["n_collapsed"] == 1 and out["n_plotted"] == 4
    grey = [ln for ln in ax.get_lines() if ln.get_label() == "collapsed"]
    assert len(grey) == 1 and grey[0].get_xdata().tolist() == [0.06] and grey[0].get_ydata().tolist() == [1.1]
    # without the threshold the same run is drawn with its batch size
    fig2, ax2 = plt.subplots()
    assert plot_tail_index_sweep(ax2, runs, "layer1")["n_plotted"] == 5
    plt.close(fig)
    plt.close(fig2)


def test_missing_layer_plots_nothing_but_diverged(runs):
    fig, ax = plt.subplots()
    out = plot_tail_index_sweep(ax, runs, "layer7")
    assert out["n_plotted"] == 0 and out["n_diverged"] == 1
    plt.close(fig)


def test_legend_even_when_all_points_are_hollow_and_axis_limited():
    runs = [_record(0.01, 1, 2.0, flags=("at_ceiling",)), _record(0.02, 1, 1.99, flags=("at_ceiling",))]
    runs[0]["alpha"]["layer1"]["alpha_stable"]["ci_high"] = 90.0  # a tiny layer's huge interval
    fig, ax = plt.subplots()
    plot_tail_index_sweep(ax, runs, "layer1")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["$b = 1$"]
    assert ax.get_ylim()[1] <= 4.0 and ax.get_ylim()[0] >= 0.0
    plt.close(fig)


def test_bad_input(runs):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="estimator must be one of 'alpha_stable', 'hill'"):
        plot_tail_index_sweep(ax, runs, "layer1", "pickands")
    with pytest.raises(ValueError, match="results is empty"):
        plot_tail_index_sweep(ax, [], "layer1")
    plt.close(fig)
