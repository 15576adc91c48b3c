"""`prize probes`, `prize score`, `prize leaderboard`, `prize submit`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from prize.cli.common import (
    cluster_options,
    data_option,
    deprecated,
    emit,
    examples,
    executor_for,
    home_of,
    json_option,
    open_data,
    output_path,
    quiet,
    shutdown,
)
from prize.errors import DataError
from prize.metrics import fmt
from prize.progress import heartbeat


@click.group("probes")
def probes():
    """The probe store: list, show and remove stored predictors."""


@probes.command("list", epilog=examples(
    'prize probes list --data synth-small',
    'prize probes list --data synth-small --json'))
@data_option
@json_option
@click.pass_context
def probes_list(ctx, data_name, as_json):
    """Every predictor stored for a dataset, with its status: ok, stale (made on another
    version of the dataset) or broken (unreadable, missing, truncated or NaN files)."""
    ds, store = open_data(ctx, data_name)
    rows = []
    for e in store.survey(ds):
        m = e.record
        row = {k: getattr(m, k) if m is not None else None
               for k in ("name", "family", "model", "round", "probe_rmse", "quiz_rmse",
                         "seconds", "created_at")}
        rows.append({**row, "name": e.name, "status": e.status, "problem": e.problem})
    emit(ctx, {"dataset": ds.name, "predictors": rows}, as_json, lambda r: [
        f"{'predictor':<32}{'family':<10}{'round':<7}{'status':<8}{'probe':>8}{'quiz':>8}"
        f"{'seconds':>9}",
        *(f"{p['name']:<32}{p['family'] or '':<10}{p['round'] or '':<7}{p['status']:<8}"
          f"{fmt(p['probe_rmse']):>8}{fmt(p['quiz_rmse']):>8}{fmt(p['seconds'], '.1f'):>9}"
          + (f"\n    {p['problem']}" if p["problem"] else "")
          for p in r["predictors"])])


@probes.command("show", epilog=examples(
    'prize probes show --data synth-small mf',
    'prize probes show --data synth-small mf --json'))
@data_option
@click.argument("predictor")
@json_option
@click.pass_context
def probes_show(ctx, data_name, predictor, as_json):
    """One predictor's metadata (config, scores, provenance)."""
    ds, store = open_data(ctx, data_name)
    m = store.meta(ds.name, predictor)
    if m is None:
        raise DataError(f"no predictor {predictor!r} for dataset {ds.name!r}",
                        fix=f"See `prize probes list --data {ds.name}`")
    emit(ctx, m.public(), as_json, lambda r: [json.dumps(r, indent=2)])


@probes.command("rm", epilog=examples(
    'prize probes rm --data synth-small mf-old svdpp-old'))
@data_option
@click.argument("predictors", nargs=-1, required=True)
@click.pass_context
def probes_rm(ctx, data_name, predictors):
    """Remove predictors from the store (exit 2 if one of them is not there)."""
    ds, store = open_data(ctx, data_name)
    missing = []
    for p in predictors:
        if store.remove(ds.name, p):
            click.echo(f"removed {p}", err=True)
        else:
            missing.append(p)
    if missing:
        raise DataError(f"no predictor {', '.join(map(repr, missing))} in the store of "
                        f"{ds.name!r}", fix=f"See `prize probes list --data {ds.name}`")


@click.command("score", epilog=examples(
    'prize score --data synth-small mf',
    'prize score --data u1 ml100k-blend-fwls --reveal --json'))
@data_option
@click.argument("predictor")
@click.option("--reveal", is_flag=True, help="Also show the test RMSE (kept hidden otherwise, "
              "as the Prize did).")
@json_option
@click.pass_context
def score_cmd(ctx, data_name, predictor, reveal, as_json):
    """A stored predictor's RMSE on probe and quiz, and its improvement over the reference."""
    from prize.leaderboard import score

    ds, store = open_data(ctx, data_name)
    r = score(ds, store, predictor, reveal=reveal)
    on = r["improvement_on"]
    emit(ctx, r, as_json, lambda r: [
        f"{predictor} on {ds.name}: probe {fmt(r['probe_rmse'])}, quiz {fmt(r['quiz_rmse'])}"
        + (f", test {fmt(r['test_rmse'])}" if reveal else ""),
        f"  {fmt(r['improvement'], '+.2f')}% vs {r['reference']} (on {on})"])


