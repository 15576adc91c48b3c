"""`prize data ...`: import, split, inspect and synthesise datasets."""

from __future__ import annotations

import json
from pathlib import Path

import click

from prize.cli.common import deprecated, emit, examples, home_of, json_option, quiet
from prize.errors import DataError
from prize.paths import check_name, dataset_dir


def _name(ctx, param, value):
    if value is not None:
        try:
            check_name(value, "dataset name")
        except DataError as e:
            raise click.BadParameter(str(e)) from None
    return value


name_option = click.option("--name", required=True, callback=_name,
                           help="Dataset name (a folder under $PRIZE_HOME/data).")
def probe_rule_option(f):
    """``--probe-rule recent|random`` (``--probe`` kept one release, deprecated)."""
    f = click.option("--probe", "old_probe_rule", type=click.Choice(["recent", "random"]),
                     default=None, hidden=True,
                     callback=deprecated("--probe recent|random", "--probe-rule"))(f)
    return click.option(
        "--probe-rule", "probe_rule", type=click.Choice(["recent", "random"]), default=None,
        help="With a given test file (--split, --protocol given): carve probe as each user's "
             "latest min(9, n/2) training ratings (recent, Netflix's rule; the default) or as "
             "many ratings drawn uniformly at random (random), as the u1..u5 test files "
             "were.")(f)
force_option = click.option("--force", is_flag=True, help="Replace a dataset of the same name.")
#: The presets of :mod:`prize.data.synth` and the law each is generated under (a test keeps
#: them equal), named here so that `prize --help` need not import the generator's numba
#: kernels.
PRESET_LAWS = {"tiny": 1, "small": 1, "tiny-twin": 3, "small-twin": 3, "medium": 9,
               "netflix": 9}
PRESET_NAMES = tuple(PRESET_LAWS)
#: The versions of its law, likewise (``prize.data.synth.LAWS``).
LAW_NAMES = ("1", "2", "3", "4", "5", "6", "7", "8", "9")
skip_option = click.option("--skip-bad-lines", is_flag=True,
                           help="Count and report bad lines instead of stopping at the first.")
duplicates_option = click.option(
    "--duplicates", type=click.Choice(["error", "first", "last"]), default="last",
    show_default=True, help="A (user, item) pair rated more than once: keep its most recent "
    "(last) or earliest (first) rating, file order breaking ties, and count the others; "
    "error: a bad line.")


@click.group()
def data():
    """Import, split, inspect and synthesise datasets."""


@data.group("import")
def import_():
    """Import ratings files into a dataset folder (written atomically)."""


def _import_lines(r: dict):
    yield f"imported {r['name']} -> {r['path']}"
    keys = ("ratings", "users", "movies", "items", "train", "probe", "qualifying", "titles")
    for k in keys:
        if k in r and r[k] is not None:
            yield f"  {k:<11}{r[k]:>14,}"
    for what, n in (r.get("dropped") or {}).items():
        yield f"  dropped {n:,} {what} pairs of movies not imported"
    if r.get("duplicates_dropped"):
        yield (f"  dropped {r['duplicates_dropped']:,} repeated ratings of a (user, item) pair "
               "(--duplicates: last keeps the most recent, first the earliest, error refuses)")
    b = r["bad_lines"]
    if b["total"]:
        yield f"  skipped {b['total']:,} bad lines: " + ", ".join(
            f"{k} ({v:,})" for k, v in b["by_problem"].items())
        for ex in b["examples"][:3]:
            yield f"    e.g. {ex}"
    rate = f", {r['lines_per_second']:,.0f} lines/s" if "lines_per_second" in r else ""
    yield f"  {r['seconds']:.1f} s{rate}; fingerprint {r['fingerprint']}"


@import_.command("netflix", epilog=examples(
    'prize data import netflix /path/to/netflix --name netflix',
    'prize data import netflix nf_prize_dataset.tar.gz --name netflix --skip-bad-lines'))
@click.argument("path", type=click.Path(exists=True))
@name_option
@click.option("--probe-file", "probe", type=click.Path(dir_okay=False),
              help="probe.txt, if not in PATH.")
@click.option("--probe", "old_probe", type=click.Path(dir_okay=False), hidden=True,
              callback=deprecated("import netflix --probe FILE", "--probe-file FILE"))
@click.option("--qualifying", type=click.Path(dir_okay=False),
              help="qualifying.txt, if not in PATH.")
@click.option("--titles", type=click.Path(dir_okay=False),
              help="movie_titles.txt (or .csv), if not in PATH.")
@click.option("--truth", type=click.Path(dir_okay=False),
              help="Truth of the qualifying pairs (qualifying_truth.txt), where known.")
@skip_option
@force_option
@json_option
@click.pass_context
def import_netflix_cmd(ctx, path, name, probe, old_probe, qualifying, titles, truth,
                       skip_bad_lines, force, as_json):
    """Netflix Prize files: a folder or .tar(.gz) with training_set/mv_*.txt (or
    combined_data_*.txt), probe.txt, qualifying.txt and movie_titles.txt."""
    from prize.data.netflix import import_netflix

    probe = probe or old_probe
    report = import_netflix(path, dataset_dir(name, home_of(ctx)), name=name, probe=probe,
                            qualifying=qualifying, titles=titles, truth=truth,
                            skip_bad_lines=skip_bad_lines, overwrite=force,
                            progress=not as_json and not quiet(ctx))
    emit(ctx, report, as_json, _import_lines)


