"""`prize train FAMILY`: fit a predictor, predict probe and qualifying, store both."""

from __future__ import annotations

import json
from pathlib import Path

import click

from prize.errors import ConfigError, DataError


def default_name(family: str, config_path: Path | None, default_stem: str) -> str:
    stem = config_path.stem if config_path is not None else default_stem
    return family if stem == "default" else f"{family}-{stem}"


@click.command("train")
@click.argument("family")
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
@click.option("--residuals-of", default=None, metavar="PREDICTOR",
              help="Fit on the training residuals of a stored predictor (kept with "
                   "--keep-train-predictions) and add its predictions back.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def train_cmd(ctx, family, data_name, config, overrides, name, round_, resume,
              keep_train_predictions, residuals_of, as_json):
    """Train a predictor of FAMILY on a dataset and store its predictions."""
    from prize.cli.data import _home
    from prize.data.dataset import open_dataset
    from prize.models import family_module, make_predictor
    from prize.probes import ProbeStore
    from prize.runner import run_training

    home = _home(ctx)
    ds = open_dataset(data_name, home)
    store = ProbeStore(home / "probes")
    quiet = as_json or ctx.obj.get("quiet")
    if round_ == "final":
        if name is None:
            model, path = make_predictor(family, config, overrides)
            name = default_name(family, path, family_module(family).DEFAULT_CONFIG)
        meta = store.meta(ds.name, name)
        if meta is None:
            raise DataError(f"no probe round of {name!r} to refit",
                            fix=f"Run the probe round first: prize train {family} --data "
                                f"{ds.name} --name {name}")
        if meta["family"] != family:
            raise ConfigError(f"{name!r} belongs to family {meta['family']!r}, not {family!r}")
        store.check(ds, meta)
        values = {"model": meta["model"], **meta["config"]}
        model, _ = make_predictor(family, values=values)
        if config is not None or overrides:
            asked, _ = make_predictor(family, config, overrides)
            if asked.params() != model.params():
                raise ConfigError(
                    "the final round refits with the probe round's settings; drop --config/"
                    f"--set, or retrain the probe round of {name!r} with them first")
    else:
        model, path = make_predictor(family, config, overrides)
        if name is None:
            name = default_name(family, path, family_module(family).DEFAULT_CONFIG)
            if residuals_of:
                name = f"{name}-on-{residuals_of}"
        meta = None
    result = run_training(ds, model, name, store, round_=round_, probe_meta=meta,
                          resume=resume, keep_train=keep_train_predictions,
                          checkpoint_dir=home / "checkpoints" / ds.name, progress=not quiet,
                          residuals_of=residuals_of)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif not ctx.obj.get("quiet"):
        line = f"{name}: probe RMSE {result['probe_rmse']:.4f}" if result.get(
            "probe_rmse") is not None else f"{name}:"
        if result.get("quiz_rmse") is not None:
            line += f", quiz RMSE {result['quiz_rmse']:.4f}"
        line += f" ({result['round']} round, {result['seconds']:.1f} s"
        if result.get("epochs"):
            line += f", {result['epochs']} epochs"
        click.echo(line + ")")