@click.group("leaderboard", invoke_without_command=True)
@click.option("--data", "data_name", help="Dataset name.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@click.option("--reveal", is_flag=True, help="Show test RMSEs too.")
@click.pass_context
def leaderboard(ctx, data_name, as_json, markdown, reveal):
    """The leaderboard of a dataset: predictors, the reference, the 10% target, the floor."""
    if ctx.invoked_subcommand is not None:
        return
    if not data_name:
        raise click.UsageError("--data is required")
    from prize.barrier import load_estimate
    from prize.leaderboard import render_markdown, render_text, table

    ds, store = open_data(ctx, data_name)
    t = table(ds, store, reveal=reveal, barrier=load_estimate(home_of(ctx), ds))
    if as_json:
        click.echo(json.dumps(t, indent=2))
    elif markdown:
        click.echo(render_markdown(t), nl=False)
    else:
        click.echo(render_text(t))


@click.command("submit", epilog=examples(
    'prize submit --data netflix --predictor blend-linear --out blend.txt',
    'prize submit --data netflix --check blend.txt'))
@data_option
@click.option("--predictor", help="The stored predictor whose qualifying predictions to write.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Output file (default $PRIZE_HOME/submissions/DATASET-PREDICTOR.txt).")
@click.option("--check", "check_file", type=click.Path(exists=True, dir_okay=False),
              help="Validate (and, where truth exists, score) a submission file instead.")
@click.option("--reveal", is_flag=True, help="With --check: also score on test.")
@json_option
@click.pass_context
def submit_cmd(ctx, data_name, predictor, out, check_file, reveal, as_json):
    """Write a submission in the official format, or check one."""
    from prize.submission import check_submission, write_submission

    ds, store = open_data(ctx, data_name)
    if check_file:
        r = check_submission(ds, Path(check_file), reveal=reveal)
        emit(ctx, r, as_json, lambda r: [
            f"{check_file}: valid, {r['pairs']:,} predictions"
            + (f"; quiz RMSE {r['quiz_rmse']:.4f}" if r.get("quiz_rmse") is not None else "")
            + (f", test RMSE {r['test_rmse']:.4f}" if r.get("test_rmse") is not None else "")])
        return
    if not predictor:
        raise click.UsageError("give --predictor NAME (or --check FILE)")
    pred = store.read(ds, predictor, "qualifying", mmap=False)
    path = output_path(ctx, out, "submissions", f"{ds.name}-{predictor}.txt")
    m = write_submission(ds, pred, path, [predictor])
    emit(ctx, {**m, "path": str(path)}, as_json,
          lambda r: [f"wrote {r['pairs']:,} predictions to {r['path']} (+ {r['file']}.json)"])


@leaderboard.command("run", epilog=examples(
    "prize leaderboard run --predictor-set demo --data synth-small",
    "prize leaderboard run --predictor-set progress2007 --data netflix --final --cluster local:2"))
@click.option("--predictor-set", "set_name", default=None, metavar="SET",
              help="Predictor set: a name in prize/configs/leaderboard/ or a .toml path "
                   "[default: demo].")
@click.option("--set", "old_set_name", default=None, hidden=True,
              callback=deprecated("leaderboard run --set SET", "--predictor-set SET"))
@data_option
@click.option("--final", is_flag=True, help="Also run the final round (refit on train+probe).")
@cluster_options("trainings")
@click.option("--no-blend", is_flag=True, help="Train only; skip the blends and submission.")
@json_option
@click.pass_context
def leaderboard_run(ctx, set_name, old_set_name, data_name, final, cluster, insecure, no_blend,
                    as_json):
    """Train every predictor of a set that the store lacks, blend, submit, print the table.

    The data set's reference predictor (the one its meta names, as `prize data info` shows)
    is trained too when the set lacks it, and blended with the rest."""
    from prize.barrier import load_estimate
    from prize.leaderboard import render_text, run

    if set_name and old_set_name and set_name != old_set_name:
        raise click.UsageError("give the predictor set once, with --predictor-set")
    set_name = set_name or old_set_name or "demo"
    ds, store = open_data(ctx, data_name)
    executor, info = executor_for(ctx, cluster, insecure, as_json)
    try:
        report = run(ds, store, set_name, home=home_of(ctx), final=final, executor=executor,
                     progress=not as_json and not quiet(ctx),
                     threads=info.get("task_threads"), blend=not no_blend,
                     barrier=load_estimate(home_of(ctx), ds),
                     submissions=home_of(ctx) / "submissions",
                     log=None if as_json or quiet(ctx) else lambda m: click.echo(m, err=True))
    finally:
        shutdown(executor, info)
    results = report["trained"]
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        click.echo(f"FAILED {r['name']} ({r['round']} round): {r['error']}", err=True)
        if ctx.obj.get("verbose") and r.get("traceback"):
            click.echo(r["traceback"], err=True)
    report["executor"] = {k: v for k, v in info.items() if k != "close"}
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(render_text(report["table"]))
        if failed:
            click.echo(f"{len(failed)} of {len(results)} trainings failed (see above).")
        for b in report["blends"]:
            if b.get("submission"):
                click.echo(f"submitted {b['name']} (best CV RMSE on probe): {b['submission']}\n"
                           f"  check it: prize submit --data {ds.name} --check "
                           f"{b['submission']}")
    if failed:
        ctx.exit(1)


@leaderboard.command("report", epilog=examples(
    'prize leaderboard report --data synth-small',
    'prize leaderboard report --data netflix --no-barrier --out /tmp/report'))
@data_option
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default $PRIZE_HOME/reports/DATASET).")
@click.option("--no-barrier", is_flag=True, help="Skip the magic-barrier estimate.")
@json_option
@click.pass_context
def leaderboard_report(ctx, data_name, out, no_barrier, as_json):
    """Write leaderboard.md, leaderboard.json and the charts to $PRIZE_HOME/reports/DATASET/
    (or --out)."""
    from prize.leaderboard.report import write_report

    ds, store = open_data(ctx, data_name)
    barrier = None
    if not no_barrier:  # the stored estimate of this data, else a fresh one (then stored)
        from prize.barrier import estimate, load_estimate, save_estimate

        barrier = load_estimate(home_of(ctx), ds)
        if barrier is None:
            with heartbeat("estimating the magic barrier (stored for the next report)",
                           enabled=not as_json and not quiet(ctx)):
                barrier = estimate(ds, store)
            save_estimate(home_of(ctx), ds, barrier)
    folder = output_path(ctx, out, "reports", ds.name)
    with heartbeat("writing the report", enabled=not as_json and not quiet(ctx)):
        r = write_report(ds, store, folder, barrier=barrier)
    emit(ctx, {"folder": str(folder), **r}, as_json, lambda r: [
        f"wrote {folder}/leaderboard.md, leaderboard.json and {', '.join(r['charts'])}"])
