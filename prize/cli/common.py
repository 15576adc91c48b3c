"""What every `prize` command shares: the home folder, the dataset and store it opens,
the options several commands take, and the way a report is printed (text or ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from prize.paths import home


def examples(*lines: str) -> str:
    """A command's epilog: one or two example invocations, kept verbatim by click."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def deprecated(old: str, new: str):
    """A click callback for an option spelling kept one more release: it says to use
    ``new`` when ``old`` was given."""
    def callback(ctx, param, value):
        if value not in (None, (), False):
            click.echo(f"warning: {old} is deprecated and will be removed in the next release; "
                       f"use {new}", err=True)
        return value
    return callback


def output_path(ctx, given, *default_parts: str) -> Path:
    """Where a command writes: the path given (``--out``), else under $PRIZE_HOME."""
    return Path(given) if given else home_of(ctx).joinpath(*default_parts)


def home_of(ctx) -> Path:
    """``--home``, else ``$PRIZE_HOME``, else ./prize_home."""
    return home(ctx.obj.get("home") if ctx.obj else None)


def open_data(ctx, data_name: str):
    """(dataset, probe store) of ``--data`` under the home folder."""
    from prize.data.dataset import open_dataset
    from prize.probes import ProbeStore

    root = home_of(ctx)
    return open_dataset(data_name, root), ProbeStore(root / "probes")


def quiet(ctx) -> bool:
    return bool((ctx.obj or {}).get("quiet"))


def emit(ctx, report: dict, as_json: bool, lines) -> None:
    """Print ``report`` as JSON, or as the text ``lines(report)`` yields: the result, which
    ``-q`` never hides (it hides progress and chatter only)."""
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        for line in lines(report):
            click.echo(line)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
data_option = click.option("--data", "data_name", required=True, help="Dataset name.")


def cluster_options(what: str):
    """``--cluster`` and ``--insecure``, shared by every command that runs tasks."""
    def deco(f):
        f = click.option("--insecure", is_flag=True,
                         help="Allow a plain tcp:// scheduler address that is not loopback (an "
                              "open Dask port runs any code it is sent: prefer TLS or an SSH "
                              "tunnel).")(f)
        return click.option("--cluster", default=None, metavar="ADDRESS|local:N",
                            help=f"Run the {what} on a Dask scheduler (tcp://host:8786, "
                                 "tls://...) or on N local worker processes (local:N). "
                                 "Default: in this process.")(f)
    return deco


def executor_for(ctx, cluster: str | None, insecure: bool, as_json: bool):
    """(executor, info) of ``--cluster``; says where the Dask dashboard is."""
    from prize.runs.executors import make_executor

    executor, info = make_executor(cluster, insecure=insecure)
    if info.get("dashboard") and not as_json:
        click.echo(f"Dask dashboard: {info['dashboard']}", err=True)
    return executor, info


def shutdown(executor, info: dict) -> None:
    executor.shutdown()
    if info.get("close"):
        info["close"]()
