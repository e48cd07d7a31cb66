"""Checks for the coding exercises of the chapter "Fully connected networks"."""

from __future__ import annotations

import tracemalloc

import numpy as np

from hts_lib.tails import alpha_stable

from . import Case, _reference_cases, register

# ---------------------------------------------------------------------------------------------
# ch10-layer-alpha: the authors' cross-sectional block estimator for one weight matrix
# ---------------------------------------------------------------------------------------------


def _layer_alpha_reference(w, m_values) -> float:
    x = np.asarray(w, dtype=float).ravel()
    x = x - x.mean()
    return alpha_stable(x, m=list(m_values), ci="none").alpha


@register(
    "ch10-layer-alpha",
    "Cross-sectional block estimate of a layer's tail index",
    reference=_layer_alpha_reference,
)
def _cases_layer_alpha():
    rng = np.random.default_rng(10)
    authors_m = (2, 5, 10, 20, 50, 100, 500, 1000)
    settings = [
        ("Student-t(3) weights 128 x 784", (rng.standard_t(3, size=(128, 784)), authors_m)),
        ("Gaussian weights 128 x 128, shifted by 0.3", (0.3 + rng.standard_normal((128, 128)), authors_m)),
        ("Cauchy weights 10 x 128 (m = 1000 dropped)", (rng.standard_cauchy((10, 128)), authors_m[:-1])),
    ]
    return _reference_cases(
        _layer_alpha_reference,
        settings,
        rtol=1e-9,
        reason="deterministic; only the order of floating-point sums differs",
    )


# ---------------------------------------------------------------------------------------------
# ch10-streaming-mean: average of the last K iterates without storing them
# ---------------------------------------------------------------------------------------------
class _Trajectory:
    """Yields ``n_steps`` iterates (arrays of ``size`` floats) and records the peak memory used.

    The peak is measured with ``tracemalloc`` (numpy reports its allocations to it) from the first
    iterate to the last, relative to the memory in use when the iteration started.
    """

    def __init__(self, n_steps: int, size: int, seed: int):
        self.n_steps, self.size, self.seed = n_steps, size, seed
        self.peak_bytes: int | None = None

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        x = np.zeros(self.size)
        try:
            for _ in range(self.n_steps):
                x = 0.9 * x + rng.standard_normal(self.size)  # an AR(1) "SGD trajectory"
                yield x
            self.peak_bytes = tracemalloc.get_traced_memory()[1] - base
        finally:
            if started:
                tracemalloc.stop()

    def expected_mean(self, n_average: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        x, total = np.zeros(self.size), np.zeros(self.size)
        for k in range(self.n_steps):
            x = 0.9 * x + rng.standard_normal(self.size)
            if k >= self.n_steps - n_average:
                total += x
        return total / n_average


def _average_last_reference(iterates, n_steps: int, n_average: int) -> np.ndarray:
    total = None
    for k, x in enumerate(iterates, start=1):
        if k > n_steps - n_average:
            total = np.array(x, dtype=float) if total is None else total + x
    return total / n_average


#: At most this many iterates' worth of memory may be in use at once (a streaming answer needs
#: about three: the current iterate, the running sum, one temporary).
_MAX_COPIES = 12


def _streaming_compare(traj: _Trajectory, expected: np.ndarray):
    def compare(_expected, got):
        try:
            g = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return False, f"expected an array, got {type(got).__name__}"
        if g.shape != expected.shape:
            return False, f"expected shape {expected.shape}, got shape {g.shape}"
        # sums of at most 1,000 O(1) float64 terms in another order: rounding < 1e-12
        err = float(np.max(np.abs(g - expected)))
        if err > 1e-9:
            return False, f"values off by up to {err:.3g} (tolerance 1e-9: only rounding may differ)"
        if traj.peak_bytes is None:
            return False, "the answer did not iterate over all the iterates"
        copies = traj.peak_bytes / (8 * traj.size)
        if copies > _MAX_COPIES:
            return False, (
                f"right values, but about {copies:.0f} iterates were held in memory at once "
                f"(at most {_MAX_COPIES} allowed: keep a running sum, not the iterates)"
            )
        return True, f"values right to {err:.2g}; peak memory about {copies:.1f} iterates"

    return compare


@register(
    "ch10-streaming-mean",
    "Average of the last K iterates in constant memory",
    reference=_average_last_reference,
)
def _cases_streaming_mean():
    cases = []
    for n_steps, n_average, size in [(300, 100, 20_000), (1000, 1000, 5_000), (50, 1, 1_000)]:
        traj = _Trajectory(n_steps, size, seed=n_steps + n_average)
        expected = traj.expected_mean(n_average)
        cases.append(
            Case(
                f"n_steps={n_steps}, n_average={n_average}, {size} weights",
                args=(traj, n_steps, n_average),
                expected=expected,
                compare=_streaming_compare(traj, expected),
                reason="exact up to rounding, and memory bounded independently of n_average",
            )
        )
    return cases
