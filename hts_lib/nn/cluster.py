"""Sweeps on a Dask cluster: each run is a task, the client writes the result files.

:func:`hts_lib.nn.experiments.run_sweep` takes ``cluster=`` (and ``hts-experiments run`` takes
``--cluster``) in two forms:

* ``"local:N"`` starts a ``dask.distributed.LocalCluster`` of N worker processes (one thread each)
  on this machine for the length of the sweep;
* ``"tcp://HOST:PORT"`` connects to a scheduler that is already running (``dask scheduler`` with
  ``dask worker`` processes, or a dask-jobqueue ``SLURMCluster`` / ``PBSCluster``); the cluster is
  left running afterwards.

In Python a ``dask.distributed.Client`` or a cluster object (anything with a ``scheduler_address``)
is accepted too.

How results come back: the worker returns the validated record (a few kilobytes of JSON-ready
data) through the scheduler to the client, and the client, alone, writes ``<run_id>.json``
atomically (temporary file in the results folder, then ``os.replace``). One writer means each
run is written exactly once, workers need no shared disk, and resuming works the same whichever
way a sweep was started (serial, joblib, cluster).

Faults: a worker that dies is noticed by the scheduler, which runs its tasks again elsewhere; a
task whose workers die ``distributed.scheduler.allowed-failures`` + 1 times (default 3 + 1) is
given up with ``KilledWorker`` and recorded as a failed run. A run that raises is tried again
``retries`` times (possibly on another worker), then recorded as failed with its traceback.

Importing this module does not import dask; :func:`parse_cluster` works without it.

Used in: the appendix page "Running a sweep on a cluster".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping

from hts_lib.nn.experiments import _execute
from hts_lib.validation import check_int

__all__ = ["ClusterSpec", "parse_cluster", "cluster_client", "run_on_cluster", "RunFailed"]

#: The accepted forms of a cluster given as text (quoted in error messages).
CLUSTER_FORMS = "'local:N' (N worker processes on this machine) or 'tcp://HOST:PORT' (a running scheduler)"

_LOCAL = re.compile(r"local:(?P<n>[0-9]+)")
_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})")

#: Scheduler settings of the LocalCluster started for ``local:N``: one task in flight per worker
#: thread. Runs are long, so prefetching gains nothing; and when a run kills its worker, the
#: scheduler counts a failure against every task held by that worker, so a prefetched bystander
#: would share the blame (and with it the ``allowed-failures`` budget) of the run that crashed.
LOCAL_SCHEDULER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0}


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A cluster given as text, parsed.

    Attributes
    ----------
    kind : {"local", "address"}
    n_workers : int or None
        Worker processes to start (``kind == "local"``).
    address : str or None
        Scheduler address (``kind == "address"``).
    """

    kind: str
    n_workers: int | None = None
    address: str | None = None


def parse_cluster(cluster: str) -> ClusterSpec:
    """Parse ``"local:N"`` or ``"tcp://HOST:PORT"``.

    Parameters
    ----------
    cluster : str
        The cluster, as given to ``--cluster``.

    Returns
    -------
    ClusterSpec

    Raises
    ------
    TypeError
        ``cluster`` is not a string.
    ValueError
        Any other form, N < 1, or a port outside 1..65535.

    Examples
    --------
    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', n_workers=2, address=None)
    >>> parse_cluster("tcp://127.0.0.1:8786").address
    'tcp://127.0.0.1:8786'
    """
    if not isinstance(cluster, str):
        raise TypeError(f"cluster must be a string ({CLUSTER_FORMS}), got {type(cluster).__name__}")
    text = cluster.strip()
    m = _LOCAL.fullmatch(text)
    if m:
        return ClusterSpec("local", n_workers=check_int("cluster 'local:N' worker count N", int(m["n"])))
    m = _TCP.fullmatch(text)
    if m:
        check_int("cluster port", int(m["port"]), low=1, high=65535)
        return ClusterSpec("address", address=text)
    raise ValueError(f"cluster must be {CLUSTER_FORMS}, got {cluster!r}")


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "sweeps on a cluster need Dask: pip install 'dask[distributed]' "
            "(or pip install 'hts_lib[cluster]')"
        ) from None
    return distributed


