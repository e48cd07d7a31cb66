"""Benchmark of hts_lib.nn.training on the paper's fully connected net (MNIST subset, CPU, 1 thread).

Measured against baselines run in the same process (or, for memory, in sibling processes started
the same way):

1. per-step cost of ``train_sgd`` at b in {1, 5, 10} against a naive loop in the style of the
   authors' code: a ``DataLoader(TensorDataset, shuffle=False)`` building every batch by
   collating single examples, ``torch.optim.SGD`` with ``zero_grad``/``backward``/``step``, a
   ``loss.item()`` every step, and a ``deepcopy`` of the ``state_dict`` for each of the last K
   iterates, averaged at the end;
2. memory of the averaging: bytes held (counted from the tensors) and the growth of the peak
   resident set size during a 1,000-step run in a fresh process (after loading and a warm-up),
   for K = 100 and K = 1000, ours against the stored-iterates baseline: ours must stay within a
   few model copies, whatever K;
3. the projected wall time of the paper's grid (16 step sizes x b in {1, 5, 10}, 10,000 steps,
   average of 1,000, per-layer tail indices and Lanczos sharpness) on 2 cores, from full runs of
   ``run_from_config`` at two step sizes per batch size (the parts of a run, training, tail
   indices and sharpness, are timed separately too); the baseline projection replaces only the
   training loop by the naive one. With ``--full`` the whole grid is also run through
   ``hts_lib.nn.experiments.run_sweep`` with two workers and timed.

The machine is shared: the last row records the load average before the timed runs, and timings
taken while other work runs are inflated (the targets are stated for an otherwise idle machine).

Target: the paper grid in under 5 minutes on 2 cores, so that its chapter runs it live.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--full]``; writes
``benchmarks/results/bench_training.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from _common import best_of as _best_of  # noqa: E402
from _common import write_result  # noqa: E402

from hts_lib.nn.data import load_dataset  # noqa: E402
from hts_lib.nn.experiments import PAPER_ETAS  # noqa: E402
from hts_lib.nn.nets import build_model, count_parameters  # noqa: E402
from hts_lib.nn.training import run_from_config, train_sgd  # noqa: E402

BATCH_SIZES = (1, 5, 10)
N_STEPS_TIMING = 3000  # steps per timing run (per-step cost is flat in the step count)
N_REPEAT = 3  # best of 3 on a shared machine
ETA_TIMING = 0.01


def naive_train(net, ds, eta, batch_size, n_steps, n_average):
    """The baseline: authors'-style loop with a DataLoader and stored iterates."""
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.from_numpy(ds.x_train.copy()), torch.from_numpy(ds.y_train.copy()))
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    opt = torch.optim.SGD(net.parameters(), lr=eta, momentum=0.0, weight_decay=0.0)
    stored, step = [], 0
    while step < n_steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
            if not np.isfinite(loss.item()):
                return None
            step += 1
            if step > n_steps - n_average:
                stored.append(copy.deepcopy(net.state_dict()))
            if step == n_steps:
                break
    avg = {k: torch.stack([s[k] for s in stored]).mean(0) for k in stored[0]} if stored else {}
    return avg, stored


def naive_step(rows: list[dict], b: int) -> float:
    """The baseline's measured per-step time (us) at batch size b."""
    return next(r["baseline"] for r in rows if r["metric"].startswith(f"step time, b={b} "))


