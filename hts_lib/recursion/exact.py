r"""The exact tail index of online SGD on linear regression with isotropic Gaussian data.

Online SGD on :math:`F(x) = \tfrac12 E(a^\top x - y)^2` with fresh batches of ``b`` inputs
:math:`a_i \sim N(0, \sigma^2 I_d)` is the random linear recursion :math:`x_k = M_k x_{k-1} + q_k` with
:math:`M_k = I - (\eta/b)\sum_{i\le b} a_i a_i^\top`. Its stationary law has power-law tails with index
:math:`\alpha`, the positive root of the moment function
:math:`h(s) = \lim_k k^{-1}\log E\|M_k\cdots M_1\|^s`.

For isotropic Gaussian data rotational invariance reduces everything to two independent scalars:

.. math::

    \|M e_1\|^2 \overset{d}{=} (1 - cS)^2 + c^2 S Q,\qquad c = \eta\sigma^2/b,\quad
    S \sim \chi^2_b,\ Q \sim \chi^2_{d-1},

so :math:`h(s) = \log E[((1-cS)^2 + c^2SQ)^{s/2}]` and :math:`\rho = h'(0) = \tfrac12 E\log((1-cS)^2+c^2SQ)`
are two-dimensional integrals. This module evaluates them with a fixed, carefully graded product
Gauss-Legendre rule (see :func:`_build_rule`), so that one ``alpha`` costs a few milliseconds and is
accurate to about 1e-9 relative; the even moments :math:`E\|Me_1\|^{2k}` are exact polynomials in ``c``
(:func:`even_moment`) and serve as independent oracles (``alpha = 2k`` exactly where they equal 1).

Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb,
chapters/ch07_synthetic_experiment.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from hts_lib._deprecated import forward
from hts_lib.validation import check_int, check_positive, check_real

__all__ = [
    "ALPHA_MAX",
    "log_moment",
    "lyapunov_exponent",
    "tail_index",
    "CriticalStepSizes",
    "critical_step_sizes",
    "tail_index_grid",
    "lyapunov_exponent_grid",
    "even_moment",
    "even_moment_step_size",
]

#: Largest tail index reported as a number. Above it :func:`tail_index` returns ``inf``: the
#: quadrature is built and checked for orders ``s <= ALPHA_MAX + 2`` only, and for such large
#: ``alpha`` the stationary law is, for every practical purpose, light-tailed.
ALPHA_MAX = 50.0

# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _check_model(eta, batch_size, dim, sigma) -> tuple[float, int, int, float]:
    """Check the online SGD model: step size, batch size, dimension and data scale."""
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    return eta, b, d, sigma


# ----------------------------------------------------------------------------------------------
# The quadrature rule
# ----------------------------------------------------------------------------------------------
#
# Design (every choice below was checked against 30-digit mpmath quadrature and against a rule of
# twice the resolution, see tests/test_exact.py and benchmarks/bench_theory.py):
#
# * Outer variable S ~ chi2_b. Away from the kink S_k = 1/c we integrate in w = sqrt(S): the
#   chi-square density is smooth in w for every integer b (w^(b-1) exp(-w^2/2)) and its width in w
#   is about 0.7 whatever b (variance stabilisation), so panels of width 1 in w with 10
#   Gauss-Legendre nodes resolve it from b = 1 to b = 1000 ("scaled variables").
# * Around the kink S_k (where 1 - cS changes sign and, for d = 1, |1 - cS|^s is not smooth) we use
#   t = log|S - S_k| on each side, from |1 - cS| = 0.1 down to a depth that depends on d (1e-14 for
#   d = 1, where the singularity is strongest; after the Q-integration the singular part is only
#   |1 - cS|^(s + d - 1) for d >= 2). In t the integrand is a smooth exponential, so
#   Gauss-Legendre converges geometrically; panels are 2 wide for orders s <= 4 and 1 wide above
#   (the error of 10-point Gauss-Legendre on exp(a x) over [-1, 1] is ~1e-24 a^21). The w-panels
#   that meet the kink zone are graded (width <= their distance to the kink).
# * Inner variable Q ~ chi2_{d-1}, per outer node. For small d - 1 and S near the kink,
#   R = c^2 S (z + Q) with z = (1-cS)^2 / (c^2 S) small, and (z + Q)^(s/2) is not smooth at Q ~ z.
#   On [0, q1] with q1 <= z/4 it is analytic, and a Gauss-Jacobi rule carries the q^(d/2 - 3/2)
#   factor of the density exactly; log Q panels cover [q1, 1] (more of them as z -> 0, down to a
#   floor whose neglected contribution is below 1e-14); sqrt panels cover [1, Q_hi]. For large
#   d - 1 the lower quantile of Q is far from 0 and sqrt panels alone suffice.
# * Ranges come from chi-square quantiles at level 1e-22, tilted to cover the orders s <= s_top:
#   R^{s/2} grows at most like S^s and Q^{s/2}, i.e. shifts the shape of the gamma laws by s and s/2.
# * The weights are normalised to sum to one, so h(0) = 0 exactly, and h(s) is a log-sum of
#   w_i R_i^(s/2) (computed as log1p of sum w_i expm1(...) for precision near h = 0): an exactly
#   convex function of s, whose positive root is found by Newton's method from the right
#   (monotone for convex functions). Orders are grouped in tiers s_top = 4, 12, 52, chosen exactly
#   with the even-moment polynomials, so that each alpha needs one rule.

_EPS_RANGE = 1e-22  # probability left outside the integration ranges (before tilting)
_N_SQRT = 10  # Gauss-Legendre nodes per sqrt panel (width 1 in sqrt(S) or sqrt(Q))
_N_LOG = 10  # Gauss-Legendre nodes per log panel
_N_JAC = 8  # Gauss-Jacobi nodes for the innermost Q panel [0, q1]
_KINK_CAP = 0.1  # the kink zone covers |1 - cS| <= 0.1
_Q_LOG_TOP = 1.0  # log panels for Q below this value (small d only)
_PRUNE = 60.0  # nodes below exp(-60) of the total at s = 0 and at s = s_top are dropped
#: depth of the kink zone (smallest |1 - cS| reached by log panels) for d - 1 = 0, 1, 2, >= 3
_KINK_DEPTH = {0: 1e-14, 1: 1e-6, 2: 1e-4}
_KINK_DEPTH_DEFAULT = 1e-3


@lru_cache(maxsize=None)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


@lru_cache(maxsize=None)
def _gauss_jacobi_left(n: int, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights on [0, 1] for the weight x^beta (Gauss-Jacobi)."""
    x, w = special.roots_jacobi(n, 0.0, beta)
    return 0.5 * (1.0 + x), w * 0.5 ** (beta + 1.0)


