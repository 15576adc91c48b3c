"""The synthetic twin's ladder beside the Prize's (issue 17).

Generates a synthetic preset (``medium`` by default, law 7; ``--law 6`` down to ``--law 2``
for the laws before it), imports it, trains one
predictor per rung of the Netflix Prize ladder through :mod:`prize.runs` (the configs of
``prize/configs/leaderboard/progress2007.toml`` where they fit; f = 10/100/200 for SVD,
SVD++ and timeSVD++), blends, and prints each rung's published improvement over Cinematch
(0.9514 quiz) beside the twin's over the data set's reference (playing Cinematch: from
law 4 on Bell & Koren's correlation kNN as published, ``knn-cinematch-plain``; the shipped
proxy ``knn-cinematch-proxy`` before), their distance and whether it lies within +-1
percentage point, then the orderings the issue asks for; then the same against the other
of the two, which it trains too (the linear blend has both among its inputs).

    PYTHONPATH=. nice -n 10 python scripts/bench_twin.py --preset small-twin
    PYTHONPATH=. python scripts/bench_twin.py --preset netflix --cluster pool:32 --rbm-device cuda

The twin's percentages are on quiz RMSE of the probe-round predictors (trained without
probe), as the issue's table; the blends are fitted on probe (the toolkit's protocol).
Everything lives under ``--home`` (default: a folder under /tmp), so reruns reuse the
generated data and the trained predictors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from prize.data.dataset import DEFAULT_REFERENCE, TWIN_REFERENCE
from prize.leaderboard.report import ladder

#: The shipped proxy, the reference of every data set but the calibrated twin's.
REFERENCE = DEFAULT_REFERENCE["name"]
#: Bell & Koren's correlation kNN as published, the plain weighted mean of the neighbours
#: (the proxy without its shrinkage toward the baseline, which issue 15 added for small
#: noisy data sets); the model whose Netflix probe score (0.9431-0.9502) puts the proxy at
#: Cinematch's level, and the reference of the twin from law 4 on.
PLAIN_REFERENCE = TWIN_REFERENCE["name"]
REFERENCES = (REFERENCE, PLAIN_REFERENCE)
MF_RBM_BLEND = "blend-mf-rbm"


#: The interp rungs' β, fixed (the default chooses it on probe).
FIXED_BETA = ("beta=150", "beta_candidates=[]")


def specs(rbm_device: str, epochs: int | None):
    """The predictors behind the rungs, as :class:`prize.runs.sets.Spec`."""
    from prize.runs.sets import Spec

    ep = () if epochs is None else (f"n_epochs={epochs}",)
    out = [
        Spec("baseline-biases", "baseline", "biases"),
        Spec("baseline-global_effects", "baseline", "global_effects"),
        # Both references (the data set's meta names the one playing Cinematch).
        Spec(REFERENCE, "knn", DEFAULT_REFERENCE["config"]),
        Spec(PLAIN_REFERENCE, "knn", TWIN_REFERENCE["config"]),
        # Bell & Koren's interpolation on global-effect residuals (their .9086 rung). The
        # interp rungs keep β = 150, as measured, rather than the default's choice on probe
        # (which came later and was not run on the twin).
        Spec("knn-interp-ge", "knn", "interp", ('baseline="global_effects"', *FIXED_BETA)),
        # Funk's SVD as he ran it on Netflix (K = 25, λ alone, his one-sweep stopping rule
        # within 120-200 sweeps), as measured. The shipped config's changes for small data
        # sets came later; on `medium` they score the same (quiz 0.9448 against 0.9445)
        # in 57 minutes against 18.5, which would break the 40-minute budget.
        Spec("mf-funk", "mf", "funk", ("baseline_k_item=25", "baseline_k_user=25",
                                       "reg_prior=0", "feature_max_sweeps=200",
                                       'feature_stop="sweep"', *ep)),
        # The paper's Netflix size, F = 100 hidden units and its full W (the README's
        # figure; the default's linear movie weights came after it and were not run here),
        # with the default's U, offset and weight cost per pass as they stood then.
        # Patience 10: on `medium`'s probe the RMSE plateaus by epoch 15 and its last
        # gains come at most 7 epochs apart (law 4 seeds 0 and 3: best at 28 and 31, run
        # to 48 and 51 with patience 20), so 20 spent ten epochs (3-4 minutes of CPU)
        # finding the same best epoch. With 10, law 5's seeds 1, 2 and 3 stopped at 47,
        # 47 and 27 (best at 37, 36 and 17; seed 3's RBM lands all the same).
        Spec("rbm-conditional", "rbm", "default",
             (f'device="{rbm_device}"', "n_hidden=100", 'movie_weights="full"', "lr=0.02",
              "weight_decay=0.15", "min_epochs=1", "patience=10", *ep), keep_train=True),
    ]
    # The rungs pin their settings rather than follow the defaults, which issue 15 tunes
    # for small and noisy data sets: with the mf default's λ = 0.08 and early stopping the
    # SVD f=100 rung fell from +5.5 to +2.7 points over the reference.
    for f in (10, 100, 200):
        # 40 epochs at lr 0.01, λ 0.05: 20 epochs at 0.005 (tuned on Netflix's 100M) stop
        # far from convergence on 2M-20M ratings (small-twin f=100: probe still falling
        # 0.002 an epoch at 20; quiz 0.984 -> 0.963 with these).
        # threads = 2 as measured: the default (one DSGD block per core, at most 8) made the
        # rung depend on the machine, since T sets the order in which SGD visits a user's
        # ratings and the twin's drift rewards date order (medium-lite, law 3, f = 100:
        # +5.25 points over the reference at T = 1, +4.46 at 2, +3.40 at 8).
        out.append(Spec(f"mf-f{f}", "mf", None, (f"n_factors={f}", "threads=2", "lr=0.01",
                                                 "reg=0.05", "reg_bias=0.05", "reg_prior=0",
                                                 "reg_bias_prior=0", "early_stopping=false",
                                                 *(ep or ("n_epochs=40",))),
                        keep_train=f == 100))
        out.append(Spec(f"svdpp-f{f}", "svdpp", None, (f"n_factors={f}", "reg=0.04",
                                                       "reg_prior=0", "reg_bias_prior=0",
                                                       "early_stopping=false",
                                                       *(ep or ("n_epochs=30",)))))
        out.append(Spec(f"timesvdpp-f{f}", "timesvdpp", None, (f"n_factors={f}", *ep)))
    out.append(Spec("knn-interp-on-rbm", "knn", "interp",
                    ('baseline="global_effects"', *FIXED_BETA), residuals_of="rbm-conditional"))
    out.append(Spec("knn-interp-on-mf-f100", "knn", "interp", FIXED_BETA,
                    residuals_of="mf-f100"))
    return out


def orderings(quiz: dict[str, float], reference: str = REFERENCE
              ) -> list[tuple[str, bool | None]]:
    """The issue's orderings (``reference`` playing Cinematch); ``None`` where a predictor
    is missing."""
    def chain(names):
        if not all(n in quiz for n in names):
            return None
        return all(quiz[a] > quiz[b] for a, b in zip(names, names[1:], strict=False))

    out = [("biases > reference > item kNN > SVD > SVD++ > timeSVD++ (f=100, RMSE)",
            chain(["baseline-biases", reference, "knn-interp-ge", "mf-f100", "svdpp-f100",
                   "timesvdpp-f100"]))]
    for fam in ("mf", "svdpp", "timesvdpp"):
        out.append((f"{fam}: f=10 > f=100 > f=200 (RMSE)",
                    chain([f"{fam}-f10", f"{fam}-f100", f"{fam}-f200"])))
    out.append(("kNN on the RBM's residuals beats the RBM",
                chain(["rbm-conditional", "knn-interp-on-rbm"])))
    if all(n in quiz for n in (MF_RBM_BLEND, "mf-f100", "rbm-conditional")):
        gain = min(quiz["mf-f100"], quiz["rbm-conditional"]) - quiz[MF_RBM_BLEND]
        out.append((f"MF + RBM blend beats both by >= 0.005 (by {gain:.4f})", gain >= 0.005))
    else:
        out.append(("MF + RBM blend beats both by >= 0.005", None))
    return out


def summary(rows, checks) -> dict:
    """A table's rungs, orderings and count within a point, as ``--json`` prints them."""
    return {"rungs": rows, "orderings": [{"ordering": t, "holds": ok} for t, ok in checks],
            "within_1pp": sum(r["within_1pp"] for r in rows)}


