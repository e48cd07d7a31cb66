"""Tests of sweeps on a Dask cluster (hts_lib.nn.cluster, run_sweep(cluster=...), --cluster).

Real clusters on the loopback interface: a ``dask scheduler`` and two ``dask worker`` processes
started here (one of them killed with SIGKILL mid-sweep), and LocalClusters started by the command
line and by the Python API. The run function, ``logged_run`` below, sleeps, logs which process ran
it and returns a minimal valid record; it is shipped to the workers by value. Every process a test starts is
stopped in a ``finally``; the command-line tests run in their own process group, and the tests
check that nothing of that group is left when the command has exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hts_lib.nn import cluster as cl
from hts_lib.nn.experiments import load_results, main, run_id, run_sweep, sweep_grid, validate_result

REPO = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()
LOGGED_RUN = f"{THIS_FILE}:logged_run"

# Generous limits: a loaded 2-core machine can take many seconds to start Python processes that
# import numpy and distributed; these only bound a hung test, they are never timing asserts.
START_TIMEOUT_S = 90
SWEEP_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
EXIT_GRACE_S = 5  # seconds a process of the command may take to finish exiting after it


# ------------------------------------------------------------------------------------------
# run functions shipped to the workers (by value: this file is not an importable module there)
# ------------------------------------------------------------------------------------------
def logged_run(config: dict) -> dict:
    """Log "<eta> <pid>", sleep, and return a minimal valid record whose device names the process.

    ``fail`` makes every attempt raise, ``flaky`` only the first one, ``crash`` kills the process.
    """
    with open(config["log"], "a") as fh:
        fh.write(f"{config['eta']} {os.getpid()}\n")
    if config.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill would
    if config.get("fail"):
        raise RuntimeError(f"simulated failure for eta={config['eta']}")
    if config.get("flaky"):
        marker = Path(config["log"]).with_name(f"flaky-{config['eta']}")
        if not marker.exists():
            marker.touch()
            raise RuntimeError("transient failure (first attempt only)")
    time.sleep(config["sleep"])
    m = {"train_loss": 0.1, "train_acc": 1.0, "test_loss": 0.2, "test_acc": 0.9, "gen_gap": 0.1}
    return {
        "config": dict(config),
        "diverged": False,
        "diverged_at": None,
        "metrics": m,
        "metrics_average": m,
        "alpha": {},
        "sharpness": None,
        "history": [],
        "device": f"cpu:{os.getpid()}",
        "n_params": 0,
        "wall_time_s": config["sleep"],
    }


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **extra}


def cli_argv(*args) -> list[str]:
    return [sys.executable, "-m", "hts_lib.nn.experiments", *args]


def configs(tmp_path: Path, n: int, sleep: float = 0.5, first: int = 1, **kw) -> list[dict]:
    """n configs with eta = 0.001 * (first, first + 1, ...), logging to tmp_path/calls.log."""
    base = {
        "dataset": "digits",
        "model": "fc",
        "n_steps": 200,
        "seed": 0,
        "batch_size": 1,
        "sleep": sleep,
        "log": str(tmp_path / "calls.log"),
        **kw,
    }
    return sweep_grid(base, eta=[round(0.001 * (first + i), 3) for i in range(n)])


def write_sweep(tmp_path: Path, cfgs: list[dict]) -> Path:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(cfgs))
    return path


def calls(tmp_path: Path) -> list[tuple[float, int]]:
    log = tmp_path / "calls.log"
    lines = log.read_text().split("\n")[:-1] if log.exists() else []  # complete lines only
    return [(float(e), int(p)) for e, p in (ln.split() for ln in lines)]


def group_members(pgid: int) -> list[int]:
    """Processes still alive in a process group (zombies do not count)."""
    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate, then kill, each process in turn (workers before their scheduler: a worker whose
    scheduler is gone spends its shutdown waiting to reach it)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def result_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.glob("*.json")} if out.is_dir() else {}


@pytest.fixture(scope="module")
def scheduler_and_workers(tmp_path_factory):
    """`dask scheduler` and two single-threaded `dask worker --no-nanny` processes on 127.0.0.1.

    Shared by the tests of this module that need a running scheduler; the last of them kills a
    worker. No nanny: a worker killed with SIGKILL stays dead (a nanny would restart it), so the
    sweep has to finish on the one that is left.
    """
    distributed = pytest.importorskip("distributed")
    logs = tmp_path_factory.mktemp("dask-logs")
    sched_file = logs / "scheduler.json"
    procs: list[subprocess.Popen] = []
    common = ["--host", "127.0.0.1", "--no-dashboard"]

    def start(args, name):
        with open(logs / f"{name}.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", *args, *common],
                    env=env(),
                    cwd=logs,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
        return procs[-1]

    try:
        scheduler = start(
            ["distributed.cli.dask_scheduler", "--port", "0", "--scheduler-file", str(sched_file)],
            "scheduler",
        )
        wait_for(
            lambda: sched_file.exists() and sched_file.stat().st_size > 0,
            START_TIMEOUT_S,
            "the scheduler",
            scheduler,
        )
        time.sleep(0.2)  # the scheduler writes the file in one go, but let a slow write finish
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [
            start(
                ["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny", "--name", f"w{i}"],
                f"w{i}",
            )
            for i in range(2)
        ]
        with distributed.Client(address, set_as_default=False, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address, workers
    finally:
        stop(procs[::-1])


# ------------------------------------------------------------------------------------------
# parsing and bad input (no cluster started)
# ------------------------------------------------------------------------------------------
def test_parse_cluster_forms():
    assert cl.parse_cluster("local:3") == cl.ClusterSpec("local", n_workers=3)
    assert cl.parse_cluster(" tcp://127.0.0.1:8786 ") == cl.ClusterSpec(
        "address", address="tcp://127.0.0.1:8786"
    )
    assert (
        cl.parse_cluster("tcp://node-7.cluster.example:8786").address == "tcp://node-7.cluster.example:8786"
    )
    assert cl.parse_cluster("tcp://[::1]:8786").address == "tcp://[::1]:8786"


@pytest.mark.parametrize(
    "spec, exc, match",
    [
        ("local:0", ValueError, r"cluster 'local:N' worker count N must be an integer >= 1, got 0"),
        ("local", ValueError, r"cluster must be 'local:N' .* or 'tcp://HOST:PORT' .*, got 'local'"),
        ("local:two", ValueError, r"cluster must be 'local:N'"),
        ("tcp://127.0.0.1", ValueError, r"cluster must be 'local:N'"),
        ("127.0.0.1:8786", ValueError, r"cluster must be 'local:N'"),
        ("tcp://127.0.0.1:70000", ValueError, r"cluster port must be an integer <= 65535, got 70000"),
        ("tcp://127.0.0.1:0", ValueError, r"cluster port must be an integer >= 1, got 0"),
        (2, TypeError, r"cluster must be a string \('local:N'"),
    ],
)
def test_parse_cluster_bad_input(spec, exc, match):
    with pytest.raises(exc, match=match):
        cl.parse_cluster(spec)


def test_run_sweep_cluster_bad_input(tmp_path):
    cfgs = configs(tmp_path, 2, sleep=0)
    kw = dict(progress=False, run_fn=logged_run)
    with pytest.raises(ValueError, match="cluster must be 'local:N'"):
        run_sweep(cfgs, tmp_path / "o", cluster="local", **kw)
    with pytest.raises(ValueError, match=r"give either cluster or n_jobs/backend \(joblib\), not both"):
        run_sweep(cfgs, tmp_path / "o", cluster="local:2", n_jobs=2, **kw)
    with pytest.raises(ValueError, match="retries must be an integer >= 0, got -1"):
        run_sweep(cfgs, tmp_path / "o", retries=-1, **kw)
    with pytest.raises(TypeError, match="retries must be an integer, got str"):
        run_sweep(cfgs, tmp_path / "o", retries="1", **kw)
    with pytest.raises(
        TypeError, match="cluster must be 'local:N' .* a dask.distributed Client or a cluster object, got int"
    ):
        run_sweep(cfgs, tmp_path / "o", cluster=3, **kw)
    assert list(tmp_path.glob("o/*")) == []  # nothing ran


def test_cli_cluster_errors(tmp_path, capsys):
    import dask

    sweep = write_sweep(tmp_path, configs(tmp_path, 2, sleep=0))
    base = [
        "run",
        "--config",
        str(sweep),
        "--out",
        str(tmp_path / "o"),
        "--run-fn",
        LOGGED_RUN,
        "--no-progress",
    ]
    free_port = _free_port()
    # distributed's defaults must be loaded before dask.config.set: a key set on a config that lacks it is
    # removed whole when the block exits, and would take distributed's defaults with it
    pytest.importorskip("distributed")
    # a refused connection is retried until the connect timeout: 2 s keeps the test short
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        cases = [
            (["--cluster", "local:x"], "error: cluster must be 'local:N'"),
            (["--cluster", "local:2", "--jobs", "2"], "error: give either cluster or n_jobs/backend"),
            (
                ["--backend", "dask"],
                "error: --backend dask was replaced by --cluster local:N or --cluster tcp://",
            ),
            (["--retries", "-1"], "error: retries must be an integer >= 0, got -1"),
            (
                ["--cluster", f"tcp://127.0.0.1:{free_port}"],
                f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{free_port}",
            ),
        ]
        for extra, match in cases:
            assert main(base + extra) == 2, extra
            err = capsys.readouterr().err
            assert match in err and err.count("\n") == 1, (extra, err)  # one `error:` line
    assert not list(tmp_path.glob("o/*.json"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------
# local:N from the command line: resume across ways of running, retries, a run that kills its worker
# ------------------------------------------------------------------------------------------
def test_cli_local_cluster_resume_retries_and_crash(tmp_path):
    normal = configs(tmp_path, 6, sleep=0.2)
    flaky = configs(tmp_path, 1, sleep=0, first=7, flaky=True)
    broken = configs(tmp_path, 1, sleep=0, first=8, fail=True)
    crash = configs(tmp_path, 1, sleep=0, first=9, crash=True)
    cfgs = normal + flaky + broken + crash
    out = tmp_path / "out"
    # the first three runs in this process, serially: the cluster sweep must skip them
    first = run_sweep(normal[:3], out, progress=False, run_fn=logged_run)
    assert first.n_done == 3
    before = result_files(out)
    argv = cli_argv(
        "run",
        "--config",
        str(write_sweep(tmp_path, cfgs)),
        "--out",
        str(out),
        "--run-fn",
        LOGGED_RUN,
        "--cluster",
        "local:2",
        "--retries",
        "1",
    )
    # a worker that dies once more than allowed-failures (here 1) gives the run up: 2 deaths
    proc = subprocess.Popen(
        argv,
        env=env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            kill_group(proc.pid)
            proc.wait()
        # a worker or resource tracker may still be in its last milliseconds when the command returns
        # (seen in about 1 run of 20); one still alive a few seconds later has outlived it
        deadline = time.monotonic() + EXIT_GRACE_S
        while (leftover := group_members(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        kill_group(proc.pid)
    assert leftover == [], "the local cluster's processes outlived the command"
    assert proc.returncode == 1, stderr  # failed runs make the exit status 1
    assert "4 run, 3 already done, 2 failed of 9" in stdout
    assert "9/9" in stderr  # the progress bar reached the end
    assert all(result_files(out)[n] == b for n, b in before.items())
    ran = {json.loads(b)["config"]["eta"] for b in result_files(out).values()}
    assert ran == {c["eta"] for c in normal + flaky}
    log = calls(tmp_path)
    for c in normal[:3]:  # run once, by the serial sweep
        assert [p for e, p in log if e == c["eta"]] == [os.getpid()]
    # failed once, retried, written (a third call is possible: a finished result still held by the
    # worker that the crashing run killed is lost and computed again)
    assert len([1 for e, _ in log if e == flaky[0]["eta"]]) >= 2
    assert len([1 for e, _ in log if e == broken[0]["eta"]]) == 2  # retries=1: two attempts, then failed
    assert len([1 for e, _ in log if e == crash[0]["eta"]]) == 2  # allowed-failures=1: 2 deaths, then failed
    err_broken = (out / f"{run_id(broken[0])}.error.txt").read_text()
    assert "Traceback" in err_broken
    assert "RuntimeError: simulated failure for eta=0.008 (tried 2 times)" in err_broken
    err_crash = (out / f"{run_id(crash[0])}.error.txt").read_text()
    assert err_crash.startswith("KilledWorker: every worker that ran this run died")
    assert f"FAILED {run_id(crash[0])}: KilledWorker" in stderr
    assert not (out / f"{run_id(flaky[0])}.error.txt").exists()
    assert not list(out.glob(".*"))  # no temporary files


# ------------------------------------------------------------------------------------------
# Ctrl-C
# ------------------------------------------------------------------------------------------
def test_ctrl_c_leaves_no_partial_file_and_the_next_run_resumes(tmp_path):
    cfgs = configs(tmp_path, 8, sleep=0.5)
    sweep = write_sweep(tmp_path, cfgs)
    out = tmp_path / "out"
    argv = cli_argv(
        "run",
        "--config",
        str(sweep),
        "--out",
        str(out),
        "--run-fn",
        LOGGED_RUN,
        "--cluster",
        "local:2",
        "--no-progress",
    )
    proc = subprocess.Popen(
        argv,
        env=env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(result_files(out)) >= 2, SWEEP_TIMEOUT_S, "two finished runs", proc)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        stdout, stderr = proc.communicate(timeout=SWEEP_TIMEOUT_S)
        wait_for(lambda: group_members(proc.pid) == [], STOP_TIMEOUT_S, "the cluster's processes to exit")
    finally:
        if proc.poll() is None:
            kill_group(proc.pid)
            proc.wait()
        kill_group(proc.pid)
    assert proc.returncode == 130, stderr
    done = result_files(out)
    assert 2 <= len(done) < 8
    assert f"interrupted: {len(done)} of 8 runs done" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(done)  # no temporary file, no error file
    for n, b in done.items():
        validate_result(json.loads(b), source=n)
    # the next invocation resumes (here serially in this process: any way of running does)
    rep = run_sweep(cfgs, out, progress=False, run_fn=logged_run)
    assert (rep.n_skipped, rep.n_done, rep.failed) == (len(done), 8 - len(done), ())
    assert all(result_files(out)[n] == b for n, b in done.items())


# ------------------------------------------------------------------------------------------
# the Python API: an address, a Client, a cluster object
# ------------------------------------------------------------------------------------------
def test_python_api_with_address_client_and_cluster_object(tmp_path, scheduler_and_workers):
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    address, workers = scheduler_and_workers
    cfgs = configs(tmp_path, 6, sleep=0.1)
    out = tmp_path / "out"
    # this module is not importable on the workers: ship its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[logged_run.__module__])
    try:
        rep = run_sweep(cfgs[:2], out, progress=False, run_fn=logged_run, cluster=address)
        assert (rep.n_done, rep.failed) == (2, ())
        with distributed.Client(address, set_as_default=False) as client:
            rep = run_sweep(cfgs[:4], out, progress=False, run_fn=logged_run, cluster=client)
            assert client.status == "running"  # a Client given by the caller stays open
        assert (rep.n_skipped, rep.n_done, rep.failed) == (2, 2, ())
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[logged_run.__module__])
    # a cluster object (here an in-process one, threads of this process as workers, quick to start)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    ) as local:
        rep = run_sweep(cfgs, out, progress=False, run_fn=logged_run, cluster=local)
        assert local.status.name == "running"  # and so does a cluster given by the caller
    assert (rep.n_skipped, rep.n_done, rep.failed) == (4, 2, ())
    res = {r["config"]["eta"]: r for r in load_results(out)}
    worker_pids = {w.pid for w in workers}
    assert {int(res[c["eta"]]["device"].split(":")[1]) for c in cfgs[:4]} <= worker_pids
    assert {res[c["eta"]]["device"] for c in cfgs[4:]} == {f"cpu:{os.getpid()}"}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{run_id(c)}.json" for c in cfgs)


# ------------------------------------------------------------------------------------------
# a running scheduler, two workers, one killed mid-sweep
# ------------------------------------------------------------------------------------------
def test_tcp_cluster_survives_a_killed_worker(tmp_path, scheduler_and_workers):
    address, workers = scheduler_and_workers
    cfgs = configs(tmp_path, 12)  # 12 runs of 0.5 s on two workers
    out = tmp_path / "out"
    argv = cli_argv(
        "run",
        "--config",
        str(write_sweep(tmp_path, cfgs)),
        "--out",
        str(out),
        "--run-fn",
        LOGGED_RUN,
        "--cluster",
        address,
        "--no-progress",
    )
    proc = subprocess.Popen(
        argv,
        env=env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        by_pid = {w.pid: w for w in workers}

        found = []

        def busy_worker_with_finished_runs() -> bool:
            """A worker that has written results and has started a run whose result is not written."""
            at_kill = result_files(out)
            written = {json.loads(b)["config"]["eta"]: json.loads(b)["device"] for b in at_kill.values()}
            for pid in by_pid if len(written) >= 3 else ():
                started = [e for e, p in calls(tmp_path) if p == pid]
                if f"cpu:{pid}" in written.values() and any(e not in written for e in started):
                    found.append((by_pid[pid], at_kill))
                    return True
            return False

        wait_for(busy_worker_with_finished_runs, SWEEP_TIMEOUT_S, "a worker in the middle of its runs", proc)
        victim, at_kill = found[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        stdout, stderr = proc.communicate(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            kill_group(proc.pid)
            proc.wait()
    assert len(at_kill) < 12, "the worker was killed after the sweep had finished"
    assert proc.returncode == 0, stderr
    # 12 result files written for 12 runs: each run written exactly once, none lost, none failed
    assert "12 run, 0 already done, 0 failed of 12" in stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{run_id(c)}.json" for c in cfgs)  # no temporary or error file left
    final = result_files(out)
    assert all(final[n] == b for n, b in at_kill.items())  # finished before the kill: kept as written
    for n, b in final.items():
        validate_result(json.loads(b), source=n)
    survivor = next(w for w in workers if w is not victim)
    after = {json.loads(b)["device"] for n, b in final.items() if n not in at_kill}
    # results written after the snapshot: the survivor's, and any the victim had already sent
    assert after <= {f"cpu:{survivor.pid}", f"cpu:{victim.pid}"}
    log = calls(tmp_path)
    assert {e for e, _ in log} == {c["eta"] for c in cfgs}
    # a run the victim started but whose result it never delivered was done again by the survivor
    # (usually the run it was in the middle of; none when its last result got out just before the kill)
    written_by = {json.loads(b)["config"]["eta"]: json.loads(b)["device"] for b in final.values()}
    lost = [e for e, pid in log if pid == victim.pid and written_by[e] != f"cpu:{victim.pid}"]
    assert all((e, survivor.pid) in log for e in lost)
    print(
        f"killed worker {victim.pid} after {len(at_kill)} of 12 results; runs it lost, redone by "
        f"{survivor.pid}: {lost}"
    )
    assert group_members(proc.pid) == []
