"""`prize leaderboard report`: the leaderboard as Markdown and JSON, three charts, and on
Netflix data a table that puts each predictor beside the published figure of its model.

Written to ``reports/<dataset>/``: ``leaderboard.md``, ``leaderboard.json``,
``probe_rmse.png`` (every predictor's probe RMSE with the reference, the 10% target, the
magic-barrier estimate and the oracle), ``blend_curve.png`` (blend RMSE against the number
of predictors, from forward selection) and ``epochs.png`` (probe RMSE per epoch of the
iterative models).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from prize._atomic import write_bytes, write_json
from prize.data.dataset import Dataset
from prize.leaderboard.table import render_markdown, table
from prize.probes import PredictorRecord, ProbeStore

#: Published figures to reproduce on the real Netflix data (RMSE; "probe" or "quiz").
PUBLISHED = [
    ("baseline", "global_mean", "overall mean", "probe", 1.1296, "Bell & Koren 2007"),
    ("baseline", "movie_mean", "movie effect", "probe", 1.0527, "Bell & Koren 2007"),
    ("baseline", "biases", "user + movie biases", "probe", 0.9841, "Bell & Koren 2007"),
    ("baseline", "global_effects", "all ten global effects", "probe", 0.9657,
     "Bell & Koren 2007"),
    ("mf", "svd", "SVD, f=100", "quiz", 0.9025, "Koren 2009"),
    ("svdpp", "svdpp", "SVD++, f=100", "quiz", 0.8924, "Koren 2009"),
    ("timesvdpp", "timesvdpp", "timeSVD++, f=100", "quiz", 0.8805, "Koren 2009"),
    ("rbm", None, "conditional RBM", "quiz", 0.9029, "Salakhutdinov et al. 2007"),
    ("knn", None, "item kNN on global-effect residuals", "probe", 0.9086, "Bell & Koren 2007"),
]


def _matplotlib():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    write_bytes(path, buf.getvalue())


def chart_rmse(t: dict, barrier: dict | None, path: Path) -> None:
    plt = _matplotlib()
    rows = [r for r in t["rows"] if r.get("probe_rmse") is not None]
    rows.sort(key=lambda r: r["probe_rmse"], reverse=True)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 2))
    y = range(len(rows))
    colors = ["tab:orange" if r["family"] == "blend" else "tab:blue" for r in rows]
    ax.scatter([r["probe_rmse"] for r in rows], list(y), c=colors, zorder=3)
    ax.set_yticks(list(y), [r["name"] for r in rows], fontsize=8)
    ax.set_xlabel("probe RMSE")
    ax.set_title(f"{t['dataset']}: probe RMSE of every predictor (blends in orange)")
    ref = t["reference"]
    lines = []
    if ref.get("probe") is not None:
        lines.append((ref["probe"], f"reference: {ref['name']}", "tab:red", "-"))
    if t["lines"].get("target", {}).get("probe") is not None:
        lines.append((t["lines"]["target"]["probe"], "10% target", "tab:red", "--"))
    if barrier and barrier.get("rmse") is not None:
        lines.append((barrier["rmse"], f"magic barrier ({barrier['method']})", "tab:green",
                      "-."))
    oracle = t["lines"].get("oracle", {})
    if oracle.get("probe") is not None:
        lines.append((oracle["probe"], "oracle (true floor)", "black", ":"))
    for x, label, color, style in lines:
        ax.axvline(x, color=color, linestyle=style, label=f"{label} {x:.4f}")
    if lines:
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    plt.close(fig)


def chart_blend_curve(curves: list[tuple[str, list]], path: Path) -> bool:
    """``curves``: (name, forward-selection steps) of each blend to draw."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, sel in curves:
        ys = [s.get("rmse") if isinstance(s, dict) else s for s in sel]
        ax.plot(range(1, len(ys) + 1), ys, marker="o", label=name)
    ax.set_xlabel("number of predictors (forward selection)")
    ax.set_ylabel("blend RMSE (cross-validated on probe)")
    ax.set_title("Blend RMSE against the number of predictors")
    if curves:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no forward selection yet:\nprize blend --select forward",
                ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return bool(curves)


