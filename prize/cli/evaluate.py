"""`prize evaluate --data X --ranking`: recommendations judged as a ranking (top-N)."""

from __future__ import annotations

import click

from prize.cli.common import data_option, emit, examples, home_of, json_option, open_data, quiet


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        raise click.BadParameter(f"{text!r}: expected list lengths such as 10,20", param_hint="--k")
    return ks


def lines(report: dict):
    cand = report["candidates"]
    yield (f"Top-N on {report['dataset']}: hold-out {report['holdout']} "
           f"({report['holdout_ratings']:,} held-out ratings, {report['relevant_ratings']:,} "
           f"relevant = rating >= {report['threshold']:g}); training set "
           f"{report['train_ratings']:,} ratings")
    yield (f"Users: {report['users']:,} of the {report['eligible_users']:,} with a relevant "
           f"held-out item (seed {report['seed']}); candidates: "
           + ("every item the user has not rated in training" if cand == "all" else
              f"{cand.upper()} -- SAMPLED METRICS: the held-out items plus a random sample "
              "of unrated ones; they can rank models differently from the full ranking "
              "(Krichene & Rendle 2020)"))
    if report.get("blend"):
        b = report["blend"]
        yield (f"Popularity blend: w = {b['w']:.2f}, the best NDCG@10 on a validation split "
               f"carved from the training set ({b['validation_users']:,} users)")
    for k in report["k"]:
        yield ""
        head = (f"{'model':34} {'NDCG@' + str(k):>9} {'MAP@' + str(k):>8} "
                f"{'recall@' + str(k):>10} {'prec@' + str(k):>8} {'MRR@' + str(k):>8} "
                f"{'cover@' + str(k):>9} {'popbias@' + str(k):>10} {'seconds':>8}")
        yield head
        yield "-" * len(head)
        for r in report["rows"]:
            yield (f"{r['model'][:34]:34} {r[f'ndcg@{k}']:9.4f} {r[f'map@{k}']:8.4f} "
                   f"{r[f'recall@{k}']:10.4f} {r[f'precision@{k}']:8.4f} "
                   f"{r[f'mrr@{k}']:8.4f} {r[f'coverage@{k}']:9.4f} "
                   f"{r[f'popularity_bias@{k}']:10.4f} {r['seconds']:8.1f}")
    yield ""
    yield ("popbias = mean popularity quantile of the recommended items (1 = the most "
           "popular); cover = share of the catalog recommended to some evaluated user; "
           "seconds = fit + ranking (the blend: its rating model's, plus choosing w).")


@click.command("evaluate", epilog=examples(
    'prize evaluate --data ml100k --ranking',
    'prize evaluate --data synth-small --ranking --users 2000 --json'))
@data_option
@click.option("--ranking", is_flag=True, required=True,
              help="Judge recommendations as a ranking (top-N); the only mode for now.")
@click.option("--models", default="most-popular,item-knn,ease", show_default=True,
              help="Ranking models, comma-separated: most-popular, item-knn[:K], "
                   "ease[:CONFIG]; 'none' for none.")
@click.option("--rating", default="mf", show_default=True, metavar="FAMILY[:CONFIG]",
              help="The rating predictor ranked by predicted rating and blended with "
                   "popularity ('none': neither).")
@click.option("--predictor", "predictors", multiple=True, metavar="NAME",
              help="A stored predictor, refitted from its family and config and ranked "
                   "by predicted rating; repeatable.")
@click.option("--holdout", type=click.Choice(["latest", "random"]), default="latest",
              show_default=True, help="latest: the data set's held-out rows with known "
              "truth (each user's latest ratings under the Netflix protocol); random: as "
              "many per user drawn at random.")
@click.option("--threshold", type=float, default=None,
              help="Relevant = held-out rating >= this (default 4 on 1-5 and 0.5-5 "
                   "scales, else three quarters up the scale).")
@click.option("--k", "ks", default="10,20", show_default=True, help="List lengths.")
@click.option("--candidates", default="all", show_default=True,
              help="all: every item the user has not rated in training; sampled:N: the "
                   "held-out items plus N unrated ones (labelled; sampled metrics mislead).")
@click.option("--users", "n_users", type=int, default=None,
              help="Evaluate at most this many users (default 5,000), drawn with --seed; "
                   "0 for all.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def evaluate_cmd(ctx, data_name, ranking, models, rating, predictors, holdout, threshold, ks,
                 candidates, n_users, seed, as_json):
    """Score ranking models and rating predictors on a top-N hold-out, store the result
    for the leaderboard report, and print it."""
    from prize.ranking import evaluate as E

    ds, store = open_data(ctx, data_name)
    model_list = [] if models.strip() == "none" else [
        m.strip() for m in models.split(",") if m.strip()]
    stored = [E.stored_model(ds, store, name) for name in predictors]
    if n_users is None:
        n_users = E.DEFAULT_USERS
    chatty = not (as_json or quiet(ctx))
    log = (lambda msg: click.echo(msg, err=True)) if chatty else None
    report = E.evaluate(ds, models=model_list, rating=None if rating == "none" else rating,
                        predictors=stored, holdout=holdout, threshold=threshold,
                        ks=_ks(ks), candidates=candidates, n_users=n_users or None,
                        seed=seed, log=log, progress=chatty)
    report["stored_at"] = str(E.save(report, home_of(ctx)))
    emit(ctx, report, as_json, lines)
