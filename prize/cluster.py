"""Dask as the executor of many trainings (optional: ``pip install 'prize[dask]'``).

A Dask scheduler runs whatever task it is sent, so an open scheduler port is remote code
execution for anyone who can reach it. Hence:

- ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
  127.0.0.1 only;
- a ``tls://`` address uses Dask's TLS security (certificates from the Dask config,
  ``distributed.comm.tls.*``, or ``DASK_DISTRIBUTED__COMM__TLS__*`` variables);
- a plain ``tcp://`` address is accepted only on loopback (an SSH tunnel ends there),
  unless ``--insecure`` says the network is trusted.

Workers load the dataset from its folder by memory map (tasks carry paths, never arrays)
and write to the same probe store, so the store must sit on storage every worker sees
with an atomic ``rename``: a local disk for ``local:N``; NFS, Lustre, GPFS or CephFS across
machines (not object stores mounted through FUSE, whose rename is a copy).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from prize.errors import ConfigError

#: How often a task is retried on another worker after its worker died.
RETRIES = 2


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
        n = int(cluster.split(":", 1)[1])
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