def _gl_on_edges(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on consecutive panels given by ``edges``."""
    edges = np.asarray(edges, dtype=float)
    if edges.size < 2:
        return np.empty(0), np.empty(0)
    x, w = _gauss_legendre(n)
    mid = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * (edges[1:] - edges[:-1])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return nodes, weights


def _uniform_edges(a: float, b: float, width: float) -> np.ndarray:
    if b <= a:
        return np.array([a])
    m = max(1, int(math.ceil((b - a) / width - 1e-9)))
    return np.linspace(a, b, m + 1)


def _graded_edges_away(w0: float, w_end: float, wk: float, width: float) -> np.ndarray:
    """Return panel edges from ``w0`` to ``w_end``, each at most ``width`` and its distance to ``wk`` wide.

    The singular point ``wk`` lies on the side of ``w0``.
    """
    edges = [w0]
    sign = 1.0 if w_end >= w0 else -1.0
    cur = w0
    while sign * (w_end - cur) > 1e-12 * max(1.0, abs(w_end)):
        step = min(width, abs(cur - wk))
        nxt = cur + sign * step
        if sign * (w_end - nxt) < 0.25 * step:  # do not leave a sliver at the end
            nxt = w_end
        edges.append(nxt)
        cur = nxt
    return np.array(edges if sign > 0 else edges[::-1])


def _chi2_logpdf(x: np.ndarray, k: int) -> np.ndarray:
    a = 0.5 * k
    return special.xlogy(a - 1.0, x) - 0.5 * x - a * math.log(2.0) - special.gammaln(a)


def _chi2_lower_quantile(k: int, p: float) -> float:
    return 2.0 * float(special.gammaincinv(0.5 * k, p))


def _gamma_upper_quantile(shape: float, p: float) -> float:
    """Upper ``p``-quantile of Gamma(shape, scale 2) (chi-square with 2*shape degrees of freedom)."""
    return 2.0 * float(special.gammainccinv(shape, p))


def _logsumexp(z: np.ndarray) -> float:
    m = float(z.max())
    return m + math.log(float(np.exp(z - m).sum()))


@dataclass(frozen=True)
class _Rule:
    """Quadrature rule for E[f(R)]: normalised weights and log R at the nodes.

    ``h(s) = log sum_i w_i R_i^{s/2}``. Unless ``R^{s/2}`` could overflow we use the equivalent
    ``log1p(sum_i w_i expm1(s log R_i / 2))``, which keeps full relative precision when ``h`` is tiny
    (small ``alpha`` near the stability edge); otherwise a log-sum-exp. Both are exactly convex in
    ``s`` up to rounding. Reductions avoid BLAS so that they never spawn threads.
    """

    logw: np.ndarray
    w: np.ndarray
    logr: np.ndarray
    max_logr: float
    s_top: float
    n_nodes_full: int

    def h_dh(self, s: float) -> tuple[float, float]:
        half = 0.5 * s
        if half * self.max_logr <= 600.0:  # no overflow in expm1
            e = np.expm1(half * self.logr)
            we = self.w * e
            s1 = float(np.add.reduce(we))
            num = float(np.add.reduce((self.w + we) * self.logr))
            return math.log1p(s1), 0.5 * num / (1.0 + s1)
        z = self.logw + half * self.logr
        m = float(z.max())
        e = np.exp(z - m)
        tot = float(np.add.reduce(e))
        return m + math.log(tot), 0.5 * float(np.add.reduce(e * self.logr)) / tot

    def h(self, s: float) -> float:
        return self.h_dh(s)[0]

    def rho(self) -> float:
        return 0.5 * float(np.add.reduce(self.w * self.logr))


def _log_step(s_top: float) -> float:
    """Return the width of the log panels.

    The integrand grows like exp((s+1) t) there, so wide panels are only accurate for small orders (error
    of 10-point Gauss-Legendre on exp(a x) ~ 1e-24 a^21).
    """
    return 2.0 if s_top <= 4.0 else 1.0


def _s_rule(c: float, b: int, k: int, s_top: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return nodes S, log weights and u = 1 - cS for the outer variable.

    The log weights include the chi2_b density; u is computed without cancellation near the kink.
    """
    a = 0.5 * b
    s_hi = max(_gamma_upper_quantile(a + s_top, _EPS_RANGE), _gamma_upper_quantile(a, _EPS_RANGE))
    # Lower end: R^{s/2} <= exp(-c s S) for S < 1/c can tilt the mass towards 0 (rate 1/2 + c s).
    s_lo = _chi2_lower_quantile(b, _EPS_RANGE) / (1.0 + 2.0 * c * s_top)
    w_lo = math.sqrt(s_lo) if s_lo > 1.0 else 0.0
    w_hi = math.sqrt(s_hi)
    s_k = 1.0 / c
    w_k = math.sqrt(s_k)
    # Kink zone only if the kink is inside the range and R can get small there (small d).
    q_lo = _chi2_lower_quantile(k, _EPS_RANGE) if k > 0 else 0.0
    use_kink = (w_lo < w_k < w_hi) and q_lo < 16.0

    nodes_s, logws, us = [], [], []

    def add_sqrt(edges):
        w, gw = _gl_on_edges(edges, _N_SQRT)
        if w.size:
            s = w * w
            nodes_s.append(s)
            logws.append(np.log(gw * 2.0 * w))
            us.append(1.0 - c * s)

    if not use_kink:
        add_sqrt(_uniform_edges(w_lo, w_hi, 1.0))
    else:
        gap = _KINK_CAP * s_k  # |S - S_k| at the edge of the kink zone
        depth = _KINK_DEPTH.get(k, _KINK_DEPTH_DEFAULT)
        t_edges = _uniform_edges(math.log(depth * s_k), math.log(gap), _log_step(s_top))
        t, gt = _gl_on_edges(t_edges, _N_LOG)
        off = np.exp(t)  # |S - S_k|
        # innermost panel [0, depth * S_k] in the plain variable
        o2, g2 = _gl_on_edges(np.array([0.0, depth * s_k]), _N_LOG)
        off_all = np.concatenate([o2, off])
        lw_all = np.concatenate([np.log(g2), np.log(gt * off)])
        for sign in (-1.0, 1.0):  # left (S < S_k) and right (S > S_k) of the kink
            s = s_k + sign * off_all
            keep = s > 0
            nodes_s.append(s[keep])
            logws.append(lw_all[keep])
            us.append((-sign * c) * off_all[keep])  # 1 - cS = -c (S - S_k)
        w_left = math.sqrt(max(s_k - gap, 0.0))
        w_right = math.sqrt(s_k + gap)
        if w_left > w_lo:
            add_sqrt(_graded_edges_away(w_left, w_lo, w_k, 1.0))
        if w_hi > w_right:
            add_sqrt(_graded_edges_away(w_right, w_hi, w_k, 1.0))

    s = np.concatenate(nodes_s)
    lw = np.concatenate(logws) + _chi2_logpdf(s, b)
    u = np.concatenate(us)
    return s, lw, u


def _q_sqrt_part(k: int, q_a: float, q_hi: float, graded: bool) -> tuple[np.ndarray, np.ndarray]:
    if q_hi <= q_a:
        return np.empty(0), np.empty(0)
    wa, wb = math.sqrt(q_a), math.sqrt(q_hi)
    edges = _graded_edges_away(wa, wb, 0.0, 1.0) if graded else _uniform_edges(wa, wb, 1.0)
    w, gw = _gl_on_edges(edges, _N_SQRT)
    q = w * w
    return q, np.log(gw * 2.0 * w) + _chi2_logpdf(q, k)


def _q_jacobi_part(k: int, q1: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi rule for the chi2_k law restricted to [0, q1] (weight q^(k/2-1) built in)."""
    a = 0.5 * k
    x, w = _gauss_jacobi_left(_N_JAC, a - 1.0)
    q = q1 * x
    lw = np.log(w) + a * math.log(q1) - 0.5 * q - a * math.log(2.0) - float(special.gammaln(a))
    return q, lw


def _tensor(s, lws, u, q, lwq, c):
    logw = (lws[:, None] + lwq[None, :]).ravel()
    with np.errstate(divide="ignore"):
        logr = np.log((u * u)[:, None] + (c * c) * s[:, None] * q[None, :]).ravel()
    return logw, logr


@lru_cache(maxsize=64)
def _build_rule(c: float, b: int, d: int, s_top: float) -> _Rule:
    """Quadrature rule for E[g(R)], R = (1-cS)^2 + c^2 S Q, accurate for orders 0 <= s <= s_top.

    For small d the inner rule over Q depends on the outer node: (z + Q)^(s/2) with
    z = (1 - cS)^2 / (c^2 S) is smooth on [0, z/4], where a Gauss-Jacobi rule (exact for the
    q^(k/2 - 1) density factor) is used, and log panels cover [z/4, 1]; near the kink z -> 0 and
    the log panels go deeper (down to a floor whose neglected mass is below 1e-14).
    """
    k = d - 1
    s, lws, u = _s_rule(c, b, k, s_top)
    if k == 0:
        logw = lws
        with np.errstate(divide="ignore"):
            logr = 2.0 * np.log(np.abs(u))
    else:
        a = 0.5 * k
        q_hi = max(_gamma_upper_quantile(a + 0.5 * s_top, _EPS_RANGE), _gamma_upper_quantile(a, _EPS_RANGE))
        q_lo = _chi2_lower_quantile(k, _EPS_RANGE)
        if q_lo >= 16.0:  # Q is bounded away from 0: one shared sqrt rule
            q, lwq = _q_sqrt_part(k, q_lo, q_hi, graded=False)
            logw, logr = _tensor(s, lws, u, q, lwq, c)
        else:
            top = min(_Q_LOG_TOP, q_hi)
            dt = _log_step(s_top)
            q_floor = 1e-14 ** (2.0 / (1.0 + k))
            l_max = max(0, int(math.ceil(math.log(top / q_floor) / dt)))
            q_sh, lw_sh = _q_sqrt_part(k, top, q_hi, graded=True)
            t_edges = math.log(top) - dt * np.arange(l_max + 1)[::-1]
            t_nodes, t_w = _gl_on_edges(t_edges, _N_LOG)  # panels ordered from deep to top
            q_log = np.exp(t_nodes)
            lw_log = np.log(t_w * q_log) + _chi2_logpdf(q_log, k)
            with np.errstate(divide="ignore"):
                z = (u * u) / (c * c * s)
                lev = np.ceil(np.log(4.0 * top / np.maximum(z, 1e-300)) / dt)
            lev = np.clip(lev, 0, l_max).astype(int)
            parts_w, parts_r = [], []
            for level in np.unique(lev):
                sel = lev == level
                q1 = top * math.exp(-dt * level)
                qj, lwj = _q_jacobi_part(k, q1)
                n_keep = level * _N_LOG  # the `level` log panels just below `top`
                ql = q_log[q_log.size - n_keep :] if n_keep else q_log[:0]
                lwl = lw_log[lw_log.size - n_keep :] if n_keep else lw_log[:0]
                qq = np.concatenate([qj, ql, q_sh])
                lwq = np.concatenate([lwj, lwl, lw_sh])
                lw_, lr_ = _tensor(s[sel], lws[sel], u[sel], qq, lwq, c)
                parts_w.append(lw_)
                parts_r.append(lr_)
            logw = np.concatenate(parts_w)
            logr = np.concatenate(parts_r)
    n_full = logw.size
    logw = logw - _logsumexp(logw)
    # prune nodes that are negligible both at s = 0 and at s = s_top
    z_top = logw + 0.5 * s_top * logr
    keep = (logw > -_PRUNE) | (z_top > _logsumexp(z_top) - _PRUNE)
    logw, logr = logw[keep], logr[keep]
    logw = logw - _logsumexp(logw)
    w = np.exp(logw)
    w /= np.add.reduce(w)
    return _Rule(
        logw=np.ascontiguousarray(logw),
        w=w,
        logr=np.ascontiguousarray(logr),
        max_logr=float(logr.max()),
        s_top=float(s_top),
        n_nodes_full=int(n_full),
    )


_S_TIERS = (4.0, 12.0, ALPHA_MAX + 2.0)


def _tier(s: float) -> float:
    for t in _S_TIERS:
        if s <= t:
            return t
    return float(32.0 * math.ceil(s / 32.0) + 2.0)


def _rule_for(eta: float, b: int, d: int, sigma: float, s: float) -> _Rule:
    c = eta * sigma * sigma / b
    return _build_rule(c, b, d, _tier(s))


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def log_moment(s: float, eta: float, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Return the moment function ``h(s) = log E||M e_1||^s`` of online SGD with isotropic Gaussian data.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sigma : float
        Standard deviation of each input coordinate, ``a_i ~ N(0, sigma^2 I_d)``.

    Returns
    -------
    float
        ``h(s)``; ``h(0) = 0``, ``h`` is convex, and ``h(s) < 0`` exactly on ``(0, alpha)``.

    Raises
    ------
    ValueError
        If an argument is outside its range (the message names it).

    Notes
    -----
    With :math:`M = I - (\eta/b)\sum_{i\le b} a_i a_i^\top`, rotational invariance gives
    :math:`h(s) = \lim_k k^{-1}\log E\|M_k\cdots M_1\|^s = \log E\|Me_1\|^s` and

    .. math:: h(s) = \log E\big[((1 - cS)^2 + c^2 S Q)^{s/2}\big],\quad c = \eta\sigma^2/b,

    with independent :math:`S\sim\chi^2_b`, :math:`Q\sim\chi^2_{d-1}` (``Q = 0`` when ``d = 1``).
    The integral is evaluated by a graded product Gauss-Legendre rule split at the kink
    :math:`S = 1/c`; it agrees with 30-digit adaptive quadrature to about 1e-12 (see the tests).
    For even orders the closed form :func:`even_moment` applies, e.g.
    :math:`h(2) = \log(1 - 2\eta\sigma^2 + \eta^2\sigma^4 (d+b+1)/b)`.

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> round(log_moment(2.0, eta=0.1, batch_size=1, dim=10), 12)
    -0.083381608939
    >>> import math; round(math.log(1 - 2 * 0.1 + 0.01 * 12), 12)  # closed form of h(2)
    -0.083381608939
    """
    s = check_real("s", s, low=0.0)
    eta, b, d, sigma = _check_model(eta, batch_size, dim, sigma)
    if s == 0.0:
        return 0.0
    return _rule_for(eta, b, d, sigma, s).h(s)


def lyapunov_exponent(eta: float, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Top Lyapunov exponent ``rho = h'(0)`` of online SGD with isotropic Gaussian data.

    Parameters
    ----------
    eta, batch_size, dim, sigma
        As in :func:`log_moment`.

    Returns
    -------
    float
        :math:`\rho = \lim_k k^{-1}\log\|M_k\cdots M_1\|` (almost surely). ``rho < 0`` is the
        condition for a stationary law; for ``rho >= 0`` the iterates blow up.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    :math:`\rho = \tfrac12 E\log((1 - cS)^2 + c^2 S Q)` with the two scalars of
    :func:`log_moment`. For ``d = 1`` the integrand has a logarithmic singularity at
    ``S = 1/c``; the rule is graded geometrically towards it (down to ``|1 - cS| = 1e-14``).
    Accurate to about 1e-12 absolute.

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb,
    chapters/ch07_synthetic_experiment.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> round(lyapunov_exponent(0.1, 1, 10), 6)
    -0.046207
    >>> lyapunov_exponent(0.3, 1, 10) > 0   # beyond eta_max = 0.1799: no stationary law
    True
    """
    eta, b, d, sigma = _check_model(eta, batch_size, dim, sigma)
    return _rule_for(eta, b, d, sigma, 0.0).rho()


def _newton_root(rule: _Rule, s_hi: float, h_hi: float, dh_hi: float, tol: float = 1e-13) -> float:
    """Return the positive root of the (exactly convex) discrete h of ``rule``, by Newton from ``s_hi``.

    ``h > 0`` at ``s_hi``. For a convex function every Newton iterate from the right stays right of the root.
    """
    s, h, dh = s_hi, h_hi, dh_hi
    for _ in range(200):
        if dh <= 0.0:  # cannot happen right of the root of a convex h with h(0) = 0; be safe
            break
        step = h / dh
        s_new = s - step
        if step <= tol * s_new or h <= 0.0:
            return s_new if h > 0.0 else s
        s = s_new
        h, dh = rule.h_dh(s)
    # fall back on bracketing (never needed in the tests; kept for robustness)
    return optimize.brentq(rule.h, 1e-12 * s_hi, s_hi, xtol=1e-15, rtol=4e-16)


def tail_index(eta: float, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Tail index ``alpha`` of the stationary law of online SGD (isotropic Gaussian data).

    Parameters
    ----------
    eta, batch_size, dim, sigma
        As in :func:`log_moment`.

    Returns
    -------
    float
        The positive root of ``h(alpha) = 0``. Special values:

        * ``nan`` when ``rho >= 0``: there is no stationary law (the iterates diverge), so no
          tail index;
        * ``inf`` when ``alpha > ALPHA_MAX`` (= 50): reported as "larger than 50" rather than as
          an inaccurate number (the stationary law then has more than 50 finite moments).

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    ``h`` is convex with ``h(0) = 0`` and ``h'(0) = rho``, so for ``rho < 0`` its positive root is
    unique. We evaluate ``h`` with the quadrature of :func:`log_moment` (whose discrete
    version is itself exactly convex in ``s``), locate the sign change on the tiers
    ``s = 4, 12, 52`` and converge by Newton's method from the right (monotone for convex
    functions) to a relative step of 1e-13. The result depends on ``(eta sigma^2, b, d)`` only.
    Accuracy: relative error below 1e-9 against the exact even-moment points ``alpha = 2k``.

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb,
    chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> round(tail_index(0.1, 1, 10), 3)
    12.831
    >>> round(tail_index(2 * 5 / (10 + 5 + 1), 5, 10), 9)   # eta_crit: alpha = 2 exactly
    2.0
    >>> import math; math.isnan(tail_index(0.3, 1, 10)), tail_index(0.01, 1, 10)
    (True, inf)
    """
    eta, b, d, sigma = _check_model(eta, batch_size, dim, sigma)
    return _tail_index_c(eta * sigma * sigma / b, b, d)


def _tier_by_even_moments(c: float, b: int, d: int) -> float | None:
    """Return the smallest tier ``s_top`` in (4, 12, 52) with ``h(min(s_top, ALPHA_MAX)) > 0``.

    Decided exactly with the even-moment polynomials (``h(2k) > 0`` iff ``E||Me_1||^{2k} > 1``); ``None`` when
    ``h(ALPHA_MAX) <= 0``.
    """
    for s_top in _S_TIERS:
        k = int(round(min(s_top, ALPHA_MAX) / 2))
        if _poly_exceeds_one(_even_moment_coefficients(k, b, d), c):
            return s_top
    return None


def _tail_index_c(c: float, b: int, d: int) -> float:
    # If h(2k) <= 0 for some k >= 1, convexity and h(0) = 0 give h <= 0 on [0, 2k], hence
    # rho = h'(0) < 0 and alpha >= 2k: no quadrature is needed to decide these cases.
    s_top = _tier_by_even_moments(c, b, d)
    if s_top is None:  # h(ALPHA_MAX) <= 0: alpha >= ALPHA_MAX (and rho < 0)
        return math.inf
    rule = _build_rule(c, b, d, s_top)
    if s_top == _S_TIERS[0] and rule.rho() >= 0.0:
        return math.nan  # no stationary law
    s_eval = min(s_top, ALPHA_MAX)
    h, dh = rule.h_dh(s_eval)
    if h <= 0.0:  # exact h(s_eval) > 0 but within rounding of 0: the root is s_eval
        return s_eval
    return _newton_root(rule, s_eval, h, dh)


@dataclass(frozen=True)
class CriticalStepSizes:
    """The two step sizes that organise the tails of online SGD (fixed ``b``, ``d``, ``sigma``).

    Attributes
    ----------
    eta_crit : float
        ``alpha = 2`` here, closed form ``2 b / (sigma^2 (d + b + 1))``; for
        ``eta_crit < eta < eta_max`` the stationary law has infinite variance.
    eta_max : float
        ``rho = 0`` here (root finding); for ``eta >= eta_max`` there is no stationary law.
    """

    eta_crit: float
    eta_max: float

    @property
    def window(self) -> float:
        """Relative width ``eta_max / eta_crit - 1`` of the infinite-variance window."""
        return self.eta_max / self.eta_crit - 1.0


def critical_step_sizes(batch_size: int, dim: int, sigma: float = 1.0) -> CriticalStepSizes:
    r"""Critical step sizes ``eta_crit`` (``alpha = 2``) and ``eta_max`` (``rho = 0``).

    Parameters
    ----------
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sigma : float
        Input standard deviation, ``sigma > 0``.

    Returns
    -------
    CriticalStepSizes

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    :math:`E\|Me_1\|^2 = 1 - 2\eta\sigma^2 + \eta^2\sigma^4(d+b+1)/b`, which equals 1 at
    :math:`\eta_{crit} = 2b/(\sigma^2(d+b+1))`. ``eta_max`` solves :math:`\rho(\eta) = 0` by Brent's
    method on a bracket ``[eta_crit, 2^j eta_crit]`` (``rho(eta_crit) < 0`` because ``alpha = 2 > 0``
    there), to 1e-13 relative.

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb,
    chapters/ch07_synthetic_experiment.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> cs = critical_step_sizes(5, 100)
    >>> round(cs.eta_crit, 5), round(cs.eta_max, 5)
    (0.09434, 0.09458)
    """
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    s2 = sigma * sigma
    eta_crit = 2.0 * b / (s2 * (d + b + 1))

    def rho(eta):
        return _build_rule(eta * s2 / b, b, d, _S_TIERS[0]).rho()

    lo, hi = eta_crit, 2.0 * eta_crit
    while rho(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
    eta_max = optimize.brentq(rho, lo, hi, xtol=1e-15, rtol=1e-13)
    return CriticalStepSizes(eta_crit=eta_crit, eta_max=float(eta_max))


# ----------------------------------------------------------------------------------------------
# Exact even moments (polynomials in c)
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _even_moment_coefficients(k: int, b: int, d: int) -> tuple[int, ...]:
    """Integer coefficients ``a_n`` of ``E||M e_1||^{2k} = sum_n a_n c^n`` (``n = 0..2k``).

    Expands ((1 - cS)^2 + c^2 S Q)^k = sum_j C(k,j) c^{2j} S^j Q^j sum_m C(2k-2j, m) (-cS)^m and uses
    E S^n = b (b+2) ... (b+2n-2) for S ~ chi2_b and E Q^j = (d-1)(d+1) ... (d+2j-3) for Q ~ chi2_{d-1}.
    """
    es = [1]
    for n in range(2 * k):
        es.append(es[-1] * (b + 2 * n))
    eq = [1]
    for j in range(k):
        eq.append(eq[-1] * (d - 1 + 2 * j))
    coef = [0] * (2 * k + 1)
    for j in range(k + 1):
        cj = math.comb(k, j) * eq[j]
        if cj == 0:
            continue
        for m in range(2 * (k - j) + 1):
            term = cj * math.comb(2 * (k - j), m) * es[j + m]
            coef[2 * j + m] += -term if m % 2 else term
    return tuple(coef)


def _poly_num_den(coef: tuple[int, ...], c: float) -> tuple[int, int]:
    """``P(c) = num / den`` exactly, in integers (``c`` is a dyadic rational ``p / q``)."""
    p, q = float(c).as_integer_ratio()
    num, qpow = 0, 1
    for a in reversed(coef):  # Horner on P(p/q) * q^K
        num = num * p + a * qpow
        qpow *= q
    return num, qpow // q


def _poly_value(coef: tuple[int, ...], c: float) -> float:
    num, den = _poly_num_den(coef, c)
    return num / den  # int / int is correctly rounded in Python


def _poly_exceeds_one(coef: tuple[int, ...], c: float) -> bool:
    num, den = _poly_num_den(coef, c)
    return num > den


def even_moment(k: int, eta: float, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Exact even moment ``E||M e_1||^{2k}`` as a polynomial in ``c = eta sigma^2 / b``.

    Parameters
    ----------
    k : int
        Half the order, ``k >= 0`` (the moment of order ``2k``).
    eta, batch_size, dim, sigma
        As in :func:`log_moment`.

    Returns
    -------
    float
        :math:`E[((1-cS)^2 + c^2SQ)^k] = e^{h(2k)}`, evaluated in exact rational arithmetic at the
        floating-point value of ``c`` and rounded once.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    Expanding the binomials and using the chi-square moments
    :math:`E S^n = b(b+2)\cdots(b+2n-2)`, :math:`E Q^j = (d-1)(d+1)\cdots(d+2j-3)`:

    .. math:: E\|Me_1\|^{2k} = \sum_{j=0}^{k}\sum_{m=0}^{2k-2j}\binom{k}{j}\binom{2k-2j}{m}(-1)^m
              c^{2j+m}\, E S^{j+m}\, E Q^j .

    For ``k = 1`` this is :math:`1 - 2\eta\sigma^2 + \eta^2\sigma^4 (d+b+1)/b`. Since ``h`` is
    convex with ``h(0) = 0``, ``alpha = 2k`` exactly where this moment equals 1 (and ``rho < 0``):
    independent oracles for :func:`tail_index` (see :func:`even_moment_step_size`).

    Used in: the answer check of chapters/ch05_sgd_as_random_recursion.ipynb (its exercise on even moments).

    Examples
    --------
    >>> even_moment(1, 0.1, 1, 10)     # 1 - 0.2 + 0.01 * 12
    0.92
    >>> round(even_moment(2, 0.1, 1, 10), 12)   # alpha > 4 here since this is < 1
    0.8592
    """
    k = check_int("k", k, low=0)
    eta, b, d, sigma = _check_model(eta, batch_size, dim, sigma)
    return _poly_value(_even_moment_coefficients(k, b, d), eta * sigma * sigma / b)


def even_moment_step_size(k: int, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Return the step size at which ``alpha = 2k`` exactly: the positive root of ``E||M e_1||^{2k} = 1``.

    Parameters
    ----------
    k : int
        ``k >= 1``; ``k = 1`` gives ``eta_crit = 2b / (sigma^2 (d + b + 1))``.
    batch_size, dim, sigma
        As in :func:`log_moment`.

    Returns
    -------
    float
        ``eta`` with ``even_moment(k, eta, ...) = 1``, to about 1e-15 relative.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    :math:`P(c) = E\|Me_1\|^{2k}` is a convex polynomial in ``c`` with ``P(0) = 1`` and
    ``P'(0) = -2kb < 0``, so ``(P(c) - 1)/c`` has exactly one positive root. It is bracketed by
    doubling and refined with Brent's method on the exactly evaluated polynomial. At that step size
    ``h(2k) = 0`` and ``h < 0`` on ``(0, 2k)``, so ``alpha = 2k`` (and ``rho < 0``).

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> round(even_moment_step_size(1, 1, 10), 12) == round(2 / 12, 12)
    True
    >>> round(even_moment_step_size(2, 1, 10), 6)   # alpha = 4 at this step size
    0.153562
    """
    k = check_int("k", k, low=1)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    coef = _even_moment_coefficients(k, b, d)
    g_coef = coef[1:]  # (P(c) - 1) / c

    def g(c: float) -> float:
        return _poly_value(g_coef, c)

    hi = 1.0 / b
    while g(hi) <= 0.0:
        hi *= 2.0
    c_root = optimize.brentq(g, 0.0, hi, xtol=1e-300, rtol=8.9e-16, maxiter=500)
    return c_root * b / (sigma * sigma)


# ----------------------------------------------------------------------------------------------
# Vectorised forms for phase diagrams
# ----------------------------------------------------------------------------------------------


def _real_array(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold real numbers, got {type(value).__name__}") from None


def _broadcast_model(eta, batch_size, dim, sigma):
    eta_a = _real_array("eta", eta)
    sig_a = _real_array("sigma", sigma)
    b_a = np.asarray(batch_size)
    d_a = np.asarray(dim)
    for name, arr in (("eta", eta_a), ("sigma", sig_a)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
        if np.any(arr <= 0):
            raise ValueError(f"{name} must be > 0 everywhere, got min {arr.min()!r}")
    for name, arr in (("batch_size", b_a), ("dim", d_a)):
        if arr.dtype.kind not in "iuf" or arr.dtype == bool:
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        arr_f = arr.astype(float)
        if not np.all(np.isfinite(arr_f)) or np.any(arr_f != np.round(arr_f)):
            raise ValueError(f"{name} must hold whole numbers")
        if np.any(arr_f < 1):
            raise ValueError(f"{name} must be an integer >= 1 everywhere, got min {arr_f.min()!r}")
    eta_b, b_b, d_b, sig_b = np.broadcast_arrays(eta_a, b_a.astype(np.int64), d_a.astype(np.int64), sig_a)
    return eta_b, b_b, d_b, sig_b


def _alpha_chunk(cs, bs, ds):
    return [_tail_index_c(float(c), int(b), int(d)) for c, b, d in zip(cs, bs, ds)]


def _rho_chunk(cs, bs, ds):
    return [_build_rule(float(c), int(b), int(d), _S_TIERS[0]).rho() for c, b, d in zip(cs, bs, ds)]


def _grid_map(func, eta, batch_size, dim, sigma, n_jobs):
    n_jobs = check_int("n_jobs", n_jobs, low=1)
    eta_b, b_b, d_b, sig_b = _broadcast_model(eta, batch_size, dim, sigma)
    shape = eta_b.shape
    c = (eta_b * sig_b * sig_b / b_b).ravel()
    bs, ds = b_b.ravel(), d_b.ravel()
    if c.size == 0:
        return np.empty(shape)
    if n_jobs == 1 or c.size < 8:
        out = func(c, bs, ds)
    else:
        from joblib import Parallel, delayed

        chunks = np.array_split(np.arange(c.size), min(c.size, 4 * n_jobs))
        parts = Parallel(n_jobs=n_jobs)(delayed(func)(c[ix], bs[ix], ds[ix]) for ix in chunks)
        out = [v for p in parts for v in p]
    return np.asarray(out, dtype=float).reshape(shape)


def tail_index_grid(eta, batch_size, dim, sigma=1.0, n_jobs: int = 1) -> np.ndarray:
    r""":func:`tail_index` over a broadcast grid of parameters (for phase diagrams).

    Parameters
    ----------
    eta, batch_size, dim, sigma : array_like
        Broadcast together with numpy rules, e.g. ``eta=etas[None, :]`` and
        ``batch_size=bs[:, None]`` give a ``(len(bs), len(etas))`` phase diagram.
    n_jobs : int
        Number of processes (joblib); 1 runs in this process.

    Returns
    -------
    numpy.ndarray
        ``alpha`` with the broadcast shape, with the conventions of :func:`tail_index`
        (``nan`` where ``rho >= 0``, ``inf`` where ``alpha > ALPHA_MAX``).

    Raises
    ------
    ValueError
        If any entry is outside its range (the message names the argument).

    Notes
    -----
    Each entry costs about a millisecond on one core; the work is split in chunks over
    ``n_jobs`` processes. Results do not depend on ``n_jobs``.

    Used in: chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> a = tail_index_grid([0.1, 0.15, 0.2], batch_size=[[1], [5]], dim=10)
    >>> a.shape
    (2, 3)
    >>> np.round(a, 2)
    array([[12.83,  4.54,   nan],
           [  inf, 48.53, 33.88]])
    """
    return _grid_map(_alpha_chunk, eta, batch_size, dim, sigma, n_jobs)


def lyapunov_exponent_grid(eta, batch_size, dim, sigma=1.0, n_jobs: int = 1) -> np.ndarray:
    """:func:`lyapunov_exponent` over a broadcast grid of parameters (see :func:`tail_index_grid`).

    Examples
    --------
    >>> np.round(lyapunov_exponent_grid([0.1, 0.2], 1, 10), 4)
    array([-0.0462,  0.018 ])
    """
    return _grid_map(_rho_chunk, eta, batch_size, dim, sigma, n_jobs)


__getattr__ = forward(__name__)
