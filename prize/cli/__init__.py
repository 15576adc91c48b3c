"""The `prize` command line: a thin click layer over the library.

Exit codes: 0 success, 2 bad usage or bad input (the message names file, line and fix),
1 anything else.
"""

from __future__ import annotations

import sys

import click

from prize import __version__
from prize.cli.blend import barrier_cmd, blend_cmd
from prize.cli.data import data
from prize.cli.store import leaderboard, probes, score_cmd, submit_cmd
from prize.cli.sweep import sweep_cmd
from prize.cli.train import train_cmd
from prize.errors import PrizeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prize")
@click.option("--home", type=click.Path(file_okay=False), envvar="PRIZE_HOME",
              help="Where datasets, probes and reports live (default $PRIZE_HOME or ./prize_home).")
@click.option("-v", "--verbose", count=True, help="More output; -vv shows tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@click.pass_context
def cli(ctx: click.Context, home, verbose, quiet):
    """prize: the Netflix Prize, end to end, on one machine."""
    from prize.paths import tidy

    ctx.ensure_object(dict)
    ctx.obj.update(home=home, verbose=verbose, quiet=quiet)
    for line in tidy(home):  # what killed writers left behind
        if verbose:
            click.echo(f"tidied: {line}", err=True)


cli.add_command(data)
cli.add_command(train_cmd)
cli.add_command(probes)
cli.add_command(score_cmd)
cli.add_command(leaderboard)
cli.add_command(submit_cmd)
cli.add_command(blend_cmd)
cli.add_command(barrier_cmd)
cli.add_command(sweep_cmd)


def main(argv=None) -> None:
    try:
        rc = cli.main(args=argv, prog_name="prize", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if isinstance(e, click.UsageError | click.BadParameter) else e.exit_code)
    except PrizeError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the CLI reports, then exits 1
        if "-vv" in (argv or sys.argv):
            raise
        click.echo(f"error: {type(e).__name__}: {e} (run with -vv for the traceback)", err=True)
        sys.exit(1)
