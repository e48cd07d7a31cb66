"""Predicted (linearised) against measured tail indices of SGD near a verified minimum, for ch13's networks.

For each network: find and verify a minimum (L-BFGS; gradient norm; lowest Hessian eigenvalue by Lanczos),
scan the step size at two batch sizes with a small population to place the grid, then at each grid cell
predict alpha (:func:`hts_lib.nn.linearised.linearised_tail_index`) and measure it on many SGD chains of the
network started at the minimum (:func:`hts_lib.nn.linearised.sgd_chains_from_minimum`): Hill and the moment
estimator on projections of theta_k - theta* (a random direction, the top Hessian eigenvector, two single
weights), after a burn-in, thinned.

Run (the Makefile target ``linearised-results`` runs all three):
    python results/linearised/reproduce.py --network teacher_student --device cpu
    python results/linearised/reproduce.py --network digits_mlp --device cpu
    python results/linearised/reproduce.py --network mnist_fc --device cuda

Writes ``results/linearised/<network>.json`` (config, provenance, minimum check, scan, rows) and, with
``--save-minimum`` for the MNIST nets, ``<network>_minimum.npz`` and ``<network>_minimum.json`` (the minimum,
float32, and its check; used by the chapter and the benchmark).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import hts_lib  # noqa: E402
from hts_lib.nn.linearised import (  # noqa: E402
    check_minimum,
    digits_mlp,
    find_minimum,
    linearised_tail_index,
    mnist_fc,
    sgd_chains_from_minimum,
    teacher_student,
)
from hts_lib.tails import hill, moment_estimator  # noqa: E402

CONFIGS = {
    "teacher_student": dict(
        problem={},
        batch_sizes=(1, 4),
        scan={1: np.linspace(0.06, 0.13, 9).tolist(), 4: np.linspace(0.18, 0.40, 9).tolist()},
        linear_chains=True,
        targets=(0.8, 1.5, 2.5, 4.0, 6.0),
        walkers=64,
        replicas=8,
        steps=150,
        burn=100,
        chains=512,
        chain_steps=12_000,
        chain_burn=4_000,
        thin=20,
        max_norm=50.0,
        dense_limit=100,
        dtype="float64",
    ),
    "digits_mlp": dict(
        problem={},
        batch_sizes=(1, 8),
        scan={1: np.linspace(0.04, 0.16, 7).tolist(), 8: np.linspace(0.2, 0.5, 7).tolist()},
        linear_chains=True,
        targets=(0.6, 0.9, 1.4, 2.0, 2.8, 4.5, 6.0),
        divergence_cell=False,
        walkers=64,
        replicas=8,
        steps=100,
        burn=50,
        chains=256,
        chain_steps=5000,
        chain_burn=1500,
        thin=10,
        max_norm=50.0,
        dense_limit=1000,
        dtype="float64",
    ),
    "mnist_fc": dict(
        problem=dict(n_train=1000, weight_decay=5e-2),
        batch_sizes=(4, 16),
        scan={4: np.geomspace(0.04, 0.4, 10).tolist(), 16: np.geomspace(0.1, 1.0, 10).tolist()},
        linear_chains=False,
        targets=(0.8, 1.5, 2.5, 4.0, 6.0),
        walkers=32,
        replicas=8,
        steps=80,
        burn=40,
        chains=512,
        chain_steps=3000,
        chain_burn=1000,
        thin=10,
        max_norm=1e3,
        dense_limit=0,
        dtype="float64",
    ),
}
# the same network with a smooth activation (its minimum is verified), checked with a looser Lanczos
CONFIGS["mnist_fc_softplus"] = {
    **CONFIGS["mnist_fc"],
    "problem": dict(n_train=1000, weight_decay=5e-2, activation="softplus"),
    "lanczos_hvp": 3000,
    "lanczos_tol": 1e-3,
    "lanczos_ncv": 60,
}
QUICK = dict(
    walkers=8,
    replicas=2,
    steps=10,
    burn=5,
    chains=8,
    chain_steps=300,
    chain_burn=100,
    thin=5,
    scan={1: [0.05, 0.2], 4: [0.05, 0.2, 0.8], 8: [0.1, 0.5], 16: [0.05, 0.8]},
)


def jsonable(x):
    """Return ``x`` with numpy scalars and arrays made plain Python, for ``json.dumps``.

    Dict keys become strings, tuples lists, and non-finite floats None.
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def problem(name, cfg, device):
    """Build the network ``name`` from its config ``cfg``, with parameters and data on ``device``.

    Returns
    -------
    (loss_fn, params, data)
        As :func:`hts_lib.nn.linearised.teacher_student` or :func:`hts_lib.nn.linearised.mnist_fc`.
    """
    dtype = getattr(torch, cfg["dtype"])
    make = {"teacher_student": teacher_student, "digits_mlp": digits_mlp}.get(name, mnist_fc)
    loss, p0, (x, y) = make(dtype=dtype, **cfg["problem"])
    move = {k: v.to(device) for k, v in p0.items()}
    return loss, move, (x.to(device), y.to(device))


