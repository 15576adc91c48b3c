"""The `prize` command line: a thin click layer over the library.

Exit codes: 0 success, 2 bad usage or bad input (the message names file, line and fix),
1 anything else.
"""

from __future__ import annotations

import errno
import shlex
import sys

import click

from prize import __version__
from prize.cli.blend import barrier_cmd, blend_cmd
from prize.cli.cv import cv_cmd
from prize.cli.data import data
from prize.cli.evaluate import evaluate_cmd
from prize.cli.predict import predict_cmd
from prize.cli.store import leaderboard, probes, score_cmd, submit_cmd
from prize.cli.sweep import sweep_cmd
from prize.cli.train import train_cmd
from prize.errors import PrizeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prize")
@click.option("--home", type=click.Path(file_okay=False), envvar="PRIZE_HOME",
              help="Where datasets, probes and reports live (default $PRIZE_HOME or ./prize_home).")
@click.option("-v", "--verbose", count=True,
              help="More output (-v: each epoch and step; -vv: also tracebacks).")
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
cli.add_command(predict_cmd)
cli.add_command(cv_cmd)
cli.add_command(evaluate_cmd)


def resume_hint(argv: list[str]) -> str:
    """What to run after an interrupt: a training goes on from its last checkpoint with
    ``--resume``; anything else is safe to run again (writes are atomic, and set and sweep
    runs skip what is stored)."""
    args = [a for a in argv if a != "--resume"]
    cmd = "prize " + " ".join(shlex.quote(a) for a in args)
    if "train" in args:
        return f"to continue from the last finished epoch, run: {cmd} --resume"
    return f"nothing half-written was kept; to start again, run: {cmd}"


def _interrupted(argv: list[str]):
    click.echo(f"\nInterrupted; {resume_hint(argv)}", err=True)
    sys.exit(130)


def verbosity(args: list[str]) -> int:
    """How many -v the global options hold (``-v -v``, ``-vv`` and ``--verbose --verbose``
    alike): 1 shows more, 2 shows tracebacks."""
    n, skip = 0, False
    for a in args:
        if skip:
            skip = False
        elif a in cli.commands:
            break  # the command: what follows are its own options
        elif a == "--home":
            skip = True
        elif a == "--verbose":
            n += 1
        elif len(a) > 1 and a[0] == "-" and set(a[1:]) <= set("vq"):
            n += a.count("v")
    return n


def main(argv=None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    tracebacks = verbosity(args) >= 2
    try:
        rc = cli.main(args=args, prog_name="prize", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except click.exceptions.Abort as e:
        # click turns Ctrl-C (KeyboardInterrupt) and EOFError into Abort.
        cause = e.__cause__ or e.__context__
        if isinstance(cause, EOFError):
            click.echo(f"error: unexpected end of input ({cause or 'EOFError'}): a file or "
                       "stream was cut short (run with -vv for the traceback)", err=True)
            sys.exit(1)
        _interrupted(args)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if isinstance(e, click.UsageError | click.BadParameter) else e.exit_code)
    except PrizeError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted(args)
    except OSError as e:
        if tracebacks:
            raise
        where = f" ({e.filename})" if e.filename else ""
        advice = {errno.ENOSPC: "free some space (or point PRIZE_HOME at a larger disk) and "
                                "run the command again; nothing half-written was kept",
                  errno.EDQUOT: "the disk quota is exhausted; free some space and run again",
                  errno.EACCES: "check the permissions of that path",
                  errno.EROFS: "the file system is read-only; choose another PRIZE_HOME"}
        click.echo(f"error: {e.strerror or e}{where}. "
                   + advice.get(e.errno, "(run with -vv for the traceback)"), err=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the CLI reports, then exits 1
        if tracebacks:
            raise
        click.echo(f"error: {type(e).__name__}: {e} (run with -vv for the traceback)", err=True)
        sys.exit(1)
