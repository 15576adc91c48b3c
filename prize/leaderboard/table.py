"""The leaderboard table: every stored predictor beside the Cinematch reference, the 10% target,
the magic-barrier estimate and, on synthetic data, the oracle floor.

On Netflix data the reference is Cinematch's official 0.9514 (quiz) / 0.9525 (test). On any
other data set it is the predictor named in the dataset's meta (``reference``), trained on
that data set; the table says which. Improvement is the Prize's: 100·(ref − RMSE)/ref, on
quiz where the truth exists (the public leaderboard's number), else on probe.

The magic barrier (:mod:`prize.barrier`, the estimate ``prize barrier`` stored) is a floor
under the probe RMSE: the table shows it with its standard error, and each predictor's
distance to it, ``probe RMSE - barrier`` (the estimators target the probe rows).
"""

from __future__ import annotations

from prize.data.dataset import Dataset
from prize.metrics import fmt, improvement, target
from prize.probes import ProbeStore


def reference(ds: Dataset, store: ProbeStore) -> dict:
    ref = dict(ds.meta.get("reference") or {})
    if ref.get("kind") == "official":
        ref.setdefault("probe", None)
        return ref
    m = store.meta(ds.name, ref.get("name", "")) if ref.get("name") else None
    ref.update({"probe": None, "quiz": None, "test": None, "trained": m is not None})
    if m is not None:
        ref.update(probe=m.probe_rmse, quiz=m.quiz_rmse, test=m.test_rmse)
    else:
        ref["train_command"] = train_command(ref, ds.name)
    return ref


def score(ds: Dataset, store: ProbeStore, predictor: str, *, reveal: bool = False) -> dict:
    """One stored predictor's line: probe and quiz RMSE (test with ``reveal``) recomputed
    from its stored predictions, and its improvement over the reference, on quiz where the
    truth exists, else on probe -- the same figures as its row in :func:`table`."""
    from prize.scoring import score_probe, score_qualifying

    probe = store.read(ds, predictor, "probe")
    q = score_qualifying(ds, store.read(ds, predictor, "qualifying"))
    ref = reference(ds, store)
    r = {"predictor": predictor, "dataset": ds.name, "probe_rmse": score_probe(ds, probe),
         "quiz_rmse": q["quiz"], "reference": ref.get("name")}
    on = "quiz" if q["quiz"] is not None and ref.get("quiz") else "probe"
    r["improvement_on"] = on
    r["improvement"] = (improvement(r[f"{on}_rmse"], ref[on])
                        if ref.get(on) and r[f"{on}_rmse"] is not None else None)
    if reveal:
        r["test_rmse"] = q["test"]
        if ref.get("test") and q["test"] is not None:
            r["test_improvement"] = improvement(q["test"], ref["test"])
    return r


def train_command(ref: dict, dataset: str) -> str:
    """The command that trains a predictor reference under the name the meta gives it (an
    older meta without ``config`` names it ``<family>-<config>``)."""
    family, name = ref.get("family", "baseline"), ref.get("name", "")
    config = ref.get("config") or name.removeprefix(f"{family}-")
    config = f" --config {config}" if config and config != name else ""
    return f"prize train {family} --data {dataset}{config} --name {name}"


def barrier_line(barrier: dict | None) -> dict | None:
    """The barrier as a table line: its probe RMSE (the floor), standard error, estimator,
    and the quiz figure where the estimator gives one (the ordinal model's)."""
    if not barrier or barrier.get("rmse") is None:
        return None
    head = (barrier.get("estimators") or {}).get(barrier.get("method"), {})
    stderr = barrier.get("stderr")
    label = f"magic barrier ({barrier.get('method')}"
    label += f", ± {stderr:.4f})" if stderr is not None else ")"
    return {"label": label, "method": barrier.get("method"), "probe": barrier["rmse"],
            "quiz": head.get("expected_quiz"), "stderr": stderr}