def render(rows, checks, ref: float, title: str, reference: str = REFERENCE) -> list[str]:
    lines = [f"### {title}", "",
             f"Reference `{reference}` quiz RMSE {ref:.4f} (Cinematch 0.9514).", "",
             "| rung | Netflix % over Cinematch | twin % over reference | distance | ±1pp |",
             "|---|---:|---:|---:|:---:|"]
    for r in rows:
        lines.append(f"| {r['rung']} | {r['netflix_pct']:+.2f} | {r['twin_pct']:+.2f} | "
                     f"{r['distance']:+.2f} | {'✓' if r['within_1pp'] else '✗'} |")
    lines += ["", "| ordering | holds |", "|---|:---:|"]
    for text, ok in checks:
        lines.append(f"| {text} | {'—' if ok is None else ('✓' if ok else '✗')} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--law", type=int, default=None,
                    help="generate the preset under this law (default: the preset's own)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--cluster", default=None,
                    help="executor for the trainers: pool:N (processes) or a dask address")
    ap.add_argument("--home", default=None, help="PRIZE_HOME (default /tmp/bench-twin-<preset>)")
    ap.add_argument("--rbm-device", default="cpu", help='"cuda" where a GPU is lent')
    ap.add_argument("--epochs", type=int, default=None,
                    help="override every iterative model's n_epochs (quick looks only)")
    ap.add_argument("--only", default=None,
                    help="comma-separated predictor names to train (default: every rung)")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--json", action="store_true",
                    help="print the rungs, orderings and timings as JSON instead")
    args = ap.parse_args(argv)

    from prize.blend.run import run_blend
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate
    from prize.probes import ProbeStore
    from prize.runs.executors import make_executor
    from prize.runs.sets import PredictorSet, run_set

    law = "" if args.law is None else f"-law{args.law}"
    home = Path(args.home or
                f"/tmp/bench-twin-{args.preset}{law}-s{args.seed}-n{args.noise_scale}")
    name = f"synth-{args.preset}"
    raw = home / "raw" / name
    t0 = time.perf_counter()
    timings = {}
    if not (raw / "synth.json").is_file():
        generate(raw, preset=args.preset, seed=args.seed, noise_scale=args.noise_scale,
                 progress=True, overwrite=True, law=args.law)
    timings["generate"] = time.perf_counter() - t0
    if not (home / "data" / name / "meta.json").is_file():
        import_netflix(raw, home / "data" / name, name=name, overwrite=True)
    timings["import"] = time.perf_counter() - t0 - timings["generate"]

    wanted = specs(args.rbm_device, args.epochs)
    if args.only:
        keep = set(args.only.split(",")) | set(REFERENCES)
        wanted = [s for s in wanted if s.name in keep]
    executor, _ = make_executor(args.cluster)
    t1 = time.perf_counter()
    results = run_set(PredictorSet("twin-ladder", wanted), home=home, data=name,
                      executor=executor, progress=True)
    timings["train"] = time.perf_counter() - t1
    for r in results:
        if not r["ok"]:
            print(f"FAILED {r['name']}: {r['error']}", file=sys.stderr)

    ds = open_dataset(name, home)
    store = ProbeStore(home / "probes")
    records = [m for m in (store.meta(ds.name, s.name) for s in wanted)
               if m is not None and m.quiz_rmse is not None]
    quiz = {m.name: m.quiz_rmse for m in records}
    main_ref = (ds.meta.get("reference") or {}).get("name")
    if main_ref not in REFERENCES or main_ref not in quiz:
        print(f"the data set's reference {main_ref!r} did not train; no table",
              file=sys.stderr)
        return 1
    other_ref = next(n for n in REFERENCES if n != main_ref)
    if len(quiz) > 2:
        rep = run_blend(ds, store, "linear", list(quiz), name="blend-linear")
        quiz["blend-linear"] = rep["quiz_rmse"]
        records.append(store.meta(ds.name, "blend-linear"))
    if "mf-f100" in quiz and "rbm-conditional" in quiz:
        rep = run_blend(ds, store, "linear", ["mf-f100", "rbm-conditional"],
                        name=MF_RBM_BLEND)
        quiz[MF_RBM_BLEND] = rep["quiz_rmse"]
    timings["total"] = time.perf_counter() - t0
    ref = quiz[main_ref]
    # the rungs the run holds (blend-linear is the only blend among the records)
    rows = [r for r in ladder(records, main_ref) if r["predictor"] is not None]
    checks = orderings(quiz, main_ref)
    oracle = ds.meta.get("oracle_rmse", {}).get("quiz")
    title = (f"{args.preset} (law {ds.meta.get('synthetic', {}).get('law', '?')}, seed "
             f"{args.seed}, noise {args.noise_scale}), {dt.date.today().isoformat()}")
    lines = render(rows, checks, ref, title, main_ref)
    other = None
    if other_ref in quiz:
        o_rows = [r for r in ladder(records, other_ref) if r["predictor"]]
        o_checks = orderings(quiz, other_ref)
        other = {"reference": other_ref, "reference_quiz_rmse": quiz[other_ref],
                 **summary(o_rows, o_checks)}
        lines += [""] + render(o_rows, o_checks, quiz[other_ref],
                               f"{title}, against `{other_ref}`", other_ref)
    lines += ["", f"Oracle quiz RMSE {oracle:.4f}." if oracle else "",
              "Minutes: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in timings.items())]
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    main_table = summary(rows, checks)
    if args.json:
        print(json.dumps({"title": title, "reference": main_ref, "reference_quiz_rmse": ref,
                          "oracle_quiz_rmse": oracle, **main_table, "seconds": timings,
                          "other_reference": other}, indent=2))
        return 0
    print("\n".join(lines))
    print(f"\n{main_table['within_1pp']}/{len(rows)} rungs within ±1pp against {main_ref}")
    if other is not None:
        print(f"{other['within_1pp']}/{len(other['rungs'])} within ±1pp against {other_ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
