"""Benchmark of the experiment runner (hts_lib.nn.experiments.run_sweep): its own costs, not training.

Measured against baselines run in the same process:

1. bookkeeping per run (canonical run id, schema validation, provenance, atomic write with fsync)
   against a naive loop that calls the run function and dumps its dict with json.dump;
2. the resume scan (every config already done: read + validate its file) per config;
3. the parallel plumbing: a sweep of sleeping run functions with n_jobs=2 (loky processes and
   threads) against n_jobs=1. Sleeping, not computing, so that the ratio measures the runner's
   dispatch rather than how busy the shared machine's two cores are. loky's one-off start of its
   worker processes is reported on its own row (it is paid once per Python session);
4. the same on a Dask LocalCluster of two single-threaded worker processes (``cluster=``, see
   hts_lib.nn.cluster): the scheduling overhead per run (a sweep of trivial runs through the
   cluster against the same sweep in this process), the speed-up on the sleeping sweep, and the
   cluster's start and stop (paid once per ``--cluster local:N`` command) on their own rows. One
   more row runs half-second busy loops instead of sleeps: that speed-up depends on how busy the
   machine's cores are, so it has no target and the load average is recorded with the results.

Targets: bookkeeping under 20 ms per run (under 0.5 % of a 5-second training run of the paper's
FC net), resume scan under 10 ms per config, a speed-up of at least 1.5 with two joblib workers,
a cold start of the process pool under 5 s; on the LocalCluster a scheduling overhead under 50 ms
per run and a speed-up of at least 1.8 with two workers.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_runner.py``; writes
``benchmarks/results/bench_runner.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_result  # noqa: E402

from hts_lib.nn.experiments import run_sweep, sweep_grid  # noqa: E402

N_BOOKKEEPING = 200
N_SLEEP, SLEEP_S = 12, 0.5
N_CLUSTER_OVERHEAD = 100


def trivial_run(config: dict) -> dict:
    m = {"train_loss": 0.1, "train_acc": 0.99, "test_loss": 0.2, "test_acc": 0.95, "gen_gap": 0.1}
    tail = {"alpha": 1.5, "ci_low": 1.4, "ci_high": 1.6, "method": "hill", "flags": []}
    return {
        "config": dict(config),
        "diverged": False,
        "diverged_at": None,
        "metrics": m,
        "metrics_average": m,
        "alpha": {f"layer{i}": {"alpha_stable": tail, "hill": tail} for i in (1, 2, 3)},
        "sharpness": {"top_eigenvalue": 10.0, "converged": True, "n_iter": 20, "trace": None},
        "history": [{"step": s, "train_loss": 0.1, "test_acc": 0.9} for s in range(0, 10_001, 1000)],
        "device": "cpu",
        "n_params": 118_272,
        "wall_time_s": 5.0,
    }


def sleepy_run(config: dict) -> dict:
    time.sleep(SLEEP_S)
    return trivial_run(config)


def busy_run(config: dict) -> dict:
    """Half a second of CPU time (a Python loop; the process's CPU clock, so waiting does not count)."""
    t_end = time.process_time() + SLEEP_S
    while time.process_time() < t_end:
        sum(range(1000))
    return trivial_run(config)


def configs(n: int) -> list[dict]:
    return sweep_grid(
        {"dataset": "mnist_subset", "model": "fc", "n_steps": 10_000, "batch_size": 1},
        eta=list(np.round(np.linspace(1e-4, 0.1, n), 8)),
        seed=[0],
    )


def naive_loop(cfgs, out: Path) -> None:
    for i, c in enumerate(cfgs):
        with open(out / f"{i}.json", "w") as fh:
            json.dump(trivial_run(c), fh)


def timed(fn, *args, **kw) -> float:
    t0 = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t0


def cluster_rows(tmp: Path, t_serial_sleep: float) -> list[dict]:
    """Scheduling overhead, speed-up and start/stop of a two-worker LocalCluster."""
    from hts_lib.nn.cluster import cluster_client

    rows = []
    trivial = configs(N_CLUSTER_OVERHEAD)
    t_cold = time.perf_counter()
    with cluster_client("local:2") as client:
        t_start = time.perf_counter() - t_cold
        client.wait_for_workers(2)
        run_sweep(configs(4), tmp / "cwarm", progress=False, run_fn=trivial_run, cluster=client)  # warm-up
        t_in_process = min(
            timed(run_sweep, trivial, tmp / f"cs{i}", progress=False, run_fn=trivial_run) for i in range(2)
        )
        t_cluster = min(
            timed(run_sweep, trivial, tmp / f"cc{i}", progress=False, run_fn=trivial_run, cluster=client)
            for i in range(2)
        )
        overhead = (t_cluster - t_in_process) / N_CLUSTER_OVERHEAD * 1e3
        rows.append(
            dict(
                metric=f"LocalCluster scheduling overhead per run (local:2, {N_CLUSTER_OVERHEAD} "
                "trivial runs) (ms)",
                value=round(overhead, 2),
                unit="ms",
                baseline=round(t_in_process / N_CLUSTER_OVERHEAD * 1e3, 2),
                ratio=round(t_cluster / t_in_process, 2),
                target="< 50 ms",
                ok=overhead < 50,
            )
        )
        sl = configs(N_SLEEP)
        t2 = timed(run_sweep, sl, tmp / "csleep", progress=False, run_fn=sleepy_run, cluster=client)
        rows.append(
            dict(
                metric=f"speed-up LocalCluster local:2 ({N_SLEEP} x {SLEEP_S} s sleeping runs)",
                value=round(t2, 2),
                unit="s",
                baseline=round(t_serial_sleep, 2),
                ratio=round(t_serial_sleep / t2, 2),
                target=">= 1.8",
                ok=t_serial_sleep / t2 >= 1.8,
            )
        )
        t1_busy = timed(run_sweep, sl, tmp / "busy1", progress=False, run_fn=busy_run)
        t2_busy = timed(run_sweep, sl, tmp / "busy2", progress=False, run_fn=busy_run, cluster=client)
        rows.append(
            dict(
                metric=f"speed-up LocalCluster local:2 ({N_SLEEP} x {SLEEP_S} s CPU-bound runs; "
                "depends on the machine's load)",
                value=round(t2_busy, 2),
                unit="s",
                baseline=round(t1_busy, 2),
                ratio=round(t1_busy / t2_busy, 2),
                target="",
                ok=None,
            )
        )
        t_stop = time.perf_counter()
    t_stop = time.perf_counter() - t_stop
    rows.append(
        dict(
            metric="LocalCluster local:2 start + stop, once per command (s)",
            value=round(t_start + t_stop, 2),
            unit="s",
            baseline=round(t_serial_sleep / 2, 2),
            ratio=round((t_start + t_stop) / (t_serial_sleep / 2), 2),
            target="",
            ok=None,
        )
    )
    return rows


def main() -> int:
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfgs = configs(N_BOOKKEEPING)
        (tmp / "naive").mkdir()
        t_naive = min(timed(naive_loop, cfgs, tmp / "naive") for _ in range(3))
        t_runner = timed(run_sweep, cfgs, tmp / "runner", progress=False, run_fn=trivial_run)
        per_run = (t_runner - t_naive) / N_BOOKKEEPING * 1e3
        rows.append(
            dict(
                metric="bookkeeping per run (ms)",
                value=round(per_run, 2),
                unit="ms",
                baseline=round(t_naive / N_BOOKKEEPING * 1e3, 3),
                ratio=round(t_runner / t_naive, 1),
                target="< 20 ms",
                ok=per_run < 20,
            )
        )
        t_scan = min(
            timed(run_sweep, cfgs, tmp / "runner", progress=False, run_fn=trivial_run) for _ in range(3)
        )
        per_cfg = t_scan / N_BOOKKEEPING * 1e3
        rows.append(
            dict(
                metric="resume scan per config (ms)",
                value=round(per_cfg, 2),
                unit="ms",
                baseline=round(t_runner / N_BOOKKEEPING * 1e3, 2),
                ratio=round(t_scan / t_runner, 3),
                target="< 10 ms",
                ok=per_cfg < 10,
            )
        )

        sl = configs(N_SLEEP)
        t1 = timed(run_sweep, sl, tmp / "s1", n_jobs=1, progress=False, run_fn=sleepy_run)
        # loky starts its worker processes on first use (each imports numpy and hts_lib) and then
        # keeps them for later sweeps: report the cold start separately from the warm speed-up
        t_cold = timed(
            run_sweep, sl, tmp / "s2cold", n_jobs=2, backend="loky", progress=False, run_fn=sleepy_run
        )
        for backend in ("loky", "threading"):
            t2 = timed(
                run_sweep,
                sl,
                tmp / f"s2{backend}",
                n_jobs=2,
                backend=backend,
                progress=False,
                run_fn=sleepy_run,
            )
            rows.append(
                dict(
                    metric=f"speed-up n_jobs=2 ({backend}, {N_SLEEP} x {SLEEP_S} s runs)",
                    value=round(t2, 2),
                    unit="s",
                    baseline=round(t1, 2),
                    ratio=round(t1 / t2, 2),
                    target=">= 1.5",
                    ok=t1 / t2 >= 1.5,
                )
            )
        startup = t_cold - t1 / 2
        rows.append(
            dict(
                metric="loky cold start (first parallel sweep) (s)",
                value=round(startup, 2),
                unit="s",
                baseline=round(t1 / 2, 2),
                ratio=round(t_cold / (t1 / 2), 2),
                target="< 5 s",
                ok=startup < 5,
            )
        )
        rows += cluster_rows(tmp, t1)

    load_after = os.getloadavg()
    print(f"{'metric':58s} {'value':>9s} {'baseline':>9s} {'ratio':>7s} {'target':>9s}  ok")
    for r in rows:
        print(
            f"{r['metric']:58s} {r['value']:>9} {r['baseline']:>9} {r['ratio']:>7} {r['target']:>9}  "
            f"{ {True: 'pass', False: 'FAIL', None: '-'}[r['ok']] }"
        )
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after} on {os.cpu_count()} cpus")
    out = write_result(
        "bench_runner",
        rows,
        load_average_before=[round(v, 2) for v in load_before],
        load_average_after=[round(v, 2) for v in load_after],
    )
    print(f"wrote {out.relative_to(out.parents[2])}")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
