"""`prize cv FAMILY`: per-fold and mean test RMSE on MovieLens 100K's official folds."""

from __future__ import annotations

import click

from prize.cli.common import emit, examples, home_of, json_option, quiet
from prize.models import FAMILIES


@click.command("cv", epilog=examples(
    'prize cv mf --data /path/to/ml-100k --config ml100k',
    'prize cv svdpp --data /path/to/ml-100k --folds u1 --folds u2 --json'))
@click.argument("family", type=click.Choice(list(FAMILIES)), metavar="FAMILY")
@click.option("--data", "--movielens", "source", required=True, metavar="PATH|NAME",
              help="The MovieLens 100K folder (with u1.base ... u5.test), or a stored "
                   "dataset imported from one.")
@click.option("--folds", default="u1..u5", show_default=True,
              help="u1..u5, or a list such as u1,u3,ua.")
@click.option("--config", default=None, help="Config TOML file, or the name of one in "
              "configs/FAMILY/ (default: the family's default).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field (TOML value, type-checked); repeatable.")
@json_option
@click.pass_context
def cv_cmd(ctx, family, source, folds, config, overrides, as_json):
    """Train FAMILY on each fold's uK.base (both rounds of `prize train`) and score uK.test.

    Each fold becomes a scratch dataset cv-<folder>-uK under $PRIZE_HOME/data, imported
    once and reused."""
    from prize.runs.cv import cross_validate_folds, parse_folds

    report = cross_validate_folds(family, source, parse_folds(folds), home_of(ctx),
                                  config=config, overrides=overrides,
                                  progress=not as_json and not quiet(ctx))

    def lines(r):
        for row in r["folds"]:
            yield (f"{row['fold']}: test RMSE {row['test_rmse']:.4f} ({row['epochs']} epochs, "
                   f"{row['seconds']:.1f} s)")
        yield f"mean over {len(r['folds'])} folds: {r['mean_test_rmse']:.4f}"

    emit(ctx, report, as_json, lines)
