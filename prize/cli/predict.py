"""`prize predict`: a kept model's predictions for pairs of raw ids read from a CSV file."""

from __future__ import annotations

import csv
import json
import sys

import click

from prize.cli.common import data_option, examples, home_of, json_option, quiet


def read_pairs(path: str, id_kinds: tuple[str, str]):
    """(users, items, dates or None) from a CSV of ``user,item[,date]`` (a header line
    ``user,item[,date]`` is optional). Ids are read as the dataset stores them (integers or
    strings); a bad line is an error naming the file, the line and the text."""
    from prize.errors import DataError

    users, items, dates = [], [], []
    width = None
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            row = [c.strip() for c in row]
            if lineno == 1 and row[0].lower() == "user":
                continue
            if width is None:
                width = len(row)
            if len(row) not in (2, 3) or len(row) != width:
                raise DataError("expected user,item or user,item,date on every line",
                                path=path, line=lineno, text=",".join(row),
                                expected=f"{width or '2 or 3'} fields")
            parsed = []
            for value, kind, what in ((row[0], id_kinds[0], "user"),
                                      (row[1], id_kinds[1], "item")):
                if kind == "int":
                    try:
                        value = int(value)
                    except ValueError:
                        raise DataError(f"the {what} id is not an integer", path=path,
                                        line=lineno, text=",".join(row),
                                        expected=f"an integer {what} id, as the dataset "
                                                 "stores them") from None
                parsed.append(value)
            users.append(parsed[0])
            items.append(parsed[1])
            if width == 3:  # Unix seconds as numbers, anything else as a date string
                dates.append(int(row[2]) if row[2].isdigit() else row[2])
    return users, items, (dates if width == 3 else None)


@click.command("predict", epilog=examples(
    'prize predict --data ml100k --predictor mf --pairs pairs.csv',
    'prize predict --data ml100k --predictor svdpp --pairs pairs.csv --json'))
@data_option
@click.option("--predictor", required=True, help="A predictor trained with its model kept "
              "(prize train ... --save-model, the default under the size limit).")
@click.option("--pairs", "pairs_path", required=True, type=click.Path(dir_okay=False),
              help="CSV of raw user,item[,date] (dates as YYYY-MM-DD or Unix seconds).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write the predictions CSV here (default: standard output).")
@json_option
@click.pass_context
def predict_cmd(ctx, data_name, predictor, pairs_path, out_path, as_json):
    """Predict ratings for raw (user, item[, date]) pairs with a kept model.

    Unknown users or items fall back to the baseline; their count is reported."""
    import numpy as np

    from prize.api import load_model
    from prize.errors import DataError

    model = load_model(data_name, predictor, home_of(ctx))
    kinds = tuple("str" if ids.dtype.kind in "OUS" else "int"
                  for ids in (model.user_ids_, model.item_ids_))
    try:
        users, items, dates = read_pairs(pairs_path, kinds)
    except FileNotFoundError:
        raise DataError("no such file", path=pairs_path) from None
    pred = model.predict(np.array(users, dtype=object if kinds[0] == "str" else np.int64),
                         np.array(items, dtype=object if kinds[1] == "str" else np.int64),
                         dates)
    unknown = model.unknown_
    if as_json:
        rows = [{"user": u, "item": i, **({"date": d} if dates is not None else {}),
                 "prediction": float(p)} for u, i, d, p in
                zip(users, items, dates or [None] * len(users), pred.tolist(), strict=True)]
        click.echo(json.dumps({"dataset": data_name, "predictor": predictor,
                               "n": len(rows), "unknown": unknown, "predictions": rows},
                              indent=2))
        return
    out = open(out_path, "w", newline="", encoding="utf-8") if out_path else sys.stdout
    try:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["user", "item", *(["date"] if dates is not None else []), "prediction"])
        for k, (u, i, p) in enumerate(zip(users, items, pred.tolist(), strict=True)):
            w.writerow([u, i, *([dates[k]] if dates is not None else []), f"{p:.6g}"])
    finally:
        if out_path:
            out.close()
    if not quiet(ctx):
        click.echo(f"{len(users)} pairs predicted by {predictor}; {unknown['pairs']} with an "
                   f"unknown user ({unknown['users']}) or item ({unknown['items']}) fell back "
                   "to the baseline", err=True)
