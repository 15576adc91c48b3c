"""How the levers of the synthetic law move the twin's lower ladder (issue 17), quickly.

Generates a "medium-lite" preset (20,000 users, 8,000 films (``--movies``), 4M ratings: ``medium``'s
2.5% coverage of the catalogue at a fifth of its size; about 70 s a variant on one core),
with :data:`~prize.data.synth.law.LAW2` and the given parameters overridden, trains six
rungs as ``scripts/bench_twin.py`` pins them (biases, global effects, the reference
``knn-cinematch-proxy``, Bell & Koren's kNN on global-effect residuals, SVD at f = 10 and
100) and prints each rung's quiz RMSE improvement over the reference beside the Prize's.
On law 2 it lands within 0.3 points of ``bench_twin.py --preset medium`` on every rung.

    PYTHONPATH=. python scripts/twin_levers.py factor_decay=0.5
    PYTHONPATH=. python scripts/twin_levers.py gamma=1.6 sd_interaction=0.8 --json

Arguments are ``SynthModel`` fields (``law`` excepted) with their values; none: law 2 as
it is. Everything lives under ``--home`` (default /tmp/twin-levers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PUBLISHED = {  # % over Cinematch's 0.9514 quiz (the table)
    "biases": -3.00, "global_effects": -0.43, "knn-interp-ge": 4.50, "mf-f10": 3.93,
    "mf-f100": 5.14,
}
REFERENCE = "knn-cinematch-proxy"


def rungs() -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    def svd(f):  # bench_twin.py's pinned SVD rungs
        return ("mf", None, (f"n_factors={f}", "lr=0.01", "reg=0.05", "reg_bias=0.05",
                             "reg_prior=0", "reg_bias_prior=0", "early_stopping=false",
                             "n_epochs=40"))
    return {"biases": ("baseline", "biases", ()),
            "global_effects": ("baseline", "global_effects", ()),
            REFERENCE: ("knn", "cinematch-proxy", ()),
            "knn-interp-ge": ("knn", "interp", ('baseline="global_effects"',)),
            "mf-f10": svd(10), "mf-f100": svd(100)}


def parse_overrides(items: list[str]) -> dict:
    from prize.data.synth.law import LAW2

    fields = {f.name for f in dataclasses.fields(LAW2)} - {"law"}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"{item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(sorted(fields))}")
        out[key] = type(getattr(LAW2, key))(value)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="SynthModel FIELD=VALUE")
    ap.add_argument("--home", default="/tmp/twin-levers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--movies", type=int, default=8_000,
                    help="films (17770: Netflix's coverage of the catalogue, 1.1%%)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from prize.data.dataset import open_dataset
    from prize.data.synth import Preset, generate
    from prize.data.synth.law import LAW2
    from prize.probes import ProbeStore
    from prize.runs.single import train

    over = parse_overrides(args.overrides)
    tag = "-".join(f"{k}{v}" for k, v in sorted(over.items())) or "law2"
    tag += "" if args.movies == 8_000 else f"-m{args.movies}"
    preset = Preset(f"lite-{tag}", n_users=20_000, n_movies=args.movies, n_ratings=4_000_000,
                    activity_sigma=1.3, activity_min=8, model=dataclasses.replace(LAW2, **over))
    home = Path(args.home)
    t0 = time.perf_counter()
    info = generate(home / "raw" / tag, preset=preset, seed=args.seed, overwrite=True)
    subprocess.run([sys.executable, "-m", "prize", "-q", "data", "import", "netflix",
                    str(home / "raw" / tag), "--name", tag, "--force"], check=True,
                   stdout=subprocess.DEVNULL,
                   env={**os.environ, "PRIZE_HOME": str(home)})
    ds = open_dataset(tag, home)
    store = ProbeStore(home / "probes")
    quiz = {name: train(ds, store, family, config=config, overrides=list(ov), name=name,
                        force=True, allow_worse=True).quiz_rmse
            for name, (family, config, ov) in rungs().items()}
    ref = quiz[REFERENCE]
    twin = {name: 100 * (ref - q) / ref for name, q in quiz.items() if name != REFERENCE}
    out = {"overrides": over, "reference_quiz": ref,
           "oracle_quiz": info["oracle_rmse"].get("quiz"),
           "rungs": {n: {"twin": twin[n], "netflix": PUBLISHED[n],
                         "distance": twin[n] - PUBLISHED[n]} for n in twin},
           "seconds": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{tag}: reference quiz {ref:.4f}, oracle {out['oracle_quiz']:.4f}, "
              f"{out['seconds']:.0f} s")
        for n, r in out["rungs"].items():
            print(f"  {n:16s} twin {r['twin']:+6.2f}  Netflix {r['netflix']:+6.2f}  "
                  f"distance {r['distance']:+6.2f}")
    return out


if __name__ == "__main__":
    main()
