"""How the levers of the synthetic law move the twin's lower ladder (issue 17), quickly.

Generates a "medium-lite" preset (20,000 users, 8,000 films (``--movies``), 4M ratings:
``medium``'s 2.5% coverage of the catalogue at a fifth of its size) under a law
(``--law``, default 3: :data:`~prize.data.synth.law.LAW3`) with the given parameters
overridden, trains six rungs as ``scripts/bench_twin.py`` pins them (biases, global
effects, the data set's reference (``knn-cinematch-proxy``; ``knn-cinematch-plain`` from
law 4 on), Bell & Koren's kNN on global-effect
residuals, SVD at f = 10 and 100; ``--upper`` adds SVD++ and timeSVD++ at f = 10 and 100,
``--residual`` Bell & Koren's kNN on the residuals of SVD f = 100, ``--f200`` the f = 200
rungs) and prints each rung's quiz RMSE improvement over the reference beside the Prize's
(:func:`prize.leaderboard.report.ladder`, as the report computes it), then the probe
ladder of global effects and the star histogram beside Netflix's. About a minute a
variant on one core, two with ``--upper``. ``--time-ladders`` adds the two published
ladders that measure a data set's biases and time effects one at a time (about a minute
more): Bell & Koren's ten global effects and Koren's time-aware baseline predictors
(:func:`time_ladders`). ``--implicit`` adds SVD and SVD++ at f = 100 with the same settings
(:func:`implicit_check`): what the implicit feedback, who rated what, is worth on the
variant (Koren's SVD++ gained about a point over SVD on Netflix); ``--choice-signal`` how
much taste the choice of films carries, read with the generator's own q's
(:func:`choice_signal`). On law 2 it lands within 0.3 points of ``bench_twin.py --preset
medium`` on every rung; on law 3 the kNN on global effects gains about a point more on
``medium``, SVD++ f = 100 half a point more.

    PYTHONPATH=. python scripts/twin_levers.py factor_decay=1.0
    PYTHONPATH=. python scripts/twin_levers.py --upper gamma=0.8 noise_median=0.55 --json

Arguments are ``SynthModel`` fields (``law`` excepted) with their values; none: the law
as it is. Everything lives under ``--home`` (default /tmp/twin-levers).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

#: The rungs trained, as ``bench_twin.py`` pins them (its ``specs``), with the data set's
#: reference beside them.
LOWER_RUNGS = ("baseline-biases", "baseline-global_effects", "knn-interp-ge", "mf-f10",
               "mf-f100")
#: With ``--upper``, the rungs above them too (a few minutes more a variant).
UPPER_RUNGS = ("svdpp-f10", "svdpp-f100", "timesvdpp-f10", "timesvdpp-f100")
#: With ``--residual``, Bell & Koren's kNN on the residuals of SVD f = 100 too.
RESIDUAL_RUNGS = ("knn-interp-on-mf-f100",)
#: With ``--f200``, the f = 200 rung of each factor model trained (SVD; with ``--upper``
#: SVD++ and timeSVD++ too): what the f = 100 -> 200 step gains.
F200_RUNGS = ("mf-f200",)
F200_UPPER_RUNGS = ("svdpp-f200", "timesvdpp-f200")


#: Bell & Koren's global effects on the Netflix probe (2007, table 1; the docstring of
#: :mod:`prize.models.baseline.global_effects`): the probe RMSE after each effect, from the
#: overall mean (0) to the tenth, movie x user support.
GE_NETFLIX = (1.1296, 1.0527, 0.9841, 0.9809, 0.9786, 0.9767, 0.9759, 0.9719, 0.9690,
              0.9670, 0.9657)
GE_LABELS = ("overall mean", "movie", "user", "user x time(user)", "user x time(movie)",
             "movie x time(movie)", "movie x time(user)", "user x movie average",
             "user x movie support", "movie x user average", "movie x user support")
#: timeSVD++'s learning rates of its time terms: b_{i,Bin(t)}, alpha_u, b_{u,t}, c_u, c_{u,t}.
TIME_RATES = ("lr_bin", "lr_alpha", "lr_day", "lr_scale", "lr_day_scale")
#: Koren's time-aware baseline predictors on the Netflix probe (KDD 2009, table 2: static,
#: mov, linear, linear+; then the c_u(t) scaling, 0.9555): each row's label, Netflix's RMSE
#: and the time terms timeSVD++ with no factors learns for it (the others' rates are 0).
KOREN_NETFLIX = (
    ("static: mu + b_u + b_i", 0.9799, ()),
    ("+ b_i,Bin(t)", 0.9771, ("lr_bin",)),
    ("+ alpha_u dev_u(t)", 0.9731, ("lr_bin", "lr_alpha")),
    ("+ b_u,t", 0.9605, ("lr_bin", "lr_alpha", "lr_day")),
    ("+ c_u(t)", 0.9555, TIME_RATES),
)


def time_ladders(ds, store, progress: bool = False) -> dict:
    """Probe RMSE of the two published ladders of biases and time effects on ``ds``:
    ``global_effects`` (11 values: Bell & Koren's global effects with ``n_effects`` = 0 ..
    10) and ``koren`` (5 values: timeSVD++ with no factors, no frequency biases and only
    the time terms of :data:`KOREN_NETFLIX` learning). Beside :data:`GE_NETFLIX` and
    :data:`KOREN_NETFLIX` each step says how strong one effect is against Netflix's.
    ``progress``: a bar over the 16 fits (about a minute on medium-lite, 5 on ``medium``)."""
    fits = [("baseline", "global_effects", [f"n_effects={k}"], f"ladder-ge{k}")
            for k in range(len(GE_NETFLIX))]
    fits += [("timesvdpp", None, ["n_factors=0", "frequency=false",
                                  *(f"{r}=0" for r in TIME_RATES if r not in on)],
              f"ladder-time{k}") for k, (_, _, on) in enumerate(KOREN_NETFLIX)]
    got = [r.probe_rmse for r in _fit_all(ds, store, fits, "time ladders", progress)]
    return {"global_effects": got[:len(GE_NETFLIX)], "koren": got[len(GE_NETFLIX):]}


def _fit_all(ds, store, fits, label: str, progress: bool) -> list:
    """Train each ``(family, config, overrides, name)`` of ``fits`` in turn (replacing a
    stored one of the name) under one progress bar; their probe-store records."""
    from prize.progress import bar
    from prize.runs.single import train

    out = []
    pb = bar(len(fits), label, "fit", enabled=progress)
    try:
        for family, config, sets, name in fits:
            out.append(train(ds, store, family, config=config, overrides=sets, name=name,
                             force=True, allow_worse=True))
            pb.update(1)
    finally:
        pb.close()
    return out


#: ``--implicit``: SVD and SVD++ at f = 100 with the same settings (the SVD rung's), SVD in
#: the plain sequential order (T = 1) that the SVD++ kernel always visits.
IMPLICIT_SETTINGS = ("n_factors=100", "lr=0.01", "reg=0.05", "reg_bias=0.05", "reg_prior=0",
                     "reg_bias_prior=0", "early_stopping=false", "n_epochs=40")
#: Koren's gain of SVD++ over SVD at f = 100 on Netflix (KDD 2008: quiz 0.9025 -> 0.8924),
#: in points of Cinematch's RMSE, as the ladder counts it.
IMPLICIT_NETFLIX = 100 * (0.9025 - 0.8924) / 0.9514


def implicit_check(ds, store, reference: float, progress: bool = False) -> dict:
    """What "who rated what" is worth on ``ds``: quiz improvement over ``reference`` (points)
    of SVD (T = 1) and of SVD++ with the same settings, its implicit set N(u) either every
    known pair (probe and qualifying included, as Koren's) or the training pairs only, and
    ``gain``, SVD++ (every pair) less SVD. On Netflix the gain was
    :data:`IMPLICIT_NETFLIX` (about +1.06). ``progress``: a bar over the three fits (about
    two minutes on medium-lite)."""
    fits = [("mf", None, [*IMPLICIT_SETTINGS, "threads=1"], "implicit-svd"),
            ("svdpp", None, [*IMPLICIT_SETTINGS, 'implicit="all"'], "implicit-svdpp-all"),
            ("svdpp", None, [*IMPLICIT_SETTINGS, 'implicit="train"'], "implicit-svdpp-train")]
    got = {r.name: 100 * (1 - r.quiz_rmse / reference)
           for r in _fit_all(ds, store, fits, "implicit feedback", progress)}
    got["gain"] = got["implicit-svdpp-all"] - got["implicit-svd"]
    return got


#: MovieLens 100K under the Netflix protocol (each user's latest ratings held out): EASE's
#: NDCG@20 at predicting which films a user rated next, over the most popular films'
#: (0.3234 / 0.1402, ``prize evaluate --ranking --threshold 1``, 2026-12-06). Real
#: who-rated-what tells a user's next films far better than popularity does.
CHOICE_RANKING_ML100K = 0.3234 / 0.1402


def choice_ranking(ds, n_users: int = 3000, progress: bool = False) -> dict:
    """How much who-rated-what tells about what a user rates next, learnt from the data
    rather than read with the generator's q's: EASE (Steck 2019) against the most popular
    films at ranking each user's held-out films (every held-out film is relevant), NDCG@20
    over ``n_users`` users. Returns both NDCGs and ``lift``, EASE's over popularity's: about
    1 where the choice carries nothing beyond popularity (MovieLens 100K:
    :data:`CHOICE_RANKING_ML100K`). About 40 s at medium-lite's 8,000 films."""
    from prize.ranking.evaluate import evaluate

    rep = evaluate(ds, models=("most-popular", "ease"), rating=None, threshold=ds.scale[0],
                   ks=(20,), n_users=n_users, progress=progress)
    got = {row["model"]: row["ndcg@20"] for row in rep["rows"]}
    return {"popular": got["most-popular"], "ease": got["ease"],
            "lift": got["ease"] / got["most-popular"]}


def choice_signal(preset, seed: int = 0, n_factors_shown: int = 5,
                  progress: bool = False) -> dict:
    """How much of the taste the choice of films reveals, read linearly with the
    generator's own q's: what SVD++'s y's or NSVD could at best learn from who-rated-what
    by such a read. Simulates ``preset`` in memory; for each user, ``m_u``: the mean
    ``q_j`` of the films chosen for training, centred; a least-squares slope per factor,
    ``p_uk ~ a_k m_uk`` (the law draws the factors independently), fitted on the users of
    one parity of id, predicts the others' (cross-fitted). Under law 6 the choice follows
    the films' ``v_j`` (``choice_turn``), so ``m_u`` is their mean ``v_j``; what it reads
    is still ``p_u``, the stars' taste (of which ``choice_taste_share`` steers the choice
    only in part). Returns ``r2``:
    the share of the variance of ``p_u^T q_i`` over the held-out pairs that ``p̂_u^T q_i``
    explains (their squared correlation: a linear fit of one on the other), 0 when the
    choice ignores taste (``gamma`` 0); ``r2_factors``: ``1 - MSE / variance`` of
    ``p̂_uk`` for the first factors (a little below 0, by sampling noise, where there is
    nothing to read).
    ``progress``: the simulation's bar."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from prize.data.synth.law import TRAIN, simulate

    syn = simulate(preset, seed=seed, progress=progress)
    P, Q = syn.state.P.astype(np.float64), syn.state.Q.astype(np.float64)
    # law 6: the choice follows v_i, not q_i; the generator's v's read it
    C = Q if syn.state.Qc is None else syn.state.Qc.astype(np.float64)
    u, i = syn.user.astype(np.int64), syn.item.astype(np.int64)
    tr = syn.split == TRAIN
    # who chose what in training, users x films, sparse: no copy of Q per rating
    chose = csr_matrix((np.ones(int(tr.sum())), (u[tr], i[tr])), shape=(len(P), len(Q)))
    n = np.asarray(chose.sum(axis=1)).ravel()
    mean_c = np.asarray(chose.sum(axis=0)).ravel() @ C / n.sum()
    m = (chose @ C) / np.maximum(n, 1)[:, None] - mean_c
    p_hat = np.empty_like(P)
    half = np.arange(len(P)) % 2
    for h in (0, 1):
        fit, use = half != h, half == h
        a = (m[fit] * P[fit]).sum(axis=0) / np.maximum((m[fit] ** 2).sum(axis=0), 1e-300)
        p_hat[use] = m[use] * a
    ho = ~tr
    x = np.einsum("nk,nk->n", P[u[ho]], Q[i[ho]])
    x_hat = np.einsum("nk,nk->n", p_hat[u[ho]], Q[i[ho]])
    k = min(n_factors_shown, P.shape[1])
    return {"r2": float(np.corrcoef(x, x_hat)[0, 1] ** 2) if x_hat.any() else 0.0,
            "r2_factors": [float(1 - np.mean((P[:, j] - p_hat[:, j]) ** 2) / np.var(P[:, j]))
                           for j in range(k)]}


def _ladder_lines(title: str, labels, twin, netflix) -> list[str]:
    """One line per rung: the twin's probe RMSE and step beside Netflix's."""
    out = [f"  {title}: probe RMSE (step %), twin | Netflix"]
    for k, (lab, t, n) in enumerate(zip(labels, twin, netflix, strict=True)):
        st = ("", "") if k == 0 else (f"({100 * (1 - t / twin[k - 1]):+.2f})",
                                      f"({100 * (1 - n / netflix[k - 1]):+.2f})")
        out.append(f"    {lab:24s} {t:.4f} {st[0]:>8s} | {n:.4f} {st[1]:>8s}")
    return out


def chosen_specs(upper: bool = False, residual: bool = False,
                 reference: str | None = None, f200: bool = False) -> list:
    """``bench_twin.py``'s specs of the rungs a run trains, in its order (a base before the
    kNN on its residuals), with the data set's ``reference`` (default: the shipped proxy);
    the MF keeps its training predictions only for ``residual``."""
    from bench_twin import REFERENCE, specs  # this folder is the script's sys.path[0]

    wanted = (*LOWER_RUNGS, reference or REFERENCE, *(UPPER_RUNGS if upper else ()),
              *(RESIDUAL_RUNGS if residual else ()), *(F200_RUNGS if f200 else ()),
              *(F200_UPPER_RUNGS if f200 and upper else ()))
    return [dataclasses.replace(s, keep_train=s.keep_train and residual)
            for s in specs("cpu", None) if s.name in wanted]


def parse_overrides(items: list[str]) -> dict:
    """``FIELD=VALUE`` pairs of :class:`SynthModel` (``law`` excepted), read as ``prize train
    --set`` reads its values (TOML: ``true``, ``0.5``) and checked against the fields' types."""
    from prize.config import build, parse_value
    from prize.data.synth.law import SynthModel
    from prize.errors import ConfigError

    fields = {f.name for f in dataclasses.fields(SynthModel)} - {"law"}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"{item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(sorted(fields))}")
        out[key] = parse_value(value, None)
    try:
        model = build(SynthModel, out, source="twin_levers.py")
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    return {k: getattr(model, k) for k in out}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="SynthModel FIELD=VALUE")
    ap.add_argument("--home", default="/tmp/twin-levers")
    ap.add_argument("--law", type=int, default=3, help="the law to start from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--movies", type=int, default=8_000,
                    help="films (17770: Netflix's coverage of the catalogue, 1.1%%)")
    ap.add_argument("--tag", help="name of the variant's data set (default: from the overrides)")
    ap.add_argument("--upper", action="store_true",
                    help="also SVD++ and timeSVD++ at f = 10 and 100")
    ap.add_argument("--residual", action="store_true",
                    help="also kNN on the residuals of SVD f = 100")
    ap.add_argument("--f200", action="store_true",
                    help="also SVD at f = 200 (with --upper SVD++ and timeSVD++ too)")
    ap.add_argument("--time-ladders", action="store_true",
                    help="also Bell & Koren's global effects one by one and Koren's "
                         "time-aware baselines, beside Netflix's")
    ap.add_argument("--implicit", action="store_true",
                    help="also SVD and SVD++ f = 100 at the same settings: what the implicit "
                         "feedback gains (about two minutes more)")
    ap.add_argument("--choice-signal", action="store_true",
                    help="also how much of the taste the choice of films reveals, read with "
                         "the generator's q's (choice_signal; about a minute more)")
    ap.add_argument("--choice-ranking", action="store_true",
                    help="also how well EASE, learning from who-rated-what, ranks each "
                         "user's held-out films against popularity (choice_ranking; about "
                         "a minute more)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from prize.data.dataset import open_dataset
    from prize.data.synth import Preset, generate
    from prize.data.synth.law import LAW_MODELS
    from prize.leaderboard.report import ladder
    from prize.probes import ProbeStore
    from prize.runs.single import train

    over = parse_overrides(args.overrides)
    tag = "-".join(f"{k}{v}" for k, v in sorted(over.items())) or f"law{args.law}"
    tag += "" if args.movies == 8_000 else f"-m{args.movies}"
    if len(tag) > 100:  # a data set's name has at most 100 characters
        tag = f"{tag[:80]}-{hashlib.sha256(tag.encode()).hexdigest()[:12]}"
    tag = args.tag or tag
    preset = Preset(f"lite-{tag}", n_users=20_000, n_movies=args.movies, n_ratings=4_000_000,
                    activity_sigma=1.3, activity_min=8,
                    model=dataclasses.replace(LAW_MODELS[args.law], **over))
    home = Path(args.home)
    t0 = time.perf_counter()
    info = generate(home / "raw" / tag, preset=preset, seed=args.seed, overwrite=True)
    subprocess.run([sys.executable, "-m", "prize", "-q", "data", "import", "netflix",
                    str(home / "raw" / tag), "--name", tag, "--force"], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PRIZE_HOME": str(home)})
    ds = open_dataset(tag, home)
    reference = ds.meta["reference"]["name"]  # playing Cinematch: by the law
    store = ProbeStore(home / "probes")
    records = [train(ds, store, s.family, config=s.config, overrides=list(s.set), name=s.name,
                     force=True, allow_worse=True, keep_train=s.keep_train,
                     residuals_of=s.residuals_of)
               for s in chosen_specs(args.upper, args.residual, reference, args.f200)]
    rows = [r for r in ladder(records, reference) if r["predictor"] is not None]
    # Bell & Koren's probe ladder: global mean, movie mean, user + movie biases, global effects.
    steps = [train(ds, store, "baseline", config=c, name=f"baseline-{c}", force=True,
                   allow_worse=True).probe_rmse for c in ("global_mean", "movie_mean")]
    probe = {r.name: r.probe_rmse for r in records}
    steps += [probe["baseline-biases"], probe["baseline-global_effects"]]
    hist = {float(k): v for k, v in ds.meta["histogram"].items()}
    total = sum(hist.values())
    mean = sum(k * v for k, v in hist.items()) / total
    sd = math.sqrt(sum((k - mean) ** 2 * v for k, v in hist.items()) / total)
    out = {"overrides": over, "reference_quiz": rows[0]["reference_quiz_rmse"],
           "oracle_quiz": info["oracle_rmse"].get("quiz"),
           "probe_ladder": steps,
           "stars": {"shares": {f"{k:g}": v / total for k, v in sorted(hist.items())},
                     "mean": mean, "sd": sd},
           "rungs": {r["predictor"]: {"twin": r["twin_pct"], "netflix": r["netflix_pct"],
                                      "distance": r["distance"]} for r in rows},
           "seconds": time.perf_counter() - t0}
    if args.time_ladders:
        out.update(time_ladders(ds, store, progress=True))
        out["seconds"] = time.perf_counter() - t0
    if args.implicit:
        out["implicit"] = implicit_check(ds, store, out["reference_quiz"], progress=True)
        out["seconds"] = time.perf_counter() - t0
    if args.choice_signal:
        out["choice_signal"] = choice_signal(preset, seed=args.seed, progress=True)
        out["seconds"] = time.perf_counter() - t0
    if args.choice_ranking:
        out["choice_ranking"] = choice_ranking(ds, progress=True)
        out["seconds"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{tag}: reference quiz {out['reference_quiz']:.4f}, oracle "
              f"{out['oracle_quiz']:.4f}, {out['seconds']:.0f} s")
        ladder_txt = " -> ".join(f"{v:.4f}" for v in steps)
        step_txt = " ".join(f"{100 * (1 - b / a):.1f}"
                            for a, b in zip(steps[:-1], steps[1:], strict=True))
        print(f"  probe {ladder_txt}, steps % {step_txt} (Netflix 1.1296 -> 1.0528 -> "
              f"0.9841 -> 0.9657, 6.8 6.5 1.9)")
        shares = " ".join(f"{100 * v:.1f}" for v in out["stars"]["shares"].values())
        print(f"  stars % {shares} (Netflix 4.6 10.1 28.7 33.6 23.0), mean "
              f"{mean:.3f}, SD {sd:.3f} (Netflix 3.604, 1.085)")
        for n, r in out["rungs"].items():
            print(f"  {n:24s} twin {r['twin']:+6.2f}  Netflix {r['netflix']:+6.2f}  "
                  f"distance {r['distance']:+6.2f}")
        if args.implicit:
            imp = out["implicit"]
            print(f"  implicit feedback at f = 100, same settings: SVD {imp['implicit-svd']:+.2f}"
                  f", SVD++ {imp['implicit-svdpp-all']:+.2f} (training pairs only "
                  f"{imp['implicit-svdpp-train']:+.2f}): gain {imp['gain']:+.2f} points "
                  f"(Netflix {IMPLICIT_NETFLIX:+.2f})")
        if args.choice_signal:
            cs = out["choice_signal"]
            first = " ".join(f"{v:.2f}" for v in cs["r2_factors"])
            print(f"  the choice of films, read with the true q's: R2 {cs['r2']:.3f} of "
                  f"p_u^T q_i on held-out pairs; of p_u's first factors {first}")
        if args.choice_ranking:
            cr = out["choice_ranking"]
            print(f"  who-rated-what, learnt: EASE NDCG@20 {cr['ease']:.4f} against the most "
                  f"popular's {cr['popular']:.4f}, x{cr['lift']:.2f} (MovieLens 100K "
                  f"x{CHOICE_RANKING_ML100K:.2f})")
        if args.time_ladders:
            print("\n".join(_ladder_lines("global effects", GE_LABELS, out["global_effects"],
                                           GE_NETFLIX)))
            print("\n".join(_ladder_lines("time-aware baselines",
                                           [k[0] for k in KOREN_NETFLIX], out["koren"],
                                           [k[1] for k in KOREN_NETFLIX])))
    return out


if __name__ == "__main__":
    main()