def table(ds: Dataset, store: ProbeStore, *, reveal: bool = False,
          barrier: dict | None = None) -> dict:
    """The leaderboard of ``ds``; ``barrier`` is an estimate of :func:`prize.barrier.estimate`
    (or the stored one, :func:`prize.barrier.load_estimate`), shown as a floor."""
    ref = reference(ds, store)
    floor = barrier_line(barrier)
    on = "quiz" if ref.get("quiz") is not None else "probe"
    ref_value = ref.get(on)
    rows = []
    for m in store.list(ds.name):
        score = m.quiz_rmse if on == "quiz" else m.probe_rmse
        row = {
            "name": m.name,
            "family": m.family,
            "model": m.model,
            "round": m.round,
            "probe_rmse": m.probe_rmse,
            "quiz_rmse": m.quiz_rmse,
            "improvement": (improvement(score, ref_value)
                            if score is not None and ref_value else None),
            "above_barrier": (m.probe_rmse - floor["probe"]
                              if floor and m.probe_rmse is not None else None),
            "seconds": m.seconds,
        }
        if reveal:
            row["test_rmse"] = m.test_rmse
        rows.append(row)
    rows.sort(key=lambda r: (r[f"{on}_rmse"] is None, r[f"{on}_rmse"] or 0.0, r["name"]))
    lines = {}
    if ref_value:
        lines["target"] = {"label": f"10% better than {ref.get('name')}",
                           on: target(ref_value)}
        if ref.get("probe") is not None:
            lines["target"]["probe"] = target(ref["probe"])
        if ref.get("kind") == "official":
            lines["target"]["test"] = round(target(ref["test"]), 4)
    if floor:
        lines["barrier"] = floor
    oracle = ds.meta.get("oracle_rmse")
    if oracle:
        lines["oracle"] = {"label": "oracle (the data set's true error floor)", **oracle}
    return {
        "dataset": ds.name,
        "fingerprint": ds.fingerprint,
        "improvement_on": on,
        "reference": ref,
        "lines": lines,
        "rows": rows,
        "reveal": reveal,
    }


def _ref_label(t: dict) -> str:
    ref = t["reference"]
    if ref.get("kind") == "official":
        return f"{ref['name']} (official: quiz {ref['quiz']:.4f}, test {ref['test']:.4f})"
    if not ref.get("trained"):
        return (f"predictor '{ref.get('name')}' — not trained yet, so no improvement is shown; "
                f"train it with: {train_command(ref, t['dataset'])}")
    return f"predictor '{ref['name']}' ({t['improvement_on']} {fmt(ref.get(t['improvement_on']))})"


def _barrier_label(t: dict) -> str:
    b = t["lines"]["barrier"]
    pm = f" ± {b['stderr']:.4f}" if b.get("stderr") is not None else ""
    return (f"magic barrier: probe RMSE {b['probe']:.4f}{pm} ({b['method']} estimator), the "
            "floor no predictor can beat; 'to barrier' = probe RMSE minus it")


def _columns(t: dict) -> list[tuple[str, str, str]]:
    cols = [("name", "predictor", "s"), ("family", "family", "s"), ("probe_rmse", "probe", ".4f"),
            ("quiz_rmse", "quiz", ".4f")]
    if t["reveal"]:
        cols.append(("test_rmse", "test", ".4f"))
    cols.append(("improvement", "vs ref %", "+.2f"))
    if "barrier" in t["lines"]:
        cols.append(("above_barrier", "to barrier", "+.4f"))
    cols.append(("seconds", "seconds", ".1f"))
    return cols


def _cells(t: dict) -> tuple[list[str], list[list[str]]]:
    cols = _columns(t)
    head = [c[1] for c in cols]
    body = [[str(r[k]) if spec == "s" else fmt(r.get(k), spec) for k, _, spec in cols]
            for r in t["rows"]]
    for key in ("target", "barrier", "oracle"):
        line = t["lines"].get(key)
        if line:
            body.append([f"[{line['label']}]" if k == "name"
                         else fmt(line.get(k.removesuffix("_rmse"))) if k.endswith("_rmse")
                         else "" for k, _, _ in cols])
    return head, body


def render_text(t: dict) -> str:
    head, body = _cells(t)
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    out = [f"Leaderboard of {t['dataset']} (fingerprint {t['fingerprint']})",
           f"reference: {_ref_label(t)}"]
    if "barrier" in t["lines"]:
        out.append(_barrier_label(t))
    out.append("")
    out.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w)
                         for i, (h, w) in enumerate(zip(head, widths, strict=True))))
    out.append("  ".join("-" * w for w in widths))
    for row in body:
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    if not t["rows"]:
        out.append("(no predictors yet: prize train baseline --data " + t["dataset"] + ")")
    return "\n".join(out)


def render_markdown(t: dict) -> str:
    head, body = _cells(t)
    out = [f"## Leaderboard of `{t['dataset']}`", "", f"Reference: {_ref_label(t)}", ""]
    if "barrier" in t["lines"]:
        out += [_barrier_label(t)[0].upper() + _barrier_label(t)[1:], ""]
    out += [
           "| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(out) + "\n"
