"""`prize leaderboard report`: the leaderboard as Markdown and JSON, three charts, and on
Netflix data a table that puts each predictor beside the published figure of its model.

Written to ``reports/<dataset>/``: ``leaderboard.md``, ``leaderboard.json``,
``probe_rmse.png`` (every predictor's probe RMSE with the reference, the 10% target, the
magic-barrier estimate and the oracle), ``blend_curve.png`` (blend RMSE against the number
of predictors, from forward selection) and ``epochs.png`` (probe RMSE per epoch of the
iterative models). On a synthetic data set (the twin) it adds the Prize's ladder: each
rung's published improvement over Cinematch beside the twin's over the reference, as a
table and ``ladder.png`` (:func:`ladder`, issue 17).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np

from prize import __version__
from prize._atomic import write_bytes, write_json
from prize.data.dataset import DEFAULT_REFERENCE, TWIN_REFERENCE, Dataset
from prize.leaderboard.table import render_markdown, table
from prize.metrics import fmt
from prize.models import FAMILIES
from prize.probes import PredictorRecord, ProbeStore, git_commit

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


#: Cinematch's quiz RMSE: the Prize's yardstick, 0% on the ladder.
CINEMATCH_QUIZ = 0.9514
#: The predictor playing Cinematch on a synthetic data set whose meta names none (the
#: report reads the data set's own ``reference``: ``knn-cinematch-plain`` from law 4 on,
#: :func:`prize.data.dataset.synthetic_reference`).
LADDER_REFERENCE = DEFAULT_REFERENCE["name"]
#: Both predictors that play Cinematch on a twin; the rungs' blend takes those stored.
LADDER_REFERENCES = (TWIN_REFERENCE["name"], DEFAULT_REFERENCE["name"])
#: The Prize's ladder (issue 17): rung, the predictors that stand for it (the first one
#: stored is used; "blend" is the linear blend of the other rungs and the references,
#: :func:`rung_blend_names`), published quiz RMSE, source. Koren KDD'09 is
#: "Collaborative filtering with temporal dynamics", table of f = 10..200.
LADDER = [
    ("user + movie biases", ("baseline-biases",), 0.9799, "Koren KDD'09"),
    # Koren's time-aware baseline with c_u(t) (progress2007's timesvdpp-baseline) is the
    # model of the published 0.9555; a set without it falls back to Bell & Koren's global
    # effects, which gain less over the biases (Netflix probe 0.9657).
    ("time-aware baseline", ("timesvdpp-baseline", "baseline-global_effects"), 0.9555,
     "Koren KDD'09, BellKor 2009"),
    ("item kNN on global-effect residuals", ("knn-interp-ge", "knn-interp"), 0.9086,
     "Bell & Koren ICDM'07"),
    ("SVD f=10", ("mf-f10",), 0.9140, "Koren KDD'09"),
    ("SVD f=100", ("mf-f100",), 0.9025, "Koren KDD'09"),
    ("SVD f=200", ("mf-f200",), 0.9009, "Koren KDD'09"),
    ("SVD++ f=10", ("svdpp-f10",), 0.9131, "Koren KDD'09"),
    ("SVD++ f=100", ("svdpp-f100",), 0.8924, "Koren KDD'09"),
    ("SVD++ f=200", ("svdpp-f200",), 0.8911, "Koren KDD'09"),
    ("timeSVD++ f=10", ("timesvdpp-f10",), 0.8971, "Koren KDD'09"),
    ("timeSVD++ f=100", ("timesvdpp-f100",), 0.8805, "Koren KDD'09"),
    ("timeSVD++ f=200", ("timesvdpp-f200",), 0.8799, "Koren KDD'09"),
    ("conditional RBM", ("rbm-conditional",), 0.903, "BellKor 2007"),
    ("kNN on the RBM's residuals", ("knn-interp-on-rbm",), 0.8888, "BellKor 2007"),
    ("kNN on MF residuals", ("knn-interp-on-mf-f100", "knn-interp-on-mf-f50"), 0.8982,
     "Bell & Koren ICDM'07"),
    ("Funk's RSVD", ("mf-funk",), 0.9094, "Paterek 2007 (probe)"),
    ("the 2007 blend", ("blend",), 0.8712, "BellKor 2007"),
]


def ladder_pct(ref: float, rmse: float) -> float:
    """Improvement of ``rmse`` over ``ref`` in percent of ``ref`` (the Prize's measure)."""
    return 100.0 * (ref - rmse) / ref


def rung_blend_names(quiz: dict[str, float]) -> list[str]:
    """The inputs of the 2007 blend's rung: the predictor of every other rung that is
    stored, and the references. ``scripts/bench_twin.py`` blends exactly these (its whole
    set), and the report blends them again, since a set such as progress2007 holds more:
    its best blend, over 2009's timeSVD++ too, is judged apart (at least +8%, issue 17)."""
    out = []
    for _, names, *_ in LADDER:
        if names != ("blend",):
            out += [n for n in names if n in quiz][:1]
    return list(dict.fromkeys(out + [n for n in LADDER_REFERENCES if n in quiz]))


def ladder(metas: list[PredictorRecord], reference: str = LADDER_REFERENCE,
           blend: tuple[str, float] | None = None) -> list[dict] | None:
    """Each rung's published improvement over Cinematch beside the twin's over the
    reference (quiz RMSE), with the distance (twin minus published, percentage points) and
    whether it lies within 1 point; ``None`` without a stored reference. ``reference``:
    the predictor playing Cinematch (the data set's own in the report;
    ``scripts/bench_twin.py`` also prints the ladder against the shipped proxy).
    ``blend``: (label, quiz RMSE) of the linear blend of :func:`rung_blend_names`, the
    2007 blend's rung; without it the rung is left empty."""
    quiz = {m.name: m.quiz_rmse for m in metas if m.quiz_rmse is not None}
    if reference not in quiz:
        return None
    ref = quiz[reference]
    if blend is not None:
        quiz[blend[0]] = blend[1]
    rows = []
    for rung, names, published, source in LADDER:
        if names == ("blend",):
            name = None if blend is None else blend[0]
        else:
            name = next((n for n in names if n in quiz), None)
        twin = None if name is None else ladder_pct(ref, quiz[name])
        netflix = ladder_pct(CINEMATCH_QUIZ, published)
        rows.append({"rung": rung, "predictor": name, "netflix_pct": netflix,
                     "twin_pct": twin, "distance": None if twin is None else twin - netflix,
                     "within_1pp": None if twin is None else abs(twin - netflix) <= 1.0,
                     "published_rmse": published, "source": source,
                     "reference": reference, "reference_quiz_rmse": ref})
    return rows


#: The gain issue 17 asks of the linear blend of MF and the RBM over the better of the two.
MF_RBM_GAIN = 0.005
#: What issue 17 asks of the best blend of the whole progress2007 set: % over the reference.
SET_BLEND_PCT = 8.0


def ladder_orderings(quiz: dict[str, float], reference: str = LADDER_REFERENCE,
                     mf_rbm: float | None = None, set_blend: float | None = None
                     ) -> list[tuple[str, bool | None]]:
    """Issue 17's orderings of the rungs, each (text, holds), ``None`` where a predictor is
    missing: biases, the reference, item kNN, SVD, SVD++ and timeSVD++ (f = 100) from worst
    to best; each factor model better at f = 10, 100, 200 in turn; kNN on the RBM's
    residuals better than the RBM; ``mf_rbm``, the quiz RMSE of the linear blend of
    MF f = 100 and the RBM, better than both by :data:`MF_RBM_GAIN`; and ``set_blend``, the
    quiz RMSE of the best blend of the whole set, :data:`SET_BLEND_PCT` % better than the
    reference."""
    def chain(names):
        if not all(n in quiz for n in names):
            return None
        return all(quiz[a] > quiz[b] for a, b in zip(names, names[1:], strict=False))

    # item kNN as the ladder finds it: the first of its rung's predictors that is stored
    knn = dict((rung, names) for rung, names, *_ in LADDER)[
        "item kNN on global-effect residuals"]
    item_knn = next((n for n in knn if n in quiz), knn[0])
    out = [("biases > reference > item kNN > SVD > SVD++ > timeSVD++ (f=100, RMSE)",
            chain(["baseline-biases", reference, item_knn, "mf-f100", "svdpp-f100",
                   "timesvdpp-f100"]))]
    for fam in ("mf", "svdpp", "timesvdpp"):
        out.append((f"{fam}: f=10 > f=100 > f=200 (RMSE)",
                    chain([f"{fam}-f10", f"{fam}-f100", f"{fam}-f200"])))
    out.append(("kNN on the RBM's residuals beats the RBM",
                chain(["rbm-conditional", "knn-interp-on-rbm"])))
    if mf_rbm is not None and all(n in quiz for n in ("mf-f100", "rbm-conditional")):
        gain = min(quiz["mf-f100"], quiz["rbm-conditional"]) - mf_rbm
        out.append((f"MF + RBM blend beats both by >= {MF_RBM_GAIN} (by {gain:.4f})",
                    gain >= MF_RBM_GAIN))
    else:
        out.append((f"MF + RBM blend beats both by >= {MF_RBM_GAIN}", None))
    text = f"the whole set's best blend beats the reference by >= {SET_BLEND_PCT:g}%"
    if set_blend is not None and reference in quiz:
        pct = ladder_pct(quiz[reference], set_blend)
        out.append((f"{text} (by {pct:.2f}%)", pct >= SET_BLEND_PCT))
    else:
        out.append((text, None))
    return out


def orderings_markdown(checks: list[tuple[str, bool | None]]) -> list[str]:
    """The orderings as a Markdown table."""
    out = ["", "| ordering | holds |", "|---|:---:|"]
    for text, ok in checks:
        out.append(f"| {text} | {'—' if ok is None else ('✓' if ok else '✗')} |")
    return out


def ladder_markdown(rows: list[dict]) -> list[str]:
    """The ladder as a Markdown section."""
    ref = rows[0]["reference_quiz_rmse"]
    out = [f"\n## The Prize's ladder on the twin\n\nEach rung's published improvement over "
           f"Cinematch (quiz {CINEMATCH_QUIZ}) beside the twin's over `{rows[0]['reference']}` "
           f"(quiz {ref:.4f}); distance in percentage points, ✓ within ±1.\n",
           "| rung | Netflix % | twin % | distance | ±1pp | predictor | source |",
           "|---|---:|---:|---:|:---:|---|---|"]
    for r in rows:
        twin = "—" if r["twin_pct"] is None else f"{r['twin_pct']:+.2f}"
        dist = "—" if r["distance"] is None else f"{r['distance']:+.2f}"
        ok = "—" if r["within_1pp"] is None else ("✓" if r["within_1pp"] else "✗")
        out.append(f"| {r['rung']} | {r['netflix_pct']:+.2f} | {twin} | {dist} | {ok} | "
                   f"{r['predictor'] or '—'} | {r['source']} |")
    return out


def chart_ladder(rows: list[dict], path: Path) -> None:
    """Paired bars per rung: the published % over Cinematch and the twin's % over the
    reference, the ±1 point band around the published one shaded."""
    plt = _matplotlib()
    n = len(rows)
    fig, ax = plt.subplots(figsize=(8, 0.38 * n + 1.2))
    y = np.arange(n)[::-1]
    pub = [r["netflix_pct"] for r in rows]
    twin = [r["twin_pct"] if r["twin_pct"] is not None else np.nan for r in rows]
    for yy, p in zip(y, pub, strict=True):
        ax.fill_betweenx([yy - 0.4, yy + 0.4], p - 1.0, p + 1.0, color="0.9", lw=0)
    # the axis spans the published range with room around it; a twin bar beyond it (a
    # diverged model) stops at the edge and says its value
    lo, hi = min(pub) - 4.0, max(pub) + 4.0
    shown = np.clip(twin, lo, hi)
    ax.barh(y + 0.18, pub, height=0.34, color="0.45", label="Netflix, % over Cinematch")
    ax.barh(y - 0.18, shown, height=0.34, color="tab:orange", label="twin, % over reference")
    for yy, t in zip(y, twin, strict=True):
        if np.isfinite(t) and not lo <= t <= hi:
            ax.text(lo + 0.2 if t < lo else hi - 0.2, yy - 0.18, f"{t:+.1f}", fontsize=7,
                    va="center", ha="left" if t < lo else "right", color="white")
    ax.set_xlim(lo, hi)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [r["rung"] for r in rows], fontsize=8)
    ax.set_xlabel("improvement in quiz RMSE (%); grey band: published ±1 point")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _matplotlib():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Write ``fig`` as a PNG (atomically) and close it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    _matplotlib().close(fig)
    write_bytes(path, buf.getvalue())


