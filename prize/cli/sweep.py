"""`prize sweep FAMILY`: a grid or random search whose trials are stored as predictors."""

from __future__ import annotations

import json

import click

from prize.cli.common import cluster_options, data_option, examples, executor_for, home_of, shutdown


@click.command("sweep", epilog=examples(
    'prize sweep mf --data synth-small --grid mf --dry-run',
    'prize sweep timesvdpp --data synth-small --grid timesvdpp --random 5 --cluster local:2'))
@click.argument("family")
@data_option
@click.option("--grid", "grid", required=True, metavar="FILE",
              help="Sweep file: a .toml path or a name in configs/sweeps/ (format: "
                   "prize/runs/sweep.py, README).")
@click.option("--random", "n_random", type=click.IntRange(min=1), default=None, metavar="N",
              help="Random search: N distinct trials drawn from the file's lists and ranges "
                   "(default: the whole grid).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random search's draws.")
@cluster_options("trials")
@click.option("--dry-run", is_flag=True,
              help="List the trials and which of them the store already holds; train nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def sweep_cmd(ctx, family, data_name, grid, n_random, seed, cluster, insecure, dry_run,
              as_json):
    """Train every trial of a sweep over FAMILY's settings that the store lacks; print the
    trials, best probe RMSE first.

    Each trial is stored as the predictor FAMILY-SWEEP-HASH (the hash is the trial's
    config), so a rerun resumes and the blender can use every trial."""
    from prize.runs.sweep import load_sweep, render_text, run_sweep, trials

    home = home_of(ctx)
    sweep = load_sweep(grid, family)
    ts = trials(sweep, random=n_random, seed=seed)
    if n_random and len(ts) < n_random:
        click.echo(f"note: {sweep.path} holds only {len(ts)} distinct configs; running "
                   "each once", err=True)
    quiet = as_json or ctx.obj.get("quiet")
    info: dict = {"kind": "none (dry run)"}
    if dry_run:
        report = run_sweep(sweep, ts, home=home, data=data_name, dry_run=True)
    else:
        executor, info = executor_for(ctx, cluster, insecure, as_json)
        try:
            report = run_sweep(sweep, ts, home=home, data=data_name, executor=executor,
                               progress=not quiet, threads=info.get("task_threads"))
        finally:
            shutdown(executor, info)
    report.update(mode="random" if n_random else "grid", seed=seed if n_random else None,
                  executor={k: v for k, v in info.items() if k != "close"})
    for f in report["failed"]:
        click.echo(f"FAILED {f['name']}: {f['error']}", err=True)
        if f.get("traceback"):
            click.echo(f["traceback"].rstrip(), err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        for line in render_text(report):
            click.echo(line)
    if report["failed"]:
        ctx.exit(1)
