"""`prize train FAMILY`: fit a predictor, predict probe and qualifying, store both."""

from __future__ import annotations

import json

import click

from prize.cli.common import examples, home_of, open_data
from prize.models import FAMILIES


@click.command("train", help=(
    "Train a predictor of FAMILY on a dataset and store its predictions.\n\nFAMILY is one "
    f"of: {', '.join(FAMILIES)}. Each reads prize/configs/FAMILY/default.toml unless "
    "--config names another."), epilog=examples(
    'prize train mf --data synth-small --set n_factors=100',
    'prize train knn --data ml100k --config cinematch-proxy --name knn-cinematch-proxy'))
@click.argument("family", type=click.Choice(list(FAMILIES)), metavar="FAMILY")
@click.option("--data", "data_name", required=True, help="Dataset name (or folder).")
@click.option("--config", default=None,
              help="Config TOML file, or the name of one in configs/FAMILY/ (default: the "
                   "family's default).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field (TOML value, type-checked); repeatable.")
@click.option("--name", default=None, help="Predictor name in the probe store "
              "(default FAMILY-CONFIG).")
@click.option("--round", "round_", type=click.Choice(["probe", "final"]), default="probe",
              show_default=True, help="probe: fit on TRAIN, predict probe and qualifying. "
              "final: refit on TRAIN+PROBE with the probe round's settings, epochs and seed, "
              "and replace the qualifying predictions.")
@click.option("--resume", is_flag=True, help="Continue from the last epoch's checkpoint.")
@click.option("--keep-train-predictions", is_flag=True,
              help="Also store predictions of the training rows (for kNN on residuals).")
@click.option("--train-folds", type=click.IntRange(min=2), default=None, metavar="K",
              help="Store out-of-fold training predictions instead: each fold of K "
                   "predicted by the same model fitted on the others (K more fits; "
                   "implies --keep-train-predictions).")
@click.option("--residuals-of", default=None, metavar="PREDICTOR",
              help="Fit on the training residuals of a stored predictor (kept with "
                   "--keep-train-predictions) and add its predictions back.")
@click.option("--save-model/--no-save-model", default=None,
              help="Keep the fitted model in the probe store, for `prize predict` and "
                   "prize.load_model (default: when its arrays take at most 256 MiB).")
@click.option("--force", is_flag=True, help="Replace a stored predictor of this name trained "
              "with other settings.")
@click.option("--allow-worse", is_flag=True,
              help="Store the predictor even when its probe RMSE does not beat the biases "
                   "baseline (or, with --residuals-of, its base predictor).")
@click.option("--reveal", is_flag=True, help="Also print the test RMSE (hidden otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def train_cmd(ctx, family, data_name, config, overrides, name, round_, resume,
              keep_train_predictions, train_folds, residuals_of, save_model, force,
              allow_worse, reveal, as_json):
    from prize.runs.single import train

    ds, store = open_data(ctx, data_name)
    quiet = as_json or ctx.obj.get("quiet")
    record = train(ds, store, family, config=config, overrides=overrides, name=name,
                   round_=round_, resume=resume, keep_train=keep_train_predictions,
                   train_folds=train_folds or 0,
                   residuals_of=residuals_of, allow_worse=allow_worse,
                   checkpoint_dir=home_of(ctx) / "checkpoints" / ds.name, progress=not quiet,
                   save_model=save_model, force=force)
    shown = record.to_json() if reveal else record.public()
    result = {k: v for k, v in shown.items() if k != "history"}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:  # -q hides progress, never the result
        if ctx.obj.get("verbose") and record.round == "probe":  # -v: every epoch
            for h in record.history:
                probe = h.get("probe_rmse")
                click.echo(f"  epoch {h['epoch']:>3}: train {h['train_rmse']:.4f}"
                           + (f", probe {probe:.4f}" if probe is not None else "")
                           + f" ({h['seconds']:.2f} s, "
                           f"{h['updates'] / max(h['seconds'], 1e-9) / 1e6:.1f}M ratings/s)")
        line = f"{record.name}: probe RMSE {record.probe_rmse:.4f}" if (
            record.probe_rmse is not None) else f"{record.name}:"
        if record.quiz_rmse is not None:
            line += f", quiz RMSE {record.quiz_rmse:.4f}"
        if reveal and record.test_rmse is not None:
            line += f", test RMSE {record.test_rmse:.4f}"
        seconds = record.extra.get("final_seconds", record.seconds)
        line += f" ({record.round} round, {seconds:.1f} s"
        if record.epochs:
            line += f", {record.epochs} epochs"
        click.echo(line + ")")