#: Predictors named on the y-axis up to this many; past it the axis shows every family's
#: best and the blends, and the others are dots in their family's colour.
MAX_LABELS = 60
#: Curves per family in the epochs chart (its best ones by probe RMSE).
CURVES_PER_FAMILY = 4


def family_colors(families) -> dict[str, tuple]:
    """A colour per family, the same whichever other families are present (blends always
    orange): tab10's other nine colours, then tab20's lighter shades."""
    plt = _matplotlib()
    palette = [c for k, c in enumerate(plt.get_cmap("tab10").colors) if k != 1]
    palette += [c for k, c in enumerate(plt.get_cmap("tab20").colors) if k % 2 and k != 3]
    # the registered families first, so that each keeps its colour from one report to the next
    known = sorted(FAMILIES)
    order = known + sorted({f for f in families if f} - set(known))
    out = {f: palette[k % len(palette)] for k, f in enumerate(x for x in order if x != "blend")}
    out["blend"] = plt.get_cmap("tab10").colors[1]
    return out


def best_of_family(rows: list[dict], key: str = "probe_rmse") -> set[str]:
    """Names of the best predictor (lowest ``key``) of each family."""
    best: dict[str, dict] = {}
    for r in rows:
        if r.get(key) is None:
            continue
        f = r.get("family") or "?"
        if f not in best or r[key] < best[f][key]:
            best[f] = r
    return {r["name"] for r in best.values()}