@contextlib.contextmanager
def cluster_client(cluster) -> Iterator:
    """Open a ``dask.distributed.Client`` for ``cluster``; close it (and what was started for it) on exit.

    Parameters
    ----------
    cluster : str, dask.distributed.Client or cluster object
        ``"local:N"`` starts a LocalCluster of N single-threaded worker processes on 127.0.0.1 (its
        dashboard, when bokeh is installed, on a free port of 127.0.0.1) and shuts it down on exit;
        ``"tcp://HOST:PORT"`` connects to a running scheduler (within
        ``distributed.comm.timeouts.connect``, 30 s by default) and leaves it running. A Client is
        used as it is and left open; a cluster object (for example a dask-jobqueue
        ``SLURMCluster``) gets a Client that is closed on exit, the cluster itself is left running.

    Yields
    ------
    dask.distributed.Client

    Raises
    ------
    TypeError, ValueError
        ``cluster`` is of another type or form (see :func:`parse_cluster`).
    ImportError
        dask.distributed is not installed.
    OSError
        The scheduler cannot be reached (the message names the address).
    """
    if isinstance(cluster, str):
        spec = parse_cluster(cluster)
        distributed = _import_distributed()
    else:
        distributed = _import_distributed()
        if isinstance(cluster, distributed.Client):
            yield cluster
            return
        if not hasattr(cluster, "scheduler_address"):
            raise TypeError(
                f"cluster must be {CLUSTER_FORMS}, a dask.distributed Client or a cluster "
                f"object, got {type(cluster).__name__}"
            )
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    if spec.kind == "local":
        with dask.config.set(LOCAL_SCHEDULER_CONFIG):
            local = distributed.LocalCluster(
                n_workers=spec.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
                preload=[__name__],
            )
        try:
            client = distributed.Client(local, set_as_default=False)
            try:
                yield client
            finally:
                client.close()
        finally:
            local.close()
        return
    try:
        client = distributed.Client(spec.address, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise OSError(
            f"cannot reach the Dask scheduler at {spec.address} ({exc}); start one with "
            f"`dask scheduler` and `dask worker {spec.address}`"
        ) from None
    try:
        yield client
    finally:
        client.close()


def dask_setup(worker) -> None:
    """Worker preload of the ``local:N`` cluster: ignore Ctrl-C, which the client handles.

    A terminal sends SIGINT to every process of the foreground job, the worker processes of a
    LocalCluster included; without this each prints a traceback while the client is already
    cancelling the sweep and stopping them.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class RunFailed(Exception):
    """A run raised on a worker; the message is the run's traceback (raised so that Dask retries it)."""


@functools.lru_cache(maxsize=4)
def _unpickled(run_fn_bytes: bytes) -> Callable:
    import cloudpickle

    return cloudpickle.loads(run_fn_bytes)


def _cluster_task(run_fn_bytes: bytes, config: dict, rid: str, git_revision: str | None) -> dict:
    """One run on a worker: the validated record, or RunFailed with the traceback."""
    status, payload = _execute(_unpickled(run_fn_bytes), config, rid, git_revision)
    if status != "ok":
        raise RunFailed(payload)
    return payload


def _failure_text(exc: BaseException, retries: int) -> str:
    if isinstance(exc, RunFailed):
        tries = f" (tried {retries + 1} times)" if retries else ""
        return f"{exc.args[0].rstrip()}{tries}\n"
    name = type(exc).__name__
    if name == "KilledWorker":
        return (
            f"KilledWorker: every worker that ran this run died (the scheduler's allowed-failures was "
            f"exceeded; a run that crashes its process, out of memory for example, looks like this): "
            f"{exc}\n"
        )
    return f"{name}: {exc}\n"


def run_on_cluster(
    client, run_fn: Callable, todo: Mapping[str, dict], git_revision: str | None, *, retries: int = 0
) -> Iterator[tuple[str, str, object]]:
    """Submit one task per run and yield ``(run_id, status, payload)`` as runs complete.

    ``status`` is ``"ok"`` with the validated record as payload, or ``"error"`` with the error
    text (a traceback, or the scheduler's ``KilledWorker`` message). The caller writes the files;
    tasks still pending when the caller stops iterating (Ctrl-C, an exception) are cancelled.

    Parameters
    ----------
    client : dask.distributed.Client
    run_fn : callable
        Shipped to the workers with cloudpickle (by value for ``__main__`` and for modules
        registered with ``cloudpickle.register_pickle_by_value``, by reference otherwise: the
        workers then need the module installed).
    todo : mapping
        ``run_id -> normalised config``, in submission order.
    git_revision : str or None
        Stored in each record's provenance.
    retries : int
        How often a run that raises is tried again before it is recorded as failed.

    Yields
    ------
    tuple of (str, str, object)
    """
    import cloudpickle

    distributed = _import_distributed()
    retries = check_int("retries", retries, low=0)
    fn_bytes = cloudpickle.dumps(run_fn)
    token = uuid.uuid4().hex[:8]
    futures = {}
    for rid, cfg in todo.items():
        fut = client.submit(
            _cluster_task,
            fn_bytes,
            cfg,
            rid,
            git_revision,
            key=f"hts-run-{rid}-{token}",
            retries=retries,
            pure=False,
        )
        futures[fut.key] = (rid, fut)
    try:
        # with_results: each result is fetched in the background as soon as its task finishes
        done = distributed.as_completed(
            [f for _, f in futures.values()], loop=client.loop, with_results=True, raise_errors=False
        )
        for fut, result in done:
            rid, _ = futures.pop(fut.key)
            if fut.status == "finished":
                yield rid, "ok", result
            else:  # erred: (type, exception, traceback); cancelled: the CancelledError
                exc = result[1] if isinstance(result, tuple) else result
                yield rid, "error", _failure_text(exc, retries)
            fut.release()
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel([f for _, f in futures.values()], force=True)