@import_.command("movielens", epilog=examples(
    'prize data import movielens ml-100k --name ml100k',
    'prize data import movielens ml-100k --name u1 --split u1 --probe-rule random'))
@click.argument("path", type=click.Path(exists=True))
@name_option
@click.option("--split", type=click.Choice(["u1", "u2", "u3", "u4", "u5", "ua", "ub"]),
              help="MovieLens 100K official split: its .test file becomes the qualifying set "
                   "(protocol 'given').")
@click.option("--seed", default=0, show_default=True, help="Seed of the hold-out's tie-breaks "
              "and thirds.")
@probe_rule_option
@skip_option
@duplicates_option
@force_option
@json_option
@click.pass_context
def import_movielens_cmd(ctx, path, name, split, seed, probe_rule, old_probe_rule,
                         skip_bad_lines, duplicates, force, as_json):
    """MovieLens 100K (u.data), 1M or 10M (ratings.dat[.gz]) or latest/20M/25M (ratings.csv)."""
    from prize.data.movielens import import_movielens

    report = import_movielens(path, dataset_dir(name, home_of(ctx)), name=name, split=split,
                              seed=seed, skip_bad_lines=skip_bad_lines, overwrite=force,
                              probe=probe_rule or old_probe_rule or "recent",
                              duplicates=duplicates)
    emit(ctx, report, as_json, _import_lines)


def _scale(ctx, param, value):
    try:
        parts = [float(x) for x in value.split(":")]
        lo, hi = parts[0], parts[1]
        step = parts[2] if len(parts) > 2 else 0.0
        if len(parts) > 3 or hi <= lo or step < 0:
            raise ValueError
    except (ValueError, IndexError):
        raise click.BadParameter("expected MIN:MAX or MIN:MAX:STEP, e.g. 1:5:1 or 0.5:5:0.5"
                                 ) from None
    return lo, hi, step


@import_.command("csv", epilog=examples(
    'prize data import csv ratings.csv --name mine --header --columns user,item,rating,time',
    "prize data import csv r.tsv --name halfstar --sep '\\t' --columns user,item,rating,_ "
    "--scale 0.5:5:0.5"))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@name_option
@click.option("--sep", default=",", show_default=True, help="Field separator ('\\t' for tab).")
@click.option("--columns", default="user,item,rating,time", show_default=True,
              help="Field names in file order: user, item, rating, time; '_' skips a field.")
@click.option("--header/--no-header", default=False, show_default=True,
              help="The first line names the columns.")
@click.option("--time-format", default=None,
              help="strftime format of the time field (default: Unix seconds).")
@click.option("--scale", default="1:5:1", show_default=True, callback=_scale,
              help="Rating scale MIN:MAX[:STEP]; STEP 0 allows any value in range.")
@click.option("--seed", default=0, show_default=True)
@skip_option
@duplicates_option
@force_option
@json_option
@click.pass_context
def import_csv_cmd(ctx, path, name, sep, columns, header, time_format, scale, seed,
                   skip_bad_lines, duplicates, force, as_json):
    """Any delimited ratings file; the Netflix hold-out protocol is applied."""
    from prize.data.csv import import_csv

    report = import_csv(path, dataset_dir(name, home_of(ctx)), name=name, sep=sep, columns=columns,
                        header=header, time_format=time_format, scale=scale, seed=seed,
                        skip_bad_lines=skip_bad_lines, overwrite=force,
                        duplicates=duplicates)
    emit(ctx, report, as_json, _import_lines)


@data.command("split", epilog=examples(
    'prize data split mine --protocol netflix --seed 1',
    'prize data split u1 --protocol given --probe-rule random'))
@click.argument("name")
@click.option("--protocol", type=click.Choice(["netflix", "given"]), default="netflix",
              show_default=True,
              help="netflix: last ratings per user into probe/quiz/test thirds; given: keep the "
                   "fixed test file as qualifying and carve probe from the rest.")
@click.option("--seed", default=0, show_default=True)
@probe_rule_option
@json_option
@click.pass_context
def split_cmd(ctx, name, protocol, seed, probe_rule, old_probe_rule, as_json):
    """Re-split a dataset by the Netflix protocol (rewritten atomically)."""
    from prize.data.dataset import open_dataset
    from prize.data.split import resplit

    ds = open_dataset(name, home_of(ctx))
    meta = resplit(ds, ds.path, protocol=protocol, seed=seed,
                   probe=probe_rule or old_probe_rule or "recent")
    emit(ctx, meta, as_json, _info_lines)