def tail(x):
    """Estimate the tail index of the sample ``x`` with Hill and with the moment estimator.

    Returns
    -------
    dict
        For each of ``"hill"`` and ``"moment"``: alpha, ci_low, ci_high, k and flags (all None, and the
        error message as flag, when the estimator raised ``ValueError``).
    """
    out = {}
    for est_name, est in (("hill", hill), ("moment", moment_estimator)):
        try:
            r = est(x)
            out[est_name] = dict(
                alpha=r.alpha, ci_low=r.ci_low, ci_high=r.ci_high, k=r.k, flags=list(r.flags)
            )
        except ValueError as exc:
            out[est_name] = dict(alpha=None, ci_low=None, ci_high=None, k=None, flags=[str(exc)])
    return out


def predict(loss, pm, data, eta, b, cfg, seed, check=True):
    """Predict the tail index at step size ``eta`` and batch size ``b`` from the minimum ``pm``.

    Returns
    -------
    dict
        The fields of :func:`hts_lib.nn.linearised.linearised_tail_index`'s result that the output keeps.
    """
    est = linearised_tail_index(
        loss,
        pm,
        data,
        eta,
        b,
        seed=seed,
        n_walkers=cfg["walkers"],
        n_replicas=cfg["replicas"],
        n_steps=cfg["steps"],
        burn_in=cfg["burn"],
        n_grid=4,
        population_check=check,
    )
    keep = (
        "alpha",
        "alpha_se",
        "rho",
        "rho_se",
        "h2",
        "h2_se",
        "s_grid",
        "h",
        "h_se",
        "alpha_halves",
        "alpha_half_population",
        "population_bias",
        "population_bias_se",
        "n_walkers",
        "n_replicas",
        "n_steps",
        "burn_in",
        "resampling_steps",
        "ess_fraction",
        "unique_fraction",
        "hvp_count",
        "searched",
        "flags",
        "wall_s",
    )
    return {k: getattr(est, k) for k in keep}


def place_grid(scan_rows, targets, divergence_cell=True):
    """Return the step sizes whose scanned alpha is nearest each target (log-linear interpolation).

    With ``divergence_cell``, the smallest scanned step with rho >= 0 (a predicted-divergence cell) is
    appended.
    """
    etas = np.array([r["eta"] for r in scan_rows])
    alphas = np.array(
        [r["alpha"] if r["alpha"] is not None and math.isfinite(r["alpha"]) else np.nan for r in scan_rows]
    )
    ok = np.isfinite(alphas) & (alphas > 0)
    chosen = []
    if ok.sum() >= 2:
        le, la = np.log(etas[ok]), np.log(alphas[ok])
        order = np.argsort(la)
        for a in targets:
            if la.min() <= math.log(a) <= la.max():
                chosen.append(float(np.exp(np.interp(math.log(a), la[order], le[order]))))
    div = [r["eta"] for r in scan_rows if r["rho"] is not None and r["rho"] >= 0]
    if div and divergence_cell:
        chosen.append(float(min(div)))
    return chosen


