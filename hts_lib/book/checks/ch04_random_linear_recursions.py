"""Checks for the coding exercises of the chapter "Random linear recursions"."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from hts_lib.recursion import gaussian_sampler, lyapunov_exponent_mc, second_moment_spectral_radius

from . import Case, _reference_cases, register

N_STEPS = 40_000  # steps given to the student's estimator in every case


def _lyapunov_reference(sample_m, n_steps: int, seed: int) -> float:
    mats = sample_m(np.random.default_rng(seed), n_steps)
    v = np.zeros(mats.shape[1])
    v[0] = 1.0
    total = 0.0
    for m in mats:
        v = m @ v
        nv = math.sqrt(float(v @ v))
        total += math.log(nv)
        v /= nv
    return total / n_steps


def _gaussian_matrices(tau: float, d: int):
    def sample_m(rng, n):
        return rng.normal(0.0, tau, size=(n, d, d))

    return sample_m


def _uniform_scalars(rng, n):
    return rng.uniform(0.0, 2.0, size=(n, 1, 1))


def _sgd_matrices(eta: float, cov):
    sd = np.sqrt(np.asarray(cov, dtype=float))

    def sample_m(rng, n):
        a = rng.standard_normal((n, sd.size)) * sd
        return np.eye(sd.size) - eta * a[:, :, None] * a[:, None, :]

    return sample_m


@register("ch04-lyapunov", "Top Lyapunov exponent by renormalised products", reference=_lyapunov_reference)
def _cases_lyapunov():
    cases = []
    for tau, d in [(0.6, 2), (1.2, 3)]:
        # Rotational invariance: the increments log||G v|| are i.i.d. with law log(tau) + log(chi2_d)/2, so
        # rho is exact and the standard error of a 40,000-step average is sqrt(psi'(d/2)/4 / n) exactly.
        rho = math.log(tau) + 0.5 * (math.log(2.0) + special.digamma(d / 2))
        se = math.sqrt(special.polygamma(1, d / 2) / 4 / N_STEPS)
        cases.append(
            Case(
                f"i.i.d. N(0, {tau}^2) entries, d={d}",
                args=(_gaussian_matrices(tau, d), N_STEPS, 11),
                expected=rho,
                rtol=0.0,
                atol=5 * se,
                reason="5 exact standard errors of an average of i.i.d. increments",
            )
        )
    # 1 x 1 matrices A ~ U(0, 2): rho = log 2 - 1, increments log A i.i.d. with variance 1.
    cases.append(
        Case(
            "1 x 1 matrices, A ~ U(0, 2)",
            args=(_uniform_scalars, N_STEPS, 12),
            expected=math.log(2.0) - 1.0,
            rtol=0.0,
            atol=5 / math.sqrt(N_STEPS),
            reason="5 exact standard errors (Var log A = 1)",
        )
    )
    # The chapter's 2 x 2 SGD law: reference value from the library's estimator (16 x 20,000 steps) with its
    # batch-means standard error; the student's 40,000-step average has about sqrt(8) times that error.
    ref = lyapunov_exponent_mc(0.7, 1, 2, gaussian_sampler([1.0, 0.25]), seed=2024)
    tol = 5 * ref.stderr * math.sqrt(1 + 320_000 / N_STEPS)
    cases.append(
        Case(
            "2 x 2 SGD matrices, eta=0.7, cov=diag(1, 1/4)",
            args=(_sgd_matrices(0.7, [1.0, 0.25]), N_STEPS, 13),
            expected=ref.value,
            rtol=0.0,
            atol=tol,
            reason="5 combined standard errors (library reference and a 40,000-step average)",
        )
    )
    return cases


def _kron_reference(eta: float, cov) -> float:
    return math.log(second_moment_spectral_radius(eta, 1, np.asarray(cov, dtype=float)))


@register(
    "ch04-kron", "h(2) as the log spectral radius of E[M (x) M] for Gaussian data", reference=_kron_reference
)
def _cases_kron():
    covs = [
        (0.7, np.diag([1.0, 0.25])),
        (0.6, np.diag([1.0, 0.25])),
        (0.3, np.array([[1.0, 0.3], [0.3, 0.5]])),
        (0.1, np.eye(3)),
        (0.4, np.array([[2.0, -0.5, 0.1], [-0.5, 1.0, 0.2], [0.1, 0.2, 0.3]])),
    ]
    # Deterministic: a 4 x 4 (or 9 x 9) eigenvalue problem against the library's reduced closed form;
    # eigenvalue solvers agree to about 1e-13, so 1e-9 relative (plus 1e-12 absolute) is rounding only.
    return _reference_cases(
        _kron_reference,
        [(f"eta={eta}, cov={np.round(c, 2).tolist()}", (eta, c)) for eta, c in covs],
        rtol=1e-9,
        atol=1e-12,
        reason="closed form: only floating-point rounding",
    )
