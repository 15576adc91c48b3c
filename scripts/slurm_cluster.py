"""Start a Dask cluster on SLURM with dask-jobqueue and train a leaderboard set on it.

    pip install 'prize[dask]' dask-jobqueue
    python scripts/slurm_cluster.py --set progress2007 --data netflix --jobs 8

Each SLURM job is one Dask worker with one thread (a trainer uses one core well; the
probe store must be on a file system every node sees, with atomic rename: NFS, Lustre,
GPFS). The scheduler runs here, on the login or head node, and speaks TLS when the Dask
config carries certificates; otherwise keep it on a private interface and reach it
through an SSH tunnel. Never expose a bare scheduler port on a public address: a Dask
scheduler runs any code it is sent.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="progress2007")
    ap.add_argument("--data", required=True)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--memory", default="16GB")
    ap.add_argument("--walltime", default="12:00:00")
    ap.add_argument("--queue", default=None)
    ap.add_argument("--final", action="store_true")
    args = ap.parse_args()

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    from prize.runs.sets import load_set, run_set

    cluster = SLURMCluster(cores=1, processes=1, memory=args.memory, walltime=args.walltime,
                           queue=args.queue, job_extra_directives=["--cpus-per-task=1"],
                           scheduler_options={"dashboard_address": "127.0.0.1:8787"})
    cluster.scale(jobs=args.jobs)
    client = Client(cluster)
    print(f"Dask dashboard (tunnel to it): {client.dashboard_link}")
    home = Path(os.environ.get("PRIZE_HOME", "prize_home")).resolve()
    results = run_set(load_set(args.set), home=home, data=args.data, final=args.final,
                      executor=client.get_executor(retries=2, pure=False))
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        print(f"FAILED {r['name']}: {r['error']}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
