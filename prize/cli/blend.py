"""`prize blend` and `prize barrier`."""

from __future__ import annotations

import click

from prize.barrier import ESTIMATOR_NAMES
from prize.blend import BLENDERS
from prize.cli.common import data_option, emit, examples, home_of, json_option, open_data, quiet
from prize.metrics import fmt
from prize.progress import heartbeat


@click.command("blend", epilog=examples(
    'prize blend --data synth-small --method linear --select forward',
    'prize blend --data u1 --config gbdt-small --predictors mf svdpp rbm'))
@data_option
@click.option("--method", type=click.Choice(list(BLENDERS)), default=None,
              help="The blender (default: the config's method, else linear).")
@click.option("--predictors", multiple=True, metavar="NAME...",
              help="Stored predictors to blend (default: every one except blends). "
                   "Repeat the option or give several names after it.")
@click.option("--name", default=None, help="Name of the blend in the probe store "
              "(default blend-METHOD).")
@click.option("--select", type=click.Choice(["forward"]), default=None,
              help="Greedy forward selection of the predictors first.")
@click.option("--config", default=None,
              help="Config TOML file, or the name of one in configs/blend/ (default: "
                   "configs/blend/METHOD.toml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field (TOML value, type-checked); repeatable.")
@click.option("--reveal", is_flag=True, help="Also show the test RMSE.")
@json_option
@click.argument("extra", nargs=-1)
@click.pass_context
def blend_cmd(ctx, data_name, method, predictors, name, select, config, overrides, reveal,
              as_json, extra):
    """Blend stored predictors: cross-validate on probe, refit, apply to qualifying, store.

    Names after --predictors may follow it directly (--predictors A B C).
    """
    from prize.blend.run import run_blend

    ds, store = open_data(ctx, data_name)
    names = list(predictors) + list(extra)
    if extra and not predictors:
        raise click.UsageError(f"unexpected argument {extra[0]!r}")
    log = None if as_json or quiet(ctx) else (lambda msg: click.echo(msg, err=True))
    m = run_blend(ds, store, method, names or None, name=name, config=config,
                  overrides=overrides, select=select, log=log)
    keys = ("name", "dataset", "family", "model", "predictors", "folds", "probe_rmse",
            "cv_rmse", "cv_rmse_folds", "quiz_rmse", "best_single", "gain", "intercept",
            "weights", "bins", "drop_loss", "importances", "importance_kind", "skip_weights",
            "meta_only", "cv", "selection", "selection_info", "skipped_stale", "round",
            "seconds", "config")
    report = {k: m[k] for k in keys if k in m}
    if reveal:
        report["test_rmse"] = m.get("test_rmse")

    def lines(r):
        yield (f"{r['name']}: {r['model']} blend of {len(r['predictors'])} predictors, "
               f"{r['folds']['n_folds']}-fold CV ({r['folds']['by']} folds)")
        yield (f"  CV RMSE on probe {fmt(r['cv_rmse'], '.5f')}, quiz {fmt(r['quiz_rmse'], '.5f')}"
               + (f", test {fmt(r.get('test_rmse'), '.5f')}" if reveal else ""))
        b = r["best_single"]
        yield f"  best single: {b['name']} {b['probe_rmse']:.5f}; gain {r['gain']:+.5f}"
        yield from [f"  NOT BETTER than the best single predictor {b['name']}: its CV RMSE {r['cv_rmse']:.5f} does not beat {b['probe_rmse']:.5f} on probe; submit {b['name']} instead"] if r["gain"] <= 0 else []  # noqa: E501
        weights = r.get("weights") or {}
        drop = r.get("drop_loss") or {}
        imp = r.get("importances") or {}
        if weights and all(isinstance(v, float) for v in weights.values()):
            yield f"  {'predictor':<34}{'weight':>10}{'drop loss':>12}"
            for n in sorted(weights, key=lambda n: -drop.get(n, 0.0)):
                yield f"  {n:<34}{weights[n]:>10.4f}{fmt(drop.get(n), '.5f'):>12}"
        elif weights:
            yield f"  {'predictor':<34}{'const weight':>13}{'drop loss':>12}"
            for n in sorted(weights, key=lambda n: -drop.get(n, 0.0)):
                yield f"  {n:<34}{weights[n]['const']:>13.4f}{fmt(drop.get(n), '.5f'):>12}"
        if imp:
            yield f"  {'feature':<34}{'importance':>10}"
            for n in sorted(imp, key=lambda n: -imp[n]):
                yield f"  {n:<34}{imp[n]:>10.4f}"
        if r.get("selection"):
            info = r["selection_info"]
            yield f"  forward selection kept {info['best_n']} of {len(r['selection'])} steps:"
            for st in r["selection"]:
                yield f"    {st['n']:>3}  + {st['added']:<32}{st['rmse']:.5f}"
        if r.get("skipped_stale"):
            yield f"  skipped (trained on another version of the data): {r['skipped_stale']}"
        yield f"  stored as {r['name']} ({r['seconds']:.1f} s)"

    emit(ctx, report, as_json, lines)


@click.command("barrier", epilog=examples(
    'prize barrier --data synth-small',
    'prize barrier --data ml100k --only said --only herlocker --json'))
@data_option
@click.option("--method", type=click.Choice(ESTIMATOR_NAMES),
              default=None, help="The headline estimator (default ordinal).")
@click.option("--only", multiple=True,
              type=click.Choice(ESTIMATOR_NAMES),
              help="Run only these estimators (repeatable); the first is the headline "
                   "unless --method says otherwise.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting of prize.barrier.BarrierConfig; repeatable.")
@json_option
@click.pass_context
def barrier_cmd(ctx, data_name, method, only, overrides, as_json):
    """Estimate the magic barrier: the RMSE no predictor can beat, from the noise in the
    ratings; on synthetic data, compared with the known oracle."""
    from prize.barrier import BarrierConfig, estimate
    from prize.config import build, parse_overrides

    ds, store = open_data(ctx, data_name)
    cfg = build(BarrierConfig, parse_overrides(BarrierConfig, overrides), source="--set")
    if method is None and only:
        method = only[0]  # the headline is among those asked for
    with heartbeat("estimating the magic barrier", enabled=not as_json and not quiet(ctx)):
        r = estimate(ds, store, method, config=cfg, estimators=list(only) or None)
    from prize.barrier import save_estimate

    save_estimate(home_of(ctx), ds, r)  # the leaderboard shows the last estimate as its floor

    def lines(r):
        yield f"magic barrier of {r['dataset']} (RMSE on probe): {r['rmse']:.4f} ± " \
              f"{r['stderr']:.4f} [{r['method']}]"
        head = f"  {'estimator':<11}{'estimate':>9}{'stderr':>8}"
        oracle = (r.get("oracle") or {}).get("probe")
        if oracle is not None:
            head += f"{'error':>9}"
        yield head + "  source"
        for name, e in r["estimators"].items():
            line = f"  {name:<11}{e['rmse']:>9.4f}{e['stderr']:>8.4f}"
            if oracle is not None:
                line += f"{e['error']:>+9.4f}"
            yield line + f"  {e['citation']}"
        if oracle is not None:
            yield f"  oracle (known on this synthetic data): probe {oracle:.4f}"

    emit(ctx, r, as_json, lines)
