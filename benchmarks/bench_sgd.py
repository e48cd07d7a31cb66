"""Speed of the SGD chain simulator against the authors' per-chain loop, and against memory bandwidth.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sgd.py            (about 5 minutes)
      OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sgd.py --no-grid  (about 1 minute)

Targets (issue "hts_lib.simulate.sgd: a fast, honest simulator of many SGD chains"):
* on the authors' workload (n = 10^4, d = 100, b = 5, offline SGD with batches without replacement), time per
  chain-step at least 100x below a straightforward per-chain loop written like the authors' code
  (for each chain, for each step: ``rng.permutation(n)[:b]``, gradient, update), both run in this process;
* the full 7 x 10 grid of the authors' protocol (b in {1,2,3,4,5,10,20}, eta in linspace(0.02, 0.2, 10),
  1600 runs, K = 1000) in under 5 minutes on 2 cores;
* chain-steps per second reported next to what memory bandwidth allows: each chain-step must gather b rows of
  X (8 b d bytes); the bound is (bandwidth) / (8 b d), with the bandwidth of the machine measured here twice:
  streaming (a large ``np.copyto``/sum, the DRAM figure) and gathering random rows of the 8 MB matrix X (the
  access pattern itself; X fits in a 32 MB L3, so this is the tighter, relevant bound).

Writes ``benchmarks/results/bench_sgd.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import best_of, write_result  # noqa: E402

from hts_lib.simulate.sgd import _draw_indices, simulate_offline, simulate_online  # noqa: E402
from hts_lib.simulate.synthetic import PAPER_BATCH_SIZES, PAPER_ETAS, authors_protocol, make_regression_data  # noqa: E402


def authors_loop(A, Y, eta, b, n_chains, K, rng):
    """Baseline written like the authors' ``sgd_linreg``: one chain at a time, a permutation per step."""
    n, d = A.shape
    out = np.empty((n_chains, d))
    for c in range(n_chains):
        x_cur = 5 * rng.standard_normal(d)
        for _k in range(1, K):
            S_k = rng.permutation(n)[:b]
            A_k = A[S_k, :]
            y_k = Y[S_k]
            grad = (A_k.T @ (A_k @ x_cur) - A_k.T @ y_k) / b
            x_cur = x_cur - eta * grad
        out[c] = x_cur
    return out


def bandwidths(X: np.ndarray) -> dict:
    """Streaming bandwidth (copy and sum of 256 MB) and row-gather bandwidth from X (GB/s)."""
    big = np.ones(32 * 2**20)  # 256 MB, far beyond any cache
    dst = np.empty_like(big)
    t_copy = best_of(lambda: np.copyto(dst, big), 5)
    t_sum = best_of(lambda: big.sum(), 5)
    rng = np.random.default_rng(0)
    rows = 20_000
    idx = rng.integers(0, X.shape[0], rows)
    buf = np.empty((rows, X.shape[1]))
    t_gather = best_of(lambda: np.take(X, idx, axis=0, out=buf), 20)
    return dict(
        copy=2 * big.nbytes / t_copy / 1e9,  # read + write
        sum=big.nbytes / t_sum / 1e9,
        gather=rows * X.shape[1] * 8 / t_gather / 1e9,
    )


