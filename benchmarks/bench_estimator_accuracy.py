"""Accuracy and interval coverage of the tail-index estimators on laws with a known tail index.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_estimator_accuracy.py
      (about 10 minutes on one core; ``--reps-scale 0.2`` for a quick look)

For every law and sample size N it draws independent samples and records, for each method, the
median relative error |alpha_hat - alpha| / alpha, the coverage of the 90 % interval (with its Monte
Carlo standard error sqrt(p(1-p)/R)) and the median k. Methods:

* ``hill``: :func:`hts_lib.tails.estimators.hill` with its defaults (plug-in k, undersmoothed interval);
* ``hill_sqrtN``: the baseline, Hill at fixed k = floor(sqrt(N)) with the exact Gamma interval at that k;
* ``hill_boot``: ``hill(ci="bootstrap")`` (200 resamples, k re-selected), on fewer replicates;
* ``powerlaw_mle``: :func:`hts_lib.tails.estimators.powerlaw_mle` (KS-optimal x_min, Gamma interval);
* ``powerlaw_pkg``: the ``powerlaw`` package (2.0), ``powerlaw.Fit(x, verbose=False)``, tail index
  ``alpha_pdf - 1``. Its default parameter range ``alpha_pdf in [0, 3]`` caps the tail index at 2, and
  its exhaustive x_min search is quadratic (measured: 0.3 s at N = 1e3 for alpha = 1, 6 s when the fit
  runs into the cap, 3.6 s at 1e4, 663 s at 1e5), so by default it runs on the first 10 replicates at
  N = 1e3 only (``--peer-max-n`` to change);
* ``alpha_stable``: :func:`hts_lib.tails.estimators.alpha_stable` (point estimate on every law; interval
  coverage on the stable laws at N <= 1e4).

Writes ``benchmarks/results/estimator_accuracy.md`` and ``benchmarks/results/estimator_accuracy.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hts_lib.recursion.kesten import sgd1d_tail_index, simulate_sgd1d  # noqa: E402
from hts_lib.tails.distributions import sample_pareto, sample_symmetric_stable  # noqa: E402
from hts_lib.tails.estimators import alpha_stable, hill, powerlaw_mle  # noqa: E402

LEVEL = 0.9
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Law:
    name: str
    alpha: float
    sample: Callable[[int, np.random.Generator], np.ndarray]
    second_order: str  # rho of the second-order model, for reading the table
    stable: bool = False
    slow: bool = False  # expensive sampler: fewer replicates


def _burr(alpha: float, rho: float):
    """Burr XII, P(X > x) = (1 + x^c)^(-kk), alpha = c kk, rho = -1/kk."""
    kk = -1.0 / rho
    c = alpha / kk
    return lambda n, r: ((1.0 - r.random(n)) ** (-1.0 / kk) - 1.0) ** (1.0 / c)


def _kesten(eta: float):
    # online SGD on 1-D linear regression started at the solution; 200 steps: the Lyapunov exponent is
    # about -0.4 for these step sizes, so the start is forgotten to exp(-80)
    return lambda n, r: simulate_sgd1d(eta, n_chains=n, n_steps=200, seed=r)


def make_laws() -> list[Law]:
    laws = [
        Law(f"Pareto a={a:g}", a, (lambda a: lambda n, r: sample_pareto(a, n, r))(a), "-inf (exact)")
        for a in (1.0, 3.0)
    ]
    laws += [
        Law(f"Lomax a={a:g}", a, (lambda a: lambda n, r: r.pareto(a, n))(a), f"{-1 / a:.2f}")
        for a in (1.0, 2.0, 3.0)
    ]
    laws += [
        Law(f"Student-t nu={v:g}", v, (lambda v: lambda n, r: r.standard_t(v, n))(v), f"{-2 / v:.2f}")
        for v in (1.0, 2.0, 3.0, 4.0)
    ]
    laws += [
        Law(f"Burr a={a:g} rho={rho:g}", a, _burr(a, rho), f"{rho:.2f}")
        for a, rho in ((1.0, -0.5), (2.0, -1.0))
    ]
    laws += [
        Law(
            f"SaS a={a:g}", a, (lambda a: lambda n, r: sample_symmetric_stable(a, n, r))(a), "-1", stable=True
        )
        for a in (0.8, 1.2, 1.5, 1.8)
    ]
    for eta in (1.0, 0.5):
        laws.append(Law(f"Kesten SGD eta={eta:g}", sgd1d_tail_index(eta), _kesten(eta), "?", slow=True))
    return laws


def _powerlaw_pkg(x: np.ndarray) -> float:
    import powerlaw  # the peer baseline; imported lazily (slow import)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(np.abs(x), verbose=False)
        return float(fit.power_law.alpha) - 1.0  # fit.power_law is computed lazily: keep it inside


def _hill_sqrt(x: np.ndarray):
    return hill(x, k=int(math.sqrt(x.size)), ci="gamma", level=LEVEL)


def run(
    reps: dict[int, int],
    boot_reps: dict[int, int],
    peer_reps: dict[int, int],
    stable_ci_reps: dict[int, int],
    seed: int,
    kesten_scale: float,
) -> dict:
    laws = make_laws()
    rng = np.random.default_rng(seed)
    cells = []
    gauss = []
    t_start = time.perf_counter()
    for n_samples, r_main in reps.items():
        for law in laws + [Law("Gaussian (control)", math.inf, lambda n, r: r.standard_normal(n), "light")]:
            r_law = max(5, int(round(r_main * (kesten_scale if law.slow else 1.0))))
            rec: dict[str, list] = {
                m: []
                for m in ("hill", "hill_sqrtN", "hill_boot", "powerlaw_mle", "powerlaw_pkg", "alpha_stable")
            }
            t0 = time.perf_counter()
            for rep in range(r_law):
                x = law.sample(n_samples, rng)
                e = hill(x, level=LEVEL)
                rec["hill"].append((e.alpha, e.covers(law.alpha), e.k, "light_tailed" in e.flags))
                e = _hill_sqrt(x)
                rec["hill_sqrtN"].append((e.alpha, e.covers(law.alpha), e.k, "light_tailed" in e.flags))
                e = powerlaw_mle(x, level=LEVEL)
                rec["powerlaw_mle"].append((e.alpha, e.covers(law.alpha), e.k, "light_tailed" in e.flags))
                with_ci = law.stable and rep < stable_ci_reps.get(n_samples, 0)
                e = alpha_stable(x, level=LEVEL, ci="bootstrap" if with_ci else "none", seed=rng)
                rec["alpha_stable"].append(
                    (e.alpha, e.covers(law.alpha) if with_ci else None, None, "at_ceiling" in e.flags)
                )
                if rep < boot_reps.get(n_samples, 0):
                    e = hill(x, level=LEVEL, ci="bootstrap", seed=rng)
                    rec["hill_boot"].append((e.alpha, e.covers(law.alpha), e.k, "light_tailed" in e.flags))
                if rep < peer_reps.get(n_samples, 0):
                    a = _powerlaw_pkg(x)
                    rec["powerlaw_pkg"].append((a, None, None, False))
            dt = time.perf_counter() - t0
            for method, rows in rec.items():
                if not rows:
                    continue
                est = np.array([r[0] for r in rows], dtype=float)
                cov = [r[1] for r in rows if r[1] is not None]
                ks = [r[2] for r in rows if r[2] is not None]
                flag = float(np.mean([r[3] for r in rows]))
                cell = {
                    "law": law.name,
                    "alpha": law.alpha,
                    "rho": law.second_order,
                    "N": n_samples,
                    "method": method,
                    "reps": len(rows),
                    "median_alpha_hat": float(np.median(est)),
                    "flag_rate": flag,
                }
                if math.isfinite(law.alpha):
                    cell["median_rel_error"] = float(np.median(np.abs(est - law.alpha) / law.alpha))
                    cell["rel_errors"] = [float(v) for v in np.abs(est - law.alpha) / law.alpha]
                if cov:
                    p = float(np.mean(cov))
                    cell.update(
                        coverage=p,
                        coverage_se=math.sqrt(p * (1 - p) / len(cov)),
                        coverage_reps=len(cov),
                        covered=int(np.sum(cov)),
                    )
                if ks:
                    cell["median_k"] = float(np.median(ks))
                (gauss if not math.isfinite(law.alpha) else cells).append(cell)
            print(f"N={n_samples:>6} {law.name:24s} reps={r_law:4d} {dt:6.1f}s", flush=True)
    return {"cells": cells, "gaussian": gauss, "wall_s": time.perf_counter() - t_start}


def summarise(res: dict) -> dict:
    """Pooled median relative error and pooled coverage (stratified over cells) per method and N."""
    out = {}
    cells = res["cells"]
    for method in ("hill", "hill_sqrtN", "hill_boot", "powerlaw_mle", "powerlaw_pkg", "alpha_stable"):
        for n_key in sorted({c["N"] for c in cells}) + ["all"]:
            sel = [
                c
                for c in cells
                if c["method"] == method and (n_key == "all" or c["N"] == n_key) and c["alpha"] <= 4
            ]
            if method == "alpha_stable":
                sel = [c for c in sel if c["alpha"] < 2]
            if not sel:
                continue
            errs = np.concatenate([c["rel_errors"] for c in sel])
            entry = {"pooled_median_rel_error": float(np.median(errs)), "cases": int(errs.size)}
            cov_cells = [c for c in sel if "coverage" in c]
            if cov_cells:
                tot = sum(c["coverage_reps"] for c in cov_cells)
                p = sum(c["covered"] for c in cov_cells) / tot
                var = (
                    sum(c["coverage_reps"] * c["coverage"] * (1 - c["coverage"]) for c in cov_cells) / tot**2
                )
                entry.update(
                    pooled_coverage=p,
                    pooled_coverage_se=math.sqrt(var),
                    coverage_cases=tot,
                    cells_below_80=sum(c["coverage"] < 0.8 for c in cov_cells),
                    cells_with_coverage=len(cov_cells),
                )
            out[f"{method}@{n_key}"] = entry
    wins = {}
    for n_key in sorted({c["N"] for c in cells}):
        h = {c["law"]: c for c in cells if c["method"] == "hill" and c["N"] == n_key}
        b = {c["law"]: c for c in cells if c["method"] == "hill_sqrtN" and c["N"] == n_key}
        wins[str(n_key)] = {
            "hill_better": sum(h[k]["median_rel_error"] < b[k]["median_rel_error"] for k in h),
            "cells": len(h),
        }
    out["cell_wins_vs_sqrtN"] = wins
    # the powerlaw package ran on the first replicates of each cell at N = 1000: compare on those only
    pk = {c["law"]: c for c in cells if c["method"] == "powerlaw_pkg" and c["N"] == 1000 and c["alpha"] <= 4}
    hl = {c["law"]: c for c in cells if c["method"] == "hill" and c["N"] == 1000}
    if pk:
        e_pk = np.concatenate([pk[k]["rel_errors"] for k in pk])
        e_hl = np.concatenate([hl[k]["rel_errors"][: pk[k]["reps"]] for k in pk])
        out["peer_vs_hill"] = {
            "powerlaw_pkg": float(np.median(e_pk)),
            "hill": float(np.median(e_hl)),
            "cases": int(e_pk.size),
        }
    return out


def _fmt_cov(c: dict) -> str:
    if "coverage" not in c:
        return ""
    return f"{c['coverage']:.2f}±{c['coverage_se']:.2f}"


def write_markdown(res: dict, summary: dict, meta: dict, path: Path) -> None:
    cells = res["cells"]
    methods = ["hill", "hill_sqrtN", "hill_boot", "powerlaw_mle", "powerlaw_pkg", "alpha_stable"]
    lines = [
        "# Tail-index estimators: accuracy and interval coverage",
        "",
        f"Generated by `benchmarks/bench_estimator_accuracy.py` on {meta['date']} "
        f"({meta['machine']}, "
        f"numpy {meta['numpy']}), seed {meta['seed']}, wall time {res['wall_s']:.0f} s.",
        "",
        "Relative error: |alpha_hat - alpha| / alpha (median over replicates). Coverage: fraction of 90 % "
        "intervals containing the true alpha, ± its Monte Carlo standard error sqrt(p(1-p)/R). "
        "`hill` = `hts_lib.tails.estimators.hill` defaults (plug-in k, undersmoothed interval); "
        "`hill_sqrtN` = "
        "Hill at k = floor(sqrt(N)) with the exact Gamma interval; `hill_boot` = `hill(ci='bootstrap')`; "
        "`powerlaw_mle` = `hts_lib.tails.estimators.powerlaw_mle`; `powerlaw_pkg` = the `powerlaw` package "
        "(alpha_pdf - 1; its default parameter range alpha_pdf in [0, 3] caps the tail index at 2, and its "
        "exhaustive x_min search is quadratic, so it ran on the first replicates at N = 1000 only); "
        "`alpha_stable` = the authors' block estimator (meaningful for alpha < 2 stable "
        "data only: its values cannot exceed about 2). rho is the second-order parameter of the law "
        "(closer to 0 = harder for Hill).",
        "",
        "## Pooled summary (all laws with alpha <= 4; alpha_stable: alpha < 2)",
        "",
        "| method | N | cases | pooled median rel. error | pooled coverage (90 %) "
        "| cells with coverage < 0.80 |",
        "|---|---|---|---|---|---|",
    ]
    for method in methods:
        for key in sorted({c["N"] for c in cells}) + ["all"]:
            e = summary.get(f"{method}@{key}")
            if e is None:
                continue
            cov = (
                f"{e['pooled_coverage']:.3f} ± {e['pooled_coverage_se']:.3f} "
                f"({e['coverage_cases']} intervals)"
                if "pooled_coverage" in e
                else ""
            )
            below = f"{e['cells_below_80']} / {e['cells_with_coverage']}" if "pooled_coverage" in e else ""
            lines.append(
                f"| {method} | {key} | {e['cases']} | {e['pooled_median_rel_error']:.4f} | {cov} | {below} |"
            )
    if "peer_vs_hill" in summary:
        pv = summary["peer_vs_hill"]
        lines += [
            "",
            f"Peer baseline at N = 1000 on the same {pv['cases']} samples: `powerlaw` package pooled median "
            f"relative error {pv['powerlaw_pkg']:.4f}, default `hill` {pv['hill']:.4f}.",
        ]
    lines += [
        "",
        "Cells (law, N) where the default `hill` has a smaller median relative error than `hill_sqrtN`: "
        + ", ".join(
            f"N={k}: {v['hill_better']}/{v['cells']}" for k, v in summary["cell_wins_vs_sqrtN"].items()
        )
        + ".",
        "",
    ]
    lines += [
        "## Per law",
        "",
        "Each entry: median relative error / coverage (± MC SE) / median k; replicates in the last column "
        "(main methods, `hill_boot`, `powerlaw_pkg`).",
        "",
        "| law | alpha | rho | N | " + " | ".join(methods) + " | reps |",
        "|---|---|---|---|" + "---|" * len(methods) + "---|",
    ]
    by = {(c["law"], c["N"], c["method"]): c for c in cells}
    for law in dict.fromkeys(c["law"] for c in cells):
        for n_samples in sorted({c["N"] for c in cells}):
            row = []
            first = by.get((law, n_samples, "hill"))
            if first is None:
                continue
            for m in methods:
                c = by.get((law, n_samples, m))
                if c is None:
                    row.append("")
                    continue
                parts = [f"{c['median_rel_error']:.3f}"]
                if "coverage" in c:
                    parts.append(_fmt_cov(c))
                if "median_k" in c:
                    parts.append(f"k={c['median_k']:.0f}")
                row.append(" / ".join(parts))
            reps = "/".join(
                str(by[(law, n_samples, m)]["reps"]) if (law, n_samples, m) in by else "0"
                for m in ("hill", "hill_boot", "powerlaw_pkg")
            )
            lines.append(
                f"| {law} | {first['alpha']:.3g} | {first['rho']} | {n_samples} | "
                + " | ".join(row)
                + f" | {reps} |"
            )
    lines += [
        "",
        "## Gaussian control (alpha = infinity)",
        "",
        "Median alpha_hat and the fraction of replicates flagged (`light_tailed` for Hill and the MLE, "
        "`at_ceiling` for alpha_stable).",
        "",
        "| method | N | reps | median alpha_hat | flag rate |",
        "|---|---|---|---|---|",
    ]
    for c in res["gaussian"]:
        lines.append(
            f"| {c['method']} | {c['N']} | {c['reps']} | {c['median_alpha_hat']:.3g} | {c['flag_rate']:.2f} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps-scale", type=float, default=1.0, help="multiply every replicate count")
    ap.add_argument("--peer-max-n", type=int, default=1000, help="largest N for the powerlaw package")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args(argv)
    s = args.reps_scale
    reps = {1000: int(200 * s), 10000: int(100 * s), 100000: int(40 * s)}
    boot = {1000: int(100 * s), 10000: int(20 * s)}
    peer = {n: int(r * s) for n, r in {1000: 10, 10000: 5, 100000: 1}.items() if n <= args.peer_max_n}
    stable_ci = {1000: int(100 * s), 10000: int(50 * s)}
    res = run(reps, boot, peer, stable_ci, args.seed, kesten_scale=0.4)
    summary = summarise(res)
    meta = {
        "name": "estimator_accuracy",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "seed": args.seed,
        "reps": reps,
        "bootstrap_reps": boot,
        "peer_reps": peer,
        "stable_ci_reps": stable_ci,
        "level": LEVEL,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    cells = [{k: v for k, v in c.items() if k != "rel_errors"} for c in res["cells"]]
    rows = []
    n_keys = [str(n) for n in reps] + ["all"]
    for n_key in n_keys:
        h, b = summary.get(f"hill@{n_key}"), summary.get(f"hill_sqrtN@{n_key}")
        if h is None or b is None:
            continue
        rows.append(
            {
                "metric": f"hill (default) pooled median relative error, N={n_key}",
                "value": h["pooled_median_rel_error"],
                "unit": "",
                "baseline": b["pooled_median_rel_error"],
                "ratio": h["pooled_median_rel_error"] / b["pooled_median_rel_error"],
                "target": "below Hill at k = sqrt(N) (baseline)",
                "ok": h["pooled_median_rel_error"] < b["pooled_median_rel_error"],
            }
        )
        rows.append(
            {
                "metric": f"hill (default) pooled coverage of 90% intervals, alpha <= 4, N={n_key} "
                f"(MC SE {h['pooled_coverage_se']:.3f})",
                "value": h["pooled_coverage"],
                "unit": "",
                "baseline": b["pooled_coverage"],
                "ratio": None,
                "target": ">= 0.80",
                "ok": h["pooled_coverage"] >= 0.8,
            }
        )
    for n_key in n_keys:
        e = summary.get(f"hill_boot@{n_key}")
        if e is not None:
            rows.append(
                {
                    "metric": f"hill ci='bootstrap' pooled coverage, N={n_key} "
                    f"(MC SE {e['pooled_coverage_se']:.3f})",
                    "value": e["pooled_coverage"],
                    "unit": "",
                    "baseline": None,
                    "ratio": None,
                    "target": "(information)",
                    "ok": None,
                }
            )
    peer = summary.get("peer_vs_hill")
    if peer:
        rows.append(
            {
                "metric": f"powerlaw package pooled median relative error, N=1000 ({peer['cases']} cases; "
                "baseline: default hill on the same samples)",
                "value": peer["powerlaw_pkg"],
                "unit": "",
                "baseline": peer["hill"],
                "ratio": peer["powerlaw_pkg"] / peer["hill"],
                "target": "(peer comparison)",
                "ok": None,
            }
        )
    payload = dict(
        meta, wall_s=res["wall_s"], rows=rows, summary=summary, cells=cells, gaussian=res["gaussian"]
    )
    (RESULTS / "estimator_accuracy.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    write_markdown(res, summary, meta, RESULTS / "estimator_accuracy.md")
    print(f"\nwall time {res['wall_s']:.0f} s")
    print(f"{'metric':60s} {'value':>8s} {'baseline':>9s} {'ok':>5s}")
    for r in rows:
        if r["ok"] is not None:
            b = "" if r["baseline"] is None else f"{r['baseline']:.4f}"
            print(f"{r['metric']:60s} {r['value']:8.4f} {b:>9s} {str(r['ok']):>5s}")
    print(f"wrote {RESULTS / 'estimator_accuracy.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