def chart_epochs(metas: list[PredictorRecord], path: Path) -> None:
    """Probe RMSE per epoch, zoomed to where the models end up: the y-axis spans the best
    point of all to a little above the median of the models' best points, so that a few
    far-off curves (Funk's feature-at-a-time MF, first epochs from a random start) do not
    flatten the others; models whose best epoch lies above the range are named as such."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    curves = []
    for m in metas:
        hist = [h for h in m.history or [] if h.get("probe_rmse") is not None]
        if hist:
            curves.append((m.name, [h["epoch"] for h in hist],
                           [h["probe_rmse"] for h in hist]))
    off = []
    if curves:
        best = np.array([min(ys) for _, _, ys in curves])
        lo, hi = float(best.min()) - 0.005, float(np.median(best)) + 0.04
        for name, xs, ys in curves:
            if min(ys) > hi:
                off.append(name)
                continue
            ax.plot(xs, ys, label=name)
        ax.set_ylim(lo, hi)
        ax.legend(fontsize=6.5, ncol=1 + len(curves) // 16, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("probe RMSE")
    ax.set_title("Probe RMSE per epoch of the iterative models"
                 + (f"\n(above the range: {', '.join(off)})" if off else ""), fontsize=10)
    ax.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)


def reproduction(ds: Dataset, metas: list[PredictorRecord]) -> list[dict]:
    """Each stored predictor beside the published figure of the same model (Netflix)."""
    out = []
    for family, model, label, on, published, source in PUBLISHED:
        ours = [m for m in metas if m.family == family and (model is None or m.model == model)]
        best = min(ours, key=lambda m: getattr(m, f"{on}_rmse") or 9.0) if ours else None
        out.append({"model": label, "on": on, "published": published, "source": source,
                    "ours": getattr(best, f"{on}_rmse") if best else None,
                    "predictor": best.name if best else None})
    return out


def write_report(ds: Dataset, store: ProbeStore, out: Path, *, barrier: dict | None = None
                 ) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t = table(ds, store, barrier=barrier)
    metas = store.list(ds.name)
    netflix = (ds.meta.get("reference") or {}).get("kind") == "official"
    repro = reproduction(ds, metas) if netflix else None
    chart_rmse(t, barrier, out / "probe_rmse.png")
    curves = [(m.name, m.extra["selection"]) for m in metas
              if m.family == "blend" and m.extra.get("selection")]
    computed = None
    if not curves:
        # No blend was built with --select forward: draw the linear blend's curve anyway.
        from prize.blend.run import selection_curve

        computed = selection_curve(ds, store)
        if computed is not None:
            curves.append(("linear blend, forward selection (this report)",
                           computed["steps"]))
    has_curve = chart_blend_curve(curves, out / "blend_curve.png")
    chart_epochs(metas, out / "epochs.png")
    md = [render_markdown(t)]  # the barrier is a line of the table, as on the leaderboard
    if repro:
        md.append("\n## Reproduction of the published figures\n\n| model | set | published |"
                  " ours | predictor | source |\n|---|---|---:|---:|---|---|")
        for r in repro:
            ours = "—" if r["ours"] is None else f"{r['ours']:.4f}"
            md.append(f"| {r['model']} | {r['on']} | {r['published']:.4f} | {ours} | "
                      f"{r['predictor'] or '—'} | {r['source']} |")
    md.append("\n![probe RMSE](probe_rmse.png)\n\n![blend curve](blend_curve.png)\n\n"
              "![epochs](epochs.png)\n")
    write_bytes(out / "leaderboard.md", "\n".join(md).encode())
    report = {"table": t, "barrier": barrier, "reproduction": repro,
              "charts": ["probe_rmse.png", "blend_curve.png", "epochs.png"],
              "blend_curve": has_curve, "selection": computed}
    write_json(out / "leaderboard.json", json.loads(json.dumps(report, default=str)))
    return report