def zoom(values: list[float], anchors: list[float]) -> tuple[float, float]:
    """An x-range that the competitive predictors fill: from the best value (or the lowest
    anchor line close to it) to a little past the reference and the last non-outlier, so that
    far-off outliers (the global mean, Funk's MF) and far-off floors (the oracle) do not
    squeeze the rest into a corner. Points and lines outside it are marked at the edge."""
    v = np.sort(np.asarray(values, np.float64))
    lo, med = float(v[0]), float(np.median(v))
    # Outliers: further above the median than three times the spread below it.
    hi = float(v[v <= med + max(3.0 * (med - lo), 0.02)].max())
    near = [a for a in anchors if lo - 0.05 <= a <= hi + 0.05]
    lo = min([lo] + near)
    hi = max([hi] + near)
    pad = max(0.1 * (hi - lo), 0.002)
    return lo - pad, hi + pad


def chart_rmse(t: dict, barrier: dict | None, path: Path) -> None:
    """Every predictor's probe RMSE, one row each, coloured by family; the best of each family
    in bold; reference, 10% target, barrier and oracle as vertical lines; the x-axis zoomed
    to the competitive range (outliers drawn at the edge with their value)."""
    plt = _matplotlib()
    rows = [r for r in t["rows"] if r.get("probe_rmse") is not None]
    rows.sort(key=lambda r: r["probe_rmse"], reverse=True)
    colors = family_colors(r.get("family") for r in rows)
    best = best_of_family(rows)
    many = len(rows) > MAX_LABELS
    fig, ax = plt.subplots(figsize=(9, (0.16 if many else 0.3) * len(rows) + 2.5))
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
    xs = [r["probe_rmse"] for r in rows]
    if xs:
        lo, hi = zoom(xs, [x for x, *_ in lines])
        ax.set_xlim(lo, hi)
        for k, (x, r) in enumerate(zip(xs, rows, strict=True)):
            c = colors.get(r.get("family"), "gray")
            if x > hi:  # an outlier: a marker at the edge, its value beside it
                ax.scatter([hi], [k], marker=">", color=c, zorder=3, clip_on=False)
                ax.annotate(f"{x:.3f}", (hi, k), xytext=(-4, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=6, color=c)
            else:
                ax.scatter([x], [k], color=c, s=18 if many else 28, zorder=3)
        shown = [k for k, r in enumerate(rows)
                 if not many or r["name"] in best or r.get("family") == "blend"]
        ax.set_yticks(shown, [rows[k]["name"] for k in shown], fontsize=6 if many else 8)
        for k, label in zip(shown, ax.get_yticklabels(), strict=True):
            if rows[k]["name"] in best:
                label.set_fontweight("bold")
        ax.set_ylim(-1, len(rows))
    for x, label, color, style in lines:
        off = xs and not (ax.get_xlim()[0] <= x <= ax.get_xlim()[1])
        if not off:
            ax.axvline(x, color=color, linestyle=style, label=f"{label} {x:.4f}")
        else:  # a legend entry that says where it is
            ax.plot([], [], color=color, linestyle=style,
                    label=f"{label} {x:.4f} (off the scale)")
    for f, c in colors.items():
        if any(r.get("family") == f for r in rows):
            ax.scatter([], [], color=c, label=f"family {f}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_xlabel("probe RMSE")
    ax.set_title(f"{t['dataset']}: probe RMSE of {len(rows)} predictors, coloured by family "
                 "(bold: the best of each family)" + ("; named: each family's best and the "
                                                     "blends" if many else ""), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def chart_blend_curve(curves: list[tuple[str, list]], path: Path, note: str = "") -> bool:
    """``curves``: (label, forward-selection steps) of each blend to draw; each point is
    named by the predictor that step added. ``note`` says where the curve comes from."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, sel in curves:
        ys = [s.get("rmse") if isinstance(s, dict) else s for s in sel]
        ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=3, label=name)
        step = max(1, len(sel) // 25)  # at most ~25 names along a long curve
        for k, st in enumerate(sel):
            if isinstance(st, dict) and st.get("added") and (k % step == 0 or k < 5):
                ax.annotate(st["added"], (k + 1, ys[k]), xytext=(2, 4),
                            textcoords="offset points", fontsize=6, rotation=35)
    ax.set_xlabel("number of predictors (forward selection; each point names the one added)")
    ax.set_ylabel("blend RMSE (cross-validated on probe)")
    ax.set_title("Blend RMSE against the number of predictors"
                 + (f"\n{note}" if note else ""), fontsize=9)
    if curves:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no forward selection yet:\nprize blend --select forward",
                ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return bool(curves)


def chart_epochs(metas: list[PredictorRecord], path: Path) -> None:
    """Probe RMSE per epoch as small multiples, one panel per family with its best
    :data:`CURVES_PER_FAMILY` models (by best probe RMSE); each panel zoomed to where its
    models end up, the others counted in its title."""
    plt = _matplotlib()
    by_family: dict[str, list] = {}
    for m in metas:
        hist = [h for h in m.history or [] if h.get("probe_rmse") is not None]
        if hist:
            by_family.setdefault(m.family or "?", []).append(
                (m.name, [h["epoch"] for h in hist], [h["probe_rmse"] for h in hist]))
    families = sorted(by_family)
    n = max(len(families), 1)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colors = family_colors(families)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    for ax, f in zip(axes.flat, families, strict=False):
        curves = sorted(by_family[f], key=lambda c: min(c[2]))
        shown = curves[:CURVES_PER_FAMILY]
        for k, (name, xs, ys) in enumerate(shown):
            ax.plot(xs, ys, label=name, color=colors[f], alpha=1.0 - 0.2 * k,
                    linestyle=("-", "--", "-.", ":")[k % 4])
        best = min(min(ys) for _, _, ys in shown)
        ends = [ys[-1] for _, _, ys in shown] + [min(ys) for _, _, ys in shown]
        ax.set_ylim(best - 0.003, max(ends) + 0.02)
        more = len(curves) - len(shown)
        ax.set_title(f"{f}" + (f" (best {len(shown)} of {len(curves)})" if more else ""),
                     fontsize=9)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    if not families:
        axes.flat[0].text(0.5, 0.5, "no iterative models yet", ha="center", va="center",
                          transform=axes.flat[0].transAxes)
    fig.suptitle("Probe RMSE per epoch of the iterative models, by family", fontsize=10)
    fig.supxlabel("epoch", fontsize=8)
    fig.supylabel("probe RMSE", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def chart_ranking(evaluation: dict, path: Path) -> None:
    """The stored top-N evaluation (`prize evaluate --ranking`): NDCG@k of every model, and
    NDCG@k against popularity bias (how much of the accuracy is popularity)."""
    plt = _matplotlib()
    rows, k = evaluation["rows"], evaluation["k"][0]
    colors = {"popularity": "tab:gray", "ranking": "tab:blue", "rating": "tab:red",
              "blend": "tab:purple"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 2.2))
    names = [r["model"] for r in rows][::-1]
    ax1.barh(names, [r[f"ndcg@{k}"] for r in rows][::-1],
             color=[colors.get(r["kind"], "tab:green") for r in rows][::-1])
    ax1.set_xlabel(f"NDCG@{k}")
    for r in rows:
        ax2.scatter(r[f"popularity_bias@{k}"], r[f"ndcg@{k}"],
                    color=colors.get(r["kind"], "tab:green"))
        ax2.annotate(r["model"], (r[f"popularity_bias@{k}"], r[f"ndcg@{k}"]), fontsize=7,
                     xytext=(3, 3), textcoords="offset points")
    ax2.set_xlabel(f"popularity bias@{k} (mean popularity quantile)")
    ax2.set_ylabel(f"NDCG@{k}")
    sampled = " -- SAMPLED candidates" if evaluation.get("sampled") else ""
    fig.suptitle(f"{evaluation['dataset']}: top-{k} on the {evaluation['holdout']} hold-out, "
                 f"{evaluation['users']:,} users{sampled}", fontsize=10)
    _save(fig, path)


def reproduction(metas: list[PredictorRecord]) -> list[dict]:
    """Each stored predictor beside the published figure of the same model (Netflix)."""
    out = []
    for family, model, label, on, published, source in PUBLISHED:
        ours = [m for m in metas if m.family == family and (model is None or m.model == model)]
        best = min(ours, key=lambda m: getattr(m, f"{on}_rmse") or 9.0) if ours else None
        out.append({"model": label, "on": on, "published": published, "source": source,
                    "ours": getattr(best, f"{on}_rmse") if best else None,
                    "predictor": best.name if best else None})
    return out


def blend_sections(metas: list[PredictorRecord]) -> list[str]:
    """Markdown: each stored blend's composition (weights, or importances for a GBDT), its
    round, CV RMSE and when it was fitted."""
    out = []
    for m in sorted((m for m in metas if m.family == "blend"),
                    key=lambda m: m.probe_rmse if m.probe_rmse is not None else 9.0):
        e = m.extra
        out.append(f"\n### Blend `{m.name}` ({m.model}, {m.round} round)\n\n"
                   f"CV RMSE on probe {fmt(m.probe_rmse, '.5f')}, quiz {fmt(m.quiz_rmse, '.5f')};"
                   f" {len(e.get('predictors', []))} predictors; fitted {m.created_at or '?'}"
                   f" at commit {(m.git_commit or '?')[:10]}.\n")
        weights, imp = e.get("weights") or {}, e.get("importances") or {}
        if weights:
            out.append("| predictor | weight | drop loss |\n|---|---:|---:|")
            drop = e.get("drop_loss") or {}
            for n in sorted(weights, key=lambda n: -(drop.get(n) or 0.0)):
                w = weights[n]
                w = w.get("const") if isinstance(w, dict) else w
                out.append(f"| {n} | {fmt(w)} | {fmt(drop.get(n), '.5f')} |")
        elif imp:
            out.append("| feature | importance |\n|---|---:|")
            for n in sorted(imp, key=lambda n: -imp[n]):
                out.append(f"| {n} | {imp[n]:.4f} |")
    return out


def write_report(ds: Dataset, store: ProbeStore, out: Path, *, barrier: dict | None = None
                 ) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t = table(ds, store, barrier=barrier)
    metas = store.list(ds.name)
    netflix = (ds.meta.get("reference") or {}).get("kind") == "official"
    repro = reproduction(metas) if netflix else None
    ref_name = (ds.meta.get("reference") or {}).get("name") or LADDER_REFERENCE
    steps = checks = None
    quiz = {m.name: m.quiz_rmse for m in metas if m.quiz_rmse is not None}
    if "synthetic" in ds.meta and ref_name in quiz:
        from prize.blend.run import blend_quiz

        rungs = rung_blend_names(quiz)
        q = blend_quiz(ds, store, rungs) if len(rungs) > 1 else None
        steps = ladder(metas, ref_name,
                       None if q is None else (f"the rungs' linear blend ({len(rungs)} inputs)", q))
        blends = [m.quiz_rmse for m in metas if m.family == "blend" and m.quiz_rmse is not None]
        checks = ladder_orderings(quiz, ref_name,
                                  blend_quiz(ds, store, ["mf-f100", "rbm-conditional"]),
                                  min(blends) if blends else None)
    chart_rmse(t, barrier, out / "probe_rmse.png")
    stored = [m for m in metas if m.family == "blend" and m.extra.get("selection")]
    curves = [(m.name, m.extra["selection"]) for m in stored]
    computed = None
    if stored:
        note = "stored blends: " + ", ".join(f"{m.name} (fitted {m.created_at})"
                                             for m in stored)
    else:
        # No blend was built with --select forward: draw the linear blend's curve anyway.
        from prize.blend.run import selection_curve

        computed = selection_curve(ds, store)
        note = ("no stored blend has a forward selection: a linear blend's, computed for "
                "this report over every stored predictor")
        if computed is not None:
            curves.append(("linear blend, forward selection (this report)",
                           computed["steps"]))
    has_curve = chart_blend_curve(curves, out / "blend_curve.png", note)
    chart_epochs(metas, out / "epochs.png")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    commit = git_commit()
    rounds = sorted({m.round for m in metas if m.round})
    md = [render_markdown(t),  # the barrier is a line of the table, as on the leaderboard
          f"Report written {now} by prize {__version__}"
          + (f" at commit {commit[:10]}" if commit else "")
          + f"; {len(metas)} stored predictors, rounds: {', '.join(rounds) or '—'} "
            "(a final-round row was refitted on train+probe; its probe RMSE is the probe "
            "round's).\n"]
    if repro:
        md.append("\n## Reproduction of the published figures\n\n| model | set | published |"
                  " ours | predictor | source |\n|---|---|---:|---:|---|---|")
        for r in repro:
            ours = "—" if r["ours"] is None else f"{r['ours']:.4f}"
            md.append(f"| {r['model']} | {r['on']} | {r['published']:.4f} | {ours} | "
                      f"{r['predictor'] or '—'} | {r['source']} |")
    if steps:
        chart_ladder(steps, out / "ladder.png")
        md.extend(ladder_markdown(steps))
        md.append("\nThe 2007 blend's rung is the linear blend of the other rungs' predictors "
                  "and the references (as `scripts/bench_twin.py` blends them), fitted on "
                  "probe for this report. The orderings issue 17 asks for (quiz RMSE; the MF "
                  "+ RBM blend is the linear blend of `mf-f100` and `rbm-conditional`, fitted "
                  "the same way), and its floor for the best stored blend of the whole set "
                  "(the Grand Prize's blend: +10.06% on test):")
        md.extend(orderings_markdown(checks))
        md.append("\n![ladder](ladder.png)\n")
    blends = blend_sections(metas)
    if blends:
        md.append("\n## Blends\n")
        md.extend(blends)
    md.append("\n## Charts\n\n![probe RMSE](probe_rmse.png)\n\n*Probe RMSE of every "
              "predictor, coloured by family, the best of each in bold; the axis is zoomed to "
              "the competitive range and outliers sit at its right edge with their value.*\n"
              "\n![blend curve](blend_curve.png)\n\n*Blend RMSE (10-fold CV on probe) as "
              f"forward selection adds predictors, each point named by the one added; {note}.*"
              "\n\n![epochs](epochs.png)\n\n*Probe RMSE per epoch, one panel per family "
              f"with its best {CURVES_PER_FAMILY} models.*\n")
    charts = ["probe_rmse.png", "blend_curve.png", "epochs.png",
              *(["ladder.png"] if steps else [])]
    from prize.ranking.evaluate import load as load_ranking

    ranking = load_ranking(store.root.parent, ds)
    if ranking is not None:
        chart_ranking(ranking, out / "ranking.png")
        charts.append("ranking.png")
        md.append(f"\n## Beyond RMSE: ranking\n\n![ranking](ranking.png)\n\n*The stored "
                  f"`prize evaluate --ranking` of {ranking['written_at']}: NDCG@"
                  f"{ranking['k'][0]} per model, and against the popularity bias of its "
                  "lists.*\n")
    write_bytes(out / "leaderboard.md", "\n".join(md).encode())
    report = {"table": t, "barrier": barrier, "reproduction": repro, "charts": charts,
              "ladder": steps,
              "ladder_orderings": None if checks is None else [
                  {"ordering": text, "holds": ok} for text, ok in checks],
              "blend_curve": has_curve, "selection": computed, "written_at": now,
              "git_commit": commit}
    write_json(out / "leaderboard.json", json.loads(json.dumps(report, default=str)))
    return report
