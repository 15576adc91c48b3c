"""How the levers of the synthetic law move the twin's lower ladder (issue 17), quickly.

Generates a "medium-lite" preset (20,000 users, 8,000 films (``--movies``), 4M ratings:
``medium``'s 2.5% coverage of the catalogue at a fifth of its size; about 70 s a variant
on one core), with :data:`~prize.data.synth.law.LAW2` and the given parameters
overridden, trains six rungs as ``scripts/bench_twin.py`` pins them (biases, global
effects, the reference ``knn-cinematch-proxy``, Bell & Koren's kNN on global-effect
residuals, SVD at f = 10 and 100) and prints each rung's quiz RMSE improvement over the
reference beside the Prize's (:func:`prize.leaderboard.report.ladder`, as the report
computes it). On law 2 it lands within 0.3 points of ``bench_twin.py --preset medium``
on every rung.

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

#: The rungs trained, as ``bench_twin.py`` pins them (its ``specs``).
LOWER_RUNGS = ("baseline-biases", "baseline-global_effects", "knn-cinematch-proxy",
               "knn-interp-ge", "mf-f10", "mf-f100")


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

    from bench_twin import specs  # this folder is the script's sys.path[0]

    from prize.data.dataset import open_dataset
    from prize.data.synth import Preset, generate
    from prize.data.synth.law import LAW2
    from prize.leaderboard.report import ladder
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
                   stdout=subprocess.DEVNULL, env={**os.environ, "PRIZE_HOME": str(home)})
    ds = open_dataset(tag, home)
    store = ProbeStore(home / "probes")
    records = [train(ds, store, s.family, config=s.config, overrides=list(s.set), name=s.name,
                     force=True, allow_worse=True)
               for s in specs("cpu", None) if s.name in LOWER_RUNGS]
    rows = [r for r in ladder(records) if r["predictor"] is not None]
    out = {"overrides": over, "reference_quiz": rows[0]["reference_quiz_rmse"],
           "oracle_quiz": info["oracle_rmse"].get("quiz"),
           "rungs": {r["predictor"]: {"twin": r["twin_pct"], "netflix": r["netflix_pct"],
                                      "distance": r["distance"]} for r in rows},
           "seconds": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{tag}: reference quiz {out['reference_quiz']:.4f}, oracle "
              f"{out['oracle_quiz']:.4f}, {out['seconds']:.0f} s")
        for n, r in out["rungs"].items():
            print(f"  {n:24s} twin {r['twin']:+6.2f}  Netflix {r['netflix']:+6.2f}  "
                  f"distance {r['distance']:+6.2f}")
    return out


if __name__ == "__main__":
    main()