def _portable_command(argv) -> str:
    """Return the command line with folders outside the repository shown by name only (no machine paths)."""
    out = []
    for a in argv:
        p = Path(a)
        if p.is_absolute():
            try:
                a = p.resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
            except ValueError:
                a = f"<{p.name}>"
        out.append(a)
    return " ".join(out)


def main():
    """Run the study for the network named on the command line and write its results (see above)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--quick", action="store_true", help="tiny populations and chains (a smoke test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--batch-sizes", type=int, nargs="*", help="only these batch sizes (default: the config's)"
    )
    ap.add_argument(
        "--save-minimum", help="also save the minimum (torch.save, full precision) here, then stop"
    )
    ap.add_argument(
        "--load-minimum", help="start from a minimum saved by --save-minimum (it is checked again)"
    )
    ap.add_argument("--git-revision", help="the revision to record (default: git rev-parse HEAD)")
    ap.add_argument(
        "--deadline",
        type=float,
        default=math.inf,
        help="seconds after which no new grid cell is started (the file then holds the cells done)",
    )
    ap.add_argument(
        "--etas",
        type=float,
        nargs="*",
        help="run the grid cells at these step sizes, for every batch size, without the scan",
    )
    ap.add_argument("--suffix", default="", help="appended to the output file's name")
    args = ap.parse_args()
    torch.set_num_threads(int(torch.get_num_threads()))
    cfg = dict(CONFIGS[args.network])
    if args.batch_sizes:
        cfg["batch_sizes"] = tuple(args.batch_sizes)
    if args.quick:
        cfg.update(QUICK)
        if args.network in ("mnist_fc", "mnist_fc_softplus", "digits_mlp"):
            cfg["problem"] = dict(cfg["problem"], n_train=200)
    t_all = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    loss, p0, data = problem(args.network, cfg, args.device)
    if args.load_minimum:
        pm = {k: v.to(args.device) for k, v in torch.load(args.load_minimum).items()}
    else:
        pm = find_minimum(loss, p0, data, max_iter=5000 if not args.quick else 50)
    lanczos_hvp = cfg.get("lanczos_hvp", 3000)
    budget = (
        dict(tol=1e-2, max_hvp=100)
        if args.quick
        else dict(tol=cfg.get("lanczos_tol", 1e-4), max_hvp=lanczos_hvp, ncv=cfg.get("lanczos_ncv", 40))
    )
    chk = check_minimum(loss, pm, data, dense_limit=cfg["dense_limit"], **budget)
    lanczos = check_minimum(loss, pm, data, **budget) if cfg["dense_limit"] else chk
    print(args.network, "minimum:", chk, "lanczos lowest", lanczos.lowest_eigenvalue, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.save_minimum:
        torch.save({k: v.cpu() for k, v in pm.items()}, args.save_minimum)
        if args.network.startswith("mnist_fc") and not args.quick:
            np.savez_compressed(
                out / f"{args.network}_minimum.npz",
                **{k: v.cpu().numpy().astype(np.float32) for k, v in pm.items()},
            )
        (out / f"{args.network}_minimum.json").write_text(
            json.dumps(
                jsonable(
                    dict(
                        loss=chk.loss,
                        grad_norm=chk.grad_norm,
                        lowest_eigenvalue=chk.lowest_eigenvalue,
                        top_eigenvalue=chk.top_eigenvalue,
                        converged=chk.converged,
                        n_params=chk.n_params,
                        network=args.network,
                        problem=cfg["problem"],
                        dtype=cfg["dtype"],
                        lbfgs_max_iter=None if args.load_minimum else (5000 if not args.quick else 50),
                        loaded_minimum=bool(args.load_minimum),
                        lanczos=budget,
                        device=str(args.device),
                        wall_time_s=time.perf_counter() - t_all,
                        command=_portable_command(sys.argv),
                    )
                ),
                indent=1,
            )
            + "\n"
        )
        return
    p = chk.n_params
    gen = torch.Generator().manual_seed(args.seed)
    rand = torch.randn(p, generator=gen, dtype=torch.float64)
    dirs = {
        "random": (rand / rand.norm()),
        "top_eigenvector": torch.as_tensor(chk.top_eigenvector),
        "weight_first": 0,
        "weight_last": p - 1,
    }
    dirs = {
        k: (
            v.to(device=args.device, dtype=getattr(torch, cfg["dtype"])) if isinstance(v, torch.Tensor) else v
        )
        for k, v in dirs.items()
    }
    scan_cfg = dict(
        cfg,
        walkers=max(4, cfg["walkers"] // 4),
        replicas=4,
        steps=max(4, cfg["steps"] // 3),
        burn=max(2, cfg["burn"] // 2),
    )
    scan, grid = [], []
    for b in cfg["batch_sizes"] if not args.etas else ():
        rows_b = []

        def scan_one(eta):
            pr = predict(loss, pm, data, eta, b, scan_cfg, args.seed, check=False)
            rows_b.append(dict(eta=eta, batch_size=b, alpha=pr["alpha"], rho=pr["rho"]))
            print("scan", b, round(eta, 4), pr["alpha"], pr["rho"], flush=True)
            return pr["rho"] >= 0 and "divergent" in pr["flags"]

        for eta in cfg["scan"][b]:
            if time.perf_counter() - t_all > 0.3 * args.deadline or scan_one(eta):
                break
        # refine between the last stable and the first divergent step size: alpha falls from large values to
        # 0 over a narrow range of eta there
        stable = [
            r["eta"]
            for r in rows_b
            if r["rho"] < 0 and not (r["alpha"] is not None and math.isnan(r["alpha"]))
        ]
        div = [r["eta"] for r in rows_b if r["rho"] >= 0]
        if stable and div and max(stable) < min(div):
            for eta in np.linspace(max(stable), min(div), 7)[1:-1]:
                if time.perf_counter() - t_all > 0.45 * args.deadline:
                    break
                scan_one(float(eta))
        rows_b.sort(key=lambda r: r["eta"])
        scan += rows_b
        grid += [
            (eta, b) for eta in place_grid(jsonable(rows_b), cfg["targets"], cfg.get("divergence_cell", True))
        ]
    if args.etas:
        grid = [(float(eta), b) for b in cfg["batch_sizes"] for eta in args.etas]
    rev = args.git_revision
    if rev is None:
        try:
            rev = (
                subprocess.run(
                    ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
                ).stdout.strip()
                or None
            )
        except OSError:
            rev = None

    def write(rows, complete):
        payload = dict(
            network=args.network,
            quick=args.quick,
            config=cfg,
            seed=args.seed,
            minimum=dict(
                loss=chk.loss,
                grad_norm=chk.grad_norm,
                lowest_eigenvalue=chk.lowest_eigenvalue,
                top_eigenvalue=chk.top_eigenvalue,
                converged=chk.converged,
                method=chk.method,
                lanczos_lowest_eigenvalue=lanczos.lowest_eigenvalue,
                lanczos_converged=lanczos.converged,
                n_params=chk.n_params,
                n_rows=int(data[0].shape[0]),
            ),
            scan=scan,
            rows=rows,
            provenance=dict(
                hts_lib_version=hts_lib.__version__,
                git_revision=rev,
                torch=torch.__version__,
                numpy=np.__version__,
                python=platform.python_version(),
                platform=platform.platform(),
                device=str(args.device),
                device_name=(
                    torch.cuda.get_device_name()
                    if str(args.device).startswith("cuda")
                    else platform.processor()
                ),
                started=started,
                wall_time_s=time.perf_counter() - t_all,
                command=_portable_command(sys.argv),
            ),
            complete=complete,
        )
        name = (
            args.network
            + ("_quick" if args.quick else "")
            + ("_b" + "_".join(map(str, args.batch_sizes)) if args.batch_sizes else "")
            + args.suffix
        )
        (out / f"{name}.json").write_text(json.dumps(jsonable(payload), indent=1) + "\n")
        return out / f"{name}.json"

    rows = []
    for i, (eta, b) in enumerate(grid):
        if time.perf_counter() - t_all > args.deadline:
            print("deadline reached: cells left out:", grid[i:], flush=True)
            break
        t0 = time.perf_counter()
        pr = predict(loss, pm, data, eta, b, cfg, args.seed + 1 + i)
        ch = sgd_chains_from_minimum(
            loss,
            pm,
            data,
            eta,
            b,
            dirs,
            n_chains=cfg["chains"],
            n_steps=cfg["chain_steps"],
            burn_in=cfg["chain_burn"],
            thin=cfg["thin"],
            seed=args.seed + 100 + i,
            max_norm=cfg["max_norm"],
        )
        half = ch.steps.size // 2
        lin = None
        if cfg["linear_chains"]:
            cl = sgd_chains_from_minimum(
                loss,
                pm,
                data,
                eta,
                b,
                dirs,
                n_chains=cfg["chains"],
                n_steps=cfg["chain_steps"],
                burn_in=cfg["chain_burn"],
                thin=cfg["thin"],
                seed=args.seed + 100 + i,
                max_norm=cfg["max_norm"],
                linearised=True,
            )
            lin = {
                name: dict(
                    all=tail(cl.samples(name)) if cl.samples(name).size > 100 else None,
                    std=float(np.nanstd(cl.projections[name])),
                )
                for name in dirs
            }
            lin["diverged_fraction"] = float(cl.diverged.mean())
            lin["norm_quantiles"] = {
                q: float(np.nanquantile(cl.norms, q)) if np.isfinite(cl.norms).any() else None
                for q in (0.5, 0.9, 0.99, 0.999)
            }
        meas = {}
        for name in dirs:
            x = ch.projections[name]
            meas[name] = dict(
                all=tail(x[np.isfinite(x)]) if np.isfinite(x).sum() > 100 else None,
                first_half=tail(x[:half][np.isfinite(x[:half])])
                if np.isfinite(x[:half]).sum() > 100
                else None,
                second_half=tail(x[half:][np.isfinite(x[half:])])
                if np.isfinite(x[half:]).sum() > 100
                else None,
                std=float(np.nanstd(x)),
            )
        nr = ch.norms
        row = dict(
            eta=eta,
            batch_size=b,
            predicted=pr,
            measured=meas,
            linearised_chains=lin,
            diverged_fraction=float(ch.diverged.mean()),
            norm_quantiles={
                q: float(np.nanquantile(nr, q)) if np.isfinite(nr).any() else None
                for q in (0.5, 0.9, 0.99, 0.999)
            },
            norm_max=float(np.nanmax(nr)) if np.isfinite(nr).any() else None,
            chain_wall_s=ch.wall_s,
            wall_s=time.perf_counter() - t0,
        )
        rows.append(row)
        print(
            "cell",
            i,
            b,
            round(eta, 4),
            "pred",
            pr["alpha"],
            pr["alpha_se"],
            "rho",
            pr["rho"],
            "hill",
            meas["top_eigenvector"]["all"]["hill"]["alpha"] if meas["top_eigenvector"]["all"] else None,
            "div",
            row["diverged_fraction"],
            f"{row['wall_s']:.0f}s",
            flush=True,
        )
        write(rows, False)
    path = write(rows, len(rows) == len(grid))
    print("wrote", path, f"{time.perf_counter() - t_all:.0f}s")


if __name__ == "__main__":
    main()