def sampler_costs(n: int, b: int, c: int) -> dict:
    """Microseconds per batch of b distinct indices out of n, four ways."""
    rng = np.random.default_rng(1)
    reps = 20
    out = {}
    out["rejection (library)"] = best_of(
        lambda: [_draw_indices(rng, n, b, c, False) for _ in range(reps)]
    ) / (reps * c)
    out["argpartition of random keys"] = best_of(
        lambda: [np.argpartition(rng.random((c, n)), b - 1, axis=1)[:, :b] for _ in range(2)]
    ) / (2 * c)
    out["rng.choice per chain"] = best_of(lambda: [rng.choice(n, b, replace=False) for _ in range(c)]) / c
    out["rng.permutation per chain (authors)"] = best_of(
        lambda: [rng.permutation(n)[:b] for _ in range(c // 4)]
    ) / (c // 4)
    return {k: v * 1e6 for k, v in out.items()}


def row(metric, value, unit, baseline, target, ok):
    ratio = None if baseline in (None, 0) else value / baseline
    return dict(metric=metric, value=value, unit=unit, baseline=baseline, ratio=ratio, target=target, ok=ok)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-grid", action="store_true", help="skip the full 7 x 10 grid (about 3-4 minutes)")
    args = ap.parse_args(argv)

    n, d, b, eta = 10_000, 100, 5, 0.1
    X, y, _ = make_regression_data(n, d, seed=0)
    rows = []

    # -- 1. the authors' workload: per chain-step time, vectorised vs their loop ---------------------------
    rng = np.random.default_rng(2)
    n_base, k_base = 8, 101
    t_base = best_of(lambda: authors_loop(X, y, eta, b, n_base, k_base, rng), 3) / (n_base * (k_base - 1))
    n_vec, k_vec = 1600, 200
    t_vec = best_of(
        lambda: simulate_offline(
            X,
            y,
            eta,
            b,
            n_chains=n_vec,
            n_steps=k_vec,
            burn_in=k_vec // 2,
            seed=0,
            x0=np.zeros(d),
            init_scale=5.0,
        ),
        3,
    ) / (n_vec * k_vec)
    speedup = t_base / t_vec
    rows.append(
        row(
            "time per chain-step, offline SGD n=1e4 d=100 b=5 (1600 chains, 200 steps) vs the authors' "
            "per-chain loop",
            t_vec * 1e6,
            "us",
            t_base * 1e6,
            "ratio <= 0.01 (>= 100x faster)",
            speedup >= 100,
        )
    )
    rows.append(
        row("speed-up over the authors' per-chain loop", speedup, "x", None, ">= 100", speedup >= 100)
    )

    # -- 2. bandwidth bound ----------------------------------------------------------------------------------
    bw = bandwidths(X)
    bytes_per_step = 8 * b * d
    rate = 1.0 / t_vec
    for name in ("gather", "copy"):
        bound = bw[name] * 1e9 / bytes_per_step
        rows.append(
            row(
                f"chain-steps per second vs {name}-bandwidth bound ({bw[name]:.1f} GB/s / "
                f"{bytes_per_step} B per chain-step)",
                rate,
                "chain-steps/s",
                bound,
                "report",
                None,
            )
        )
    for bb in (1, 20):
        t_bb = best_of(
            lambda: simulate_offline(
                X,
                y,
                0.02,
                bb,
                n_chains=n_vec,
                n_steps=100,
                burn_in=50,
                seed=0,
                x0=np.zeros(d),
                init_scale=5.0,
            ),
            2,
        ) / (n_vec * 100)
        bound = bw["gather"] * 1e9 / (8 * bb * d)
        rows.append(
            row(
                f"chain-steps per second, b={bb}, vs gather-bandwidth bound",
                1.0 / t_bb,
                "chain-steps/s",
                bound,
                "report",
                None,
            )
        )

    # -- 3. batch samplers -----------------------------------------------------------------------------------
    costs = sampler_costs(n, b, 256)
    base = costs["rng.permutation per chain (authors)"]
    for name, us in costs.items():
        rows.append(row(f"one batch of {b} distinct indices of {n}: {name}", us, "us", base, "report", None))

    # -- 4. online SGD: full batches vs the projected sampler (same law) -------------------------------------
    for method in ("full", "projected"):
        t_on = best_of(
            lambda: simulate_online(
                0.02, 5, 100, n_chains=1600, n_steps=100, burn_in=50, seed=0, method=method
            ),
            2,
        ) / (1600 * 100)
        rows.append(
            row(
                f"online SGD d=100 b=5, method={method}: time per chain-step",
                t_on * 1e6,
                "us",
                t_base * 1e6,
                "report",
                None,
            )
        )

    # -- 5. the full grid of the authors' protocol -----------------------------------------------------------
    if not args.no_grid:
        t0 = time.perf_counter()
        table = authors_protocol(PAPER_ETAS, PAPER_BATCH_SIZES, n_jobs=2, progress=False, seed=0)
        t_grid = time.perf_counter() - t0
        cells = table.alpha_hat.size
        chain_steps = cells * 1600 * 999
        # the baseline is extrapolated from its measured per chain-step time (running it would take hours)
        rows.append(
            row(
                f"full authors' grid ({cells} cells x 1600 runs x 999 updates, n_jobs=2), wall time; "
                "baseline extrapolated from the per-chain loop on 1 core",
                t_grid,
                "s",
                chain_steps * t_base,
                "< 300 s",
                t_grid < 300,
            )
        )
        # On a shared machine the wall time includes waiting for the CPU; the workers' CPU time does not.
        cpu = float(np.sum(table.cpu_time_s))
        rows.append(
            row(
                "full authors' grid: CPU seconds of the two workers / 2 (wall time on 2 idle cores)",
                cpu / 2,
                "s",
                chain_steps * t_base / 2,
                "< 300 s",
                cpu / 2 < 300,
            )
        )
        rows.append(
            row(
                "full authors' grid: chain-steps per CPU second",
                chain_steps / cpu,
                "chain-steps/s",
                1.0 / t_base,
                "report",
                None,
            )
        )

    out = write_result("bench_sgd", rows)

    print(f"{'metric':<100} {'value':>12} {'unit':<14} {'baseline':>12} {'ratio':>9} {'target':<30} ok")
    for r in rows:
        base_s = "" if r["baseline"] is None else f"{r['baseline']:.4g}"
        ratio_s = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
        ok_s = {True: "PASS", False: "FAIL", None: ""}[r["ok"]]
        print(
            f"{r['metric'][:100]:<100} {r['value']:>12.4g} {r['unit']:<14} {base_s:>12} {ratio_s:>9} "
            f"{r['target']:<30} {ok_s}"
        )
    print(
        f"bandwidth: copy {bw['copy']:.1f} GB/s, sum {bw['sum']:.1f} GB/s, "
        f"row gather from X {bw['gather']:.1f} GB/s"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