def best_of(fn, repeat=N_REPEAT):
    return _best_of(fn, repeat)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(kind: str, n_average: int) -> None:
    """Run in a subprocess: print the peak RSS growth (kB) during a 1,000-step run of ``kind``.

    The data are loaded and a warm-up run is done first (so the allocator and torch's lazy
    initialisation are not counted), then the kernel's peak-RSS mark is reset
    (``/proc/self/clear_refs`` = 5, Linux >= 4.0) and the run's peak is read from ``VmHWM``.
    """
    torch.set_num_threads(1)
    ds = load_dataset("mnist_subset")
    train_sgd(build_model("fc", ds.input_shape, 10, seed=1), ds, 0.01, 5, 20, n_average=10, eval_every=20)
    naive_train(build_model("fc", ds.input_shape, 10, seed=1), ds, 0.01, 5, 20, 10)
    net = build_model("fc", ds.input_shape, 10, seed=0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _status_kb("VmRSS")
    if kind == "ours":
        res = train_sgd(net, ds, 0.01, 5, 1000, n_average=n_average, eval_every=1000)
    elif kind == "naive":
        res = naive_train(net, ds, 0.01, 5, 1000, n_average)
    print(_status_kb("VmHWM") - before)
    del res


def peak_rss_mb(kind: str, n_average: int) -> float:
    """Peak RSS growth (MB) of one run of ``kind`` in a fresh process.

    glibc's malloc is told to serve every allocation above 64 kB by mmap (returned to the system
    on free), so the resident set follows the memory actually in use rather than the allocator's
    high-water mark of freed heap blocks.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", kind, str(n_average)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def row(metric, value, unit, baseline, target, ok):
    ratio = None if baseline in (None, 0) or value is None else value / baseline
    return {
        "metric": metric,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "ok": bool(ok),
    }


def main(full: bool) -> list[dict]:
    load = os.getloadavg()[0]  # before the timed runs
    torch.set_num_threads(1)
    ds = load_dataset("mnist_subset")
    n_params = count_parameters(build_model("fc", ds.input_shape, 10))
    rows = []

    # 1. per-step cost
    for b in BATCH_SIZES:

        def ours():
            train_sgd(
                build_model("fc", ds.input_shape, 10, seed=0),
                ds,
                ETA_TIMING,
                b,
                N_STEPS_TIMING,
                n_average=1000,
                eval_every=N_STEPS_TIMING,
            )

        def naive():
            naive_train(
                build_model("fc", ds.input_shape, 10, seed=0), ds, ETA_TIMING, b, N_STEPS_TIMING, 1000
            )

        t_ours = best_of(ours) / N_STEPS_TIMING * 1e6
        t_naive = best_of(naive) / N_STEPS_TIMING * 1e6
        rows.append(
            row(
                f"step time, b={b} (incl. averaging of last 1000)",
                t_ours,
                "us/step",
                t_naive,
                "< baseline",
                t_ours < t_naive,
            )
        )

    # 2. memory of the averaging
    model_mb = n_params * 4 / 2**20
    held_ours = n_params * 8 / 2**20  # one float64 running sum, any K
    for k in (100, 1000):
        held_naive = k * n_params * 4 / 2**20  # K stored float32 copies
        rows.append(
            row(
                f"averaging state held, K={k}",
                held_ours,
                "MB",
                held_naive,
                f"<= 4 model copies ({4 * model_mb:.2f} MB)",
                held_ours <= 4 * model_mb,
            )
        )
    peak = {(kind, k): peak_rss_mb(kind, k) for kind in ("ours", "naive") for k in (100, 1000)}
    for k in (100, 1000):
        # ours holds a float64 running sum (2 model copies) and a copy of the model for the averaged
        # metrics; evaluation in chunks of 2,048 examples adds ~3 MB of activations, whatever K.
        rows.append(
            row(
                f"peak RSS growth during a 1000-step run, K={k}",
                peak[("ours", k)],
                "MB",
                peak[("naive", k)],
                "<= 10 MB (model copies + eval activations)",
                peak[("ours", k)] <= 10,
            )
        )
    growth = peak[("ours", 1000)] - peak[("ours", 100)]
    # allocator reuse makes single RSS readings noisy by a few MB, hence the 4 MB allowance
    rows.append(
        row(
            "peak RSS growth from K=100 to K=1000",
            growth,
            "MB",
            peak[("naive", 1000)] - peak[("naive", 100)],
            "< 1 model copy + 4 MB (independent of K)",
            growth < model_mb + 4,
        )
    )

    # 3. projected wall time of the paper grid on 2 cores: the parts of one run, then whole runs
    from hts_lib.nn.sharpness import sharpness
    from hts_lib.nn.training import weight_tail_indices

    xtr, ytr = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    parts = {}
    for b in BATCH_SIZES:
        net = build_model("fc", ds.input_shape, 10, seed=0)
        t0 = time.perf_counter()
        res = train_sgd(net, ds, 0.02, b, 10_000, n_average=1000)
        t1 = time.perf_counter()
        weight_tail_indices(res.averaged_layer_weights(), seed=0)
        t2 = time.perf_counter()
        sharpness(net, xtr, ytr, tol=1e-4, seed=0)
        t3 = time.perf_counter()
        parts[b] = (t1 - t0, t2 - t1, t3 - t2)
        rows.append(
            row(
                f"one run, b={b}: training (10,000 steps, 11 evaluations)",
                parts[b][0],
                "s",
                naive_step(rows, b) * 1e-6 * 10_000,
                "< baseline",
                parts[b][0] < naive_step(rows, b) * 1e-2,
            )
        )
        rows.append(
            row(
                f"one run, b={b}: tail indices of 3 layers (200 bootstraps)",
                parts[b][1],
                "s",
                None,
                "-",
                True,
            )
        )
        rows.append(
            row(f"one run, b={b}: sharpness (Lanczos, 4,000 images)", parts[b][2], "s", None, "-", True)
        )
    per_b = {}
    for b in BATCH_SIZES:
        ts = [run_from_config({"eta": eta, "batch_size": b})["wall_time_s"] for eta in (0.001, 0.05)]
        per_b[b] = float(np.mean(ts))
        rows.append(
            row(
                f"one run, b={b}: run_from_config total (mean of eta 0.001, 0.05)",
                per_b[b],
                "s",
                None,
                "-",
                True,
            )
        )
    projected = len(PAPER_ETAS) * sum(per_b.values()) / 2
    # the same grid with the baseline training loop in place of train_sgd (tails and sharpness unchanged)
    naive_projected = (
        projected
        + len(PAPER_ETAS) * sum(naive_step(rows, b) * 1e-6 * 10_000 - parts[b][0] for b in BATCH_SIZES) / 2
    )
    rows.append(
        row(
            "projected paper grid (48 runs) on 2 cores",
            projected,
            "s",
            naive_projected,
            "< 300 s",
            projected < 300,
        )
    )
    if full:
        from hts_lib.nn.experiments import GRIDS, run_sweep, sweep_grid

        grid = GRIDS["paper-fc"]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_sweep(sweep_grid(grid["base"], **grid["axes"]), tmp, n_jobs=2, progress=False)
            measured = time.perf_counter() - t0
        rows.append(
            row(
                "measured paper grid (48 runs), run_sweep n_jobs=2",
                measured,
                "s",
                projected,
                "< 300 s",
                measured < 300,
            )
        )
    rows.append(_load_row(load))
    return rows


# ---------------------------------------------------------------------------------------------
# The ensemble trainer (hts_lib.nn.ensemble)
# ---------------------------------------------------------------------------------------------
ENSEMBLE_SIZES = (16, 48)


def _per_step(fn, n1=100, n2=600) -> float:
    """Seconds per step of fn(n_steps), without its fixed costs (evaluations): a difference of two runs."""
    t1 = _best_of(lambda: fn(n1), repeat=2)
    t2 = _best_of(lambda: fn(n2), repeat=2)
    return (t2 - t1) / (n2 - n1)


def matmul_gflops(n: int = 512) -> float:
    """Measured single-thread float32 matrix-multiply rate (GFLOP/s) of this machine."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.set_num_threads(1)
    t = _best_of(lambda: [torch.mm(a, b) for _ in range(20)])
    return 20 * 2 * n**3 / t / 1e9


def _load_row(load: float) -> dict:
    """The one-minute load average taken before the timed runs: above 1, other work shared the 2 cores."""
    return row("load average (1 min) before the timed runs", load, "processes", None, "<= 1", load <= 1)


def _grid_wall(folder: Path):
    """Wall time of a shipped grid from its files' provenance (last finish minus first start), or None."""
    import datetime as dt
    import json

    files = sorted(folder.glob("*.json"))
    if not files:
        return None
    recs = [json.loads(f.read_text())["provenance"] for f in files]
    start = min(dt.datetime.fromisoformat(r["started"]) for r in recs)
    end = max(dt.datetime.fromisoformat(r["finished"]) for r in recs)
    return (end - start).total_seconds(), len(files)


#: The shipped multi-seed grids whose wall time has a target: name -> (results folder, grid, target in s).
TIMED_GRIDS = {
    "fc": ("fc_mnist_seeds", "paper-fc-seeds", 300),
    "cnn": ("lenet_mnist_seeds", "lenet-seeds", 600),
}
#: Keys of a result file that hold times (they differ from run to run); everything else must match.
TIME_KEYS = ("provenance", "timings", "wall_time_s")


def _compare_results(made: Path, shipped: Path) -> tuple[int, int, float]:
    """Compare re-made result files with the shipped files of the same names, times aside.

    Returns (files, identical files, largest relative difference of any number); a missing or extra file or a
    differing non-number gives an infinite difference.
    """
    import json

    files = sorted(made.glob("*.json"))
    if not files or {f.name for f in files} != {f.name for f in shipped.glob("*.json")}:
        return len(files), 0, math.inf
    worst = 0.0

    def walk(a, b):
        nonlocal worst
        if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            for k in a:
                walk(a[k], b[k])
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for x, y in zip(a, b):
                walk(x, y)
        elif a != b:
            num = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            worst = max(worst, abs(a - b) / max(abs(a), 1e-300) if num else math.inf)

    same = 0
    for f in files:
        a, b = (
            {k: v for k, v in json.loads(p.read_text()).items() if k not in TIME_KEYS}
            for p in (f, shipped / f.name)
        )
        same += a == b
        walk(a, b)
    return len(files), same, worst


def grid_row(name: str, run: bool = False, n_threads: int = 2) -> dict | None:
    """Wall time of a shipped grid, re-run (``n_threads`` torch threads) and compared with the shipped
    files, or read from their provenance (None when the folder is missing).
    """
    folder, grid, target = TIMED_GRIDS[name]
    if run:
        from hts_lib.nn.ensemble import run_ensemble_sweep
        from hts_lib.nn.experiments import grid_configs

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_ensemble_sweep(grid_configs(grid), tmp, progress=False, n_threads=n_threads)
            wall, n = time.perf_counter() - t0, len(grid_configs(grid))
            n_files, n_same, worst = _compare_results(Path(tmp), ROOT / "results" / folder)
        # float32 reductions split over another number of threads can move the last digits (the shipped
        # files were made with 2 threads, as `make results` does)
        verdict = (
            "identical to the shipped files"
            if n_same == n_files
            else f"{n_same} of {n_files} files identical to the shipped ones, the rest to rel. {worst:.1g}"
        )
        how = f"{n_threads} torch threads; {verdict}"
    else:
        got = _grid_wall(ROOT / "results" / folder)
        if got is None:
            return None
        (wall, n), how = got, "from provenance"
    return row(
        f"{name} multi-seed grid wall time (s)",
        wall,
        "s",
        None,
        f"<= {target} s on 2 idle cores ({n} runs, {how})",
        wall <= target,
    )


def ensemble_rows(run_grids: bool = False) -> list[dict]:
    """Throughput of train_ensemble against train_sgd (model-steps/s), FLOP-rate fraction, grid wall times."""
    from hts_lib.nn.ensemble import train_ensemble

    ds = load_dataset("mnist_subset")
    n_par = count_parameters(build_model("fc", ds.input_shape, ds.n_classes, seed=0))
    rows = []

    def single(b):
        return lambda n: train_sgd(
            build_model("fc", ds.input_shape, ds.n_classes, seed=0),
            ds,
            0.01,
            b,
            n,
            n_average=1,
            eval_every=10**6,
        )

    def ens(b, m):
        def run(n):
            nets = [build_model("fc", ds.input_shape, ds.n_classes, seed=s) for s in range(m)]
            return train_ensemble(nets, ds, 0.01, b, n, n_average=1, eval_every=10**6)

        return run

    t_single = {b: _per_step(single(b)) for b in (1, 10)}
    for m in ENSEMBLE_SIZES:
        t_ens = _per_step(ens(1, m)) / m
        rows.append(
            row(
                f"ensemble throughput, b=1, {m} fc models (model-steps/s)",
                1 / t_ens,
                "steps/s",
                1 / t_single[1],
                ">= 5x train_sgd",
                t_single[1] / t_ens >= 5,
            )
        )
    m = ENSEMBLE_SIZES[0]
    t_ens10 = _per_step(ens(10, m)) / m
    flops = 6 * 10 * n_par  # forward 2bP, backward 4bP per model-step (bias-free MLP)
    peak = matmul_gflops()
    achieved = flops / t_ens10 / 1e9
    rows.append(
        row(
            f"ensemble throughput, b=10, {m} fc models (model-steps/s)",
            1 / t_ens10,
            "steps/s",
            1 / t_single[10],
            "-",
            True,
        )
    )
    rows.append(
        row(
            f"ensemble FLOP rate at b=10 as a fraction of measured matmul rate ({peak:.1f} GFLOP/s)",
            achieved / peak,
            "fraction",
            None,
            "report",
            True,
        )
    )
    rows += [grid_row(name, run=run_grids) for name in TIMED_GRIDS]
    return [r for r in rows if r is not None]


def write(rows: list[dict]) -> Path:
    return write_result("bench_training", rows, torch=torch.__version__)


def show(rows: list[dict]) -> None:
    fmt = "{:<58} {:>10} {:>8} {:>10} {:>7}  {:<42} {}"
    print(fmt.format("metric", "value", "unit", "baseline", "ratio", "target", "ok"))

    def f(v):
        return "-" if v is None else f"{v:.3g}"

    for r in rows:
        print(
            fmt.format(
                r["metric"],
                f(r["value"]),
                r["unit"],
                f(r["baseline"]),
                f(r["ratio"]),
                r["target"],
                "PASS" if r["ok"] else "FAIL",
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run the whole paper grid with 2 workers")
    parser.add_argument("--memory-child", nargs=2, metavar=("KIND", "K"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--ensemble-only",
        action="store_true",
        help="measure only the ensemble rows and merge them into the existing result file",
    )
    parser.add_argument("--grids", action="store_true", help="time the multi-seed grids by running them")
    parser.add_argument(
        "--grid",
        action="append",
        choices=sorted(TIMED_GRIDS),
        help="only re-run this shipped grid (2 torch threads), compare it with the shipped files and merge "
        "its row into the existing result file (repeatable)",
    )
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        sys.exit(0)
    if args.ensemble_only or args.grid:
        import json

        old = json.loads((ROOT / "benchmarks" / "results" / "bench_training.json").read_text())["rows"]
        load = os.getloadavg()[0]  # before the timed runs: the work of others, not this run's own threads
        new_rows = [grid_row(g, run=True) for g in args.grid] if args.grid else ensemble_rows(args.grids)
        names = {r["metric"] for r in new_rows}
        # rows whose name holds a measured number (the matmul rate) are replaced, not kept beside new ones;
        # the load average is always this run's
        stale = ("load average",) + (("ensemble FLOP rate",) if any("FLOP rate" in n for n in names) else ())
        result_rows = [r for r in old if r["metric"] not in names and not r["metric"].startswith(stale)]
        result_rows += new_rows
        result_rows.append(_load_row(load))
    else:
        result_rows = main(args.full) + ensemble_rows(args.grids)
    show(result_rows)
    print(f"wrote {write(result_rows)}")
