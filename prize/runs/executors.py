"""The executor seam: where the trainings of a set or a sweep run.

All multi-predictor work goes through a :class:`concurrent.futures.Executor`: in-process
by default (:class:`InProcessExecutor`), a local process pool (``pool:N``), or a Dask
cluster (``local:N``, a scheduler address; its ``Client.get_executor()``). Tasks receive
paths and plain dicts, never arrays, so nothing in the model code knows which executor
runs it. Two trainers side by side on one machine each get one thread
(:func:`limit_threads`), or they slow each other down.

Dask (optional: ``pip install 'netflix-prize[dask]'``): a Dask scheduler runs whatever task
it is sent, so an open scheduler port is remote code execution for anyone who can reach
it. Hence:

- ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
  127.0.0.1 only;
- a ``tls://`` address uses Dask's TLS security (certificates from the Dask config,
  ``distributed.comm.tls.*``, or ``DASK_DISTRIBUTED__COMM__TLS__*`` variables);
- a plain ``tcp://`` address is accepted only on loopback (an SSH tunnel ends there),
  unless ``--insecure`` says the network is trusted.

Workers load the dataset from its folder by memory map and write to the same probe store,
so the store must sit on storage every worker sees with an atomic ``rename``: a local disk
for ``local:N``; NFS, Lustre, GPFS or CephFS across machines (not object stores mounted
through FUSE, whose rename is a copy).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from urllib.parse import urlparse

from prize.errors import ConfigError

#: How often a task is retried on another worker after its worker died.
RETRIES = 2

_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS")


def limit_threads(n: int = 1) -> None:
    """Two trainers side by side on a 2-core machine each get one thread, or they slow
    each other down."""
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    # Models that pick their own thread count (the RBM's `threads`) stay within this cap.
    os.environ["PRIZE_MAX_THREADS"] = str(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass
    # numba reads NUMBA_NUM_THREADS once, when it starts; in a worker that has imported it
    # already, the count must be set directly.
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


class InProcessExecutor(Executor):
    """Runs each task at submit time, in this process (the default)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001
            f.set_exception(e)
        return f


def make_executor(cluster: str | None, *, insecure: bool = False) -> tuple[Executor, dict]:
    """(executor, info) for ``--cluster``: None (in-process); ``local:N``, a Dask
    LocalCluster of N workers on loopback (a plain process pool where Dask is not
    installed); ``pool:N``, a process pool; or a Dask scheduler address.

    ``info["task_threads"]`` is the thread count each task should keep to: 1 where the
    workers share this machine's cores (local:N, pool:N), else absent (no limit)."""
    executor, info = _make_executor(cluster, insecure)
    if cluster is not None and cluster.startswith(("local:", "pool:")):
        info["task_threads"] = 1
    return executor, info


def _make_executor(cluster: str | None, insecure: bool) -> tuple[Executor, dict]:
    if cluster is None:
        return InProcessExecutor(), {"kind": "in-process", "workers": 1}
    if cluster.startswith("local:"):
        _count(cluster)
        try:
            import distributed  # noqa: F401
        except ImportError:  # no Dask: the same work on a plain local process pool
            cluster = "pool:" + cluster.split(":", 1)[1]
    if cluster.startswith("pool:"):
        n = _count(cluster)
        import multiprocessing as mp

        ex = ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"),
                                 initializer=limit_threads, initargs=(1,))
        return ex, {"kind": "process-pool", "workers": n}
    return dask_executor(cluster, insecure=insecure)


def max_workers() -> int:
    """The most local workers accepted: 4 per core (more only queue, and each costs a
    process and its memory)."""
    return 4 * (os.cpu_count() or 1)


def _count(cluster: str) -> int:
    limit = max_workers()
    try:
        n = int(cluster.split(":", 1)[1])
        if not 1 <= n <= limit:
            raise ValueError
        return n
    except ValueError:
        raise ConfigError(f"--cluster {cluster!r}: expected local:N (or pool:N) with N from 1 "
                          f"to {limit} (4 per core on this machine)") from None




def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback
                       for a in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def check_address(address: str, insecure: bool) -> None:
    """Refuse a plain-TCP scheduler that is not on loopback, unless told otherwise."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    # Parse strictly: no user info ('tcp://10.0.0.1@127.0.0.1' connects to 127.0.0.1 in one
    # parser and 10.0.0.1 in another), no path, query or fragment, a numeric port.
    try:
        port = url.port
    except ValueError:
        port = -1
    if ("@" in url.netloc or url.path not in ("", "/") or url.query or url.fragment
            or not url.hostname or port == -1 or any(c.isspace() for c in address)):
        raise ConfigError(f"--cluster {address!r}: not a plain scheduler address; expected "
                          "tcp://HOST:PORT or tls://HOST:PORT (no user@, path or query)")
    if url.scheme == "tls":
        return
    if url.scheme not in ("tcp", "ws", "inproc"):
        raise ConfigError(f"--cluster {address!r}: expected tcp://host:port, tls://host:port "
                          "or local:N")
    if url.scheme in ("tcp", "ws") and not _is_loopback(url.hostname or "") and not insecure:
        raise ConfigError(
            f"--cluster {address!r}: refusing a plain-TCP Dask scheduler that is not on this "
            "machine's loopback. A Dask scheduler runs any code it is sent, so an open port is "
            "remote code execution for whoever reaches it. Use TLS (tls://, see the README), or "
            "an SSH tunnel (ssh -L 8786:localhost:8786 host, then tcp://127.0.0.1:8786); pass "
            "--insecure only on a network you trust completely.")


def dask_executor(cluster: str, *, insecure: bool = False, retries: int = RETRIES):
    """(executor, info) for a Dask cluster: ``local:N`` or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(f"--cluster {cluster!r} needs Dask: pip install 'prize[dask]'"
                          ) from None
    if cluster.startswith("dask-local:") or cluster.startswith("local:"):
        n = _count(cluster)
        lc = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address="127.0.0.1:0",
                          silence_logs=40)
        client = Client(lc)

        def close():
            client.close()
            lc.close()
    else:
        check_address(cluster, insecure)
        client = Client(cluster)
        lc = None

        def close():
            client.close()
    executor = client.get_executor(retries=retries, pure=False)
    info = {"kind": "dask", "address": client.scheduler.address,
            "workers": len(client.scheduler_info().get("workers", {})),
            "dashboard": client.dashboard_link, "close": close}
    return executor, info