def _info_lines(m: dict):
    c = m["counts"]
    yield f"{m['name']}  ({m['source']['format']}, fingerprint {m['fingerprint']})"
    proto = m.get("protocol")
    if isinstance(proto, dict):
        proto = f"{proto['name']} (seed {proto['seed']})"
    yield f"  protocol     {proto}"
    yield f"  users        {c['users']:>12,}"
    yield f"  items        {c['items']:>12,}"
    yield f"  rows         {c['rows']:>12,}"
    for k in ("train", "probe", "qualifying", "quiz", "test"):
        yield f"    {k:<11}{c[k]:>12,}"
    if m.get("date_range"):
        yield f"  dates        {m['date_range'][0]} .. {m['date_range'][1]}"
    total = sum(m["histogram"].values()) or 1
    yield "  ratings      " + "  ".join(
        f"{k}: {v / total:.1%}" for k, v in m["histogram"].items())
    ref = m.get("reference") or {}
    if ref.get("kind") == "official":
        yield f"  reference    {ref['name']}: quiz {ref['quiz']:.4f}, test {ref['test']:.4f}"
    elif ref:
        yield f"  reference    predictor '{ref['name']}' (trained on this dataset)"
    if m.get("oracle_rmse"):
        o = m["oracle_rmse"]
        yield "  oracle RMSE  " + ", ".join(f"{k} {v:.4f}" for k, v in o.items())


@data.command("info", epilog=examples(
    'prize data info synth-small',
    'prize data info netflix --json'))
@click.argument("name")
@json_option
@click.pass_context
def info_cmd(ctx, name, as_json):
    """Counts per split, dates, rating histogram, references, oracle and fingerprint."""
    from prize.data.dataset import open_dataset

    ds = open_dataset(name, home_of(ctx))
    emit(ctx, ds.meta, as_json, _info_lines)


@data.command("list", epilog=examples(
    'prize data list',
    'prize data list --json'))
@json_option
@click.pass_context
def list_cmd(ctx, as_json):
    """The datasets under $PRIZE_HOME/data."""
    root = home_of(ctx) / "data"
    rows = []
    for p in sorted(root.glob("*/meta.json")) if root.is_dir() else []:
        if p.parent.name.startswith("."):
            continue
        try:  # one broken folder must not hide the others
            m = json.loads(p.read_text())
            rows.append({"name": m["name"], "format": m["source"]["format"],
                         "rows": int(m["counts"]["rows"]), "fingerprint": m["fingerprint"]})
        except (OSError, ValueError, KeyError, TypeError) as e:
            rows.append({"name": p.parent.name, "error": f"unreadable {p} "
                         f"({type(e).__name__}: {e})",
                         "fix": "re-import it with `prize data import ... --force`"})
    emit(ctx, {"datasets": rows}, as_json, lambda r: (
        f"{d['name']:<24}{d['format']:<18}{d['rows']:>14,}  {d['fingerprint']}"
        if "error" not in d else f"{d['name']:<24}BROKEN: {d['error']}; {d['fix']}"
        for d in r["datasets"]))


def _preset_help() -> str:
    """``--preset``'s help: the presets grouped by the law they are generated under."""
    laws: dict[int, list[str]] = {}
    for name, law in PRESET_LAWS.items():
        laws.setdefault(law, []).append(name)
    return ("; ".join(f"{' and '.join(names)}: law {law}" for law, names in laws.items())
            + " (1: the original; 2 and later: calibrated on the Prize's ladder, "
              "docs/twin.md).")


@data.command("synth", epilog=examples(
    'prize data synth --preset small-twin --seed 0 --out raw/synth-small-twin',
    'prize data synth --preset tiny --noise-scale 1.4 --out raw/noisy --force',
    'prize data synth --preset medium --law 2 --out raw/medium-law2'))
@click.option("--preset", type=click.Choice(list(PRESET_NAMES)), default="tiny",
              show_default=True,
              help=_preset_help())
@click.option("--law", type=click.Choice(list(LAW_NAMES)), default=None,
              help="Generate the preset's sizes under this version of the law (default: "
                   "the preset's own); data sets of an older law can be made again.")
@click.option("--seed", default=0, show_default=True)
@click.option("--noise-scale", default=1.0, show_default=True, type=click.FloatRange(min=0.0),
              help="Multiplies every user's rating-noise level (1 = the default data).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the Netflix-layout files into.")
@force_option
@json_option
@click.pass_context
def synth_cmd(ctx, preset, law, seed, noise_scale, out, force, as_json):
    """Generate a synthetic Netflix-shaped data set in the original Netflix file layout."""
    from prize.data import synth

    if Path(out).exists() and not force:
        raise DataError("the output folder exists already", path=out,
                        fix="Pass --force to replace it, or choose another --out")
    info = synth.generate(out, preset=preset, seed=seed, noise_scale=noise_scale,
                          progress=not as_json and not quiet(ctx), overwrite=force,
                          law=None if law is None else int(law))
    emit(ctx, info, as_json, lambda r: [
        f"wrote {r['preset']} preset (law {r['law']}, seed {r['seed']}) to {out}",
        *(f"  {k:<11}{v:>14,}" for k, v in r["counts"].items()),
        "  oracle RMSE " + ", ".join(f"{k} {v:.4f}" for k, v in r["oracle_rmse"].items()),
    ])
