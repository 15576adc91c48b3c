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
from prize.errors import DataError
from prize.metrics import fmt, improvement, target
from prize.probes import ProbeStore


def reference(ds: Dataset, store: ProbeStore, *, reveal: bool = False) -> dict:
    """The reference line: Cinematch's official figures on Netflix data, else the stored
    predictor the dataset names (its scores only when it is current: a stale or broken
    reference gives no improvement). Test figures only with ``reveal``."""
    ref = dict(ds.meta.get("reference") or {})
    if ref.get("kind") == "official":
        ref.setdefault("probe", None)
        if not reveal:
            ref.pop("test", None)
        return ref
    ref.update({"probe": None, "quiz": None, "trained": False})
    if reveal:
        ref["test"] = None
    m, problem = None, None
    if ref.get("name"):
        try:
            m = store.meta(ds.name, ref["name"])
        except DataError as e:
            problem = e.problem
        if m is not None:
            status, problem = store.problem(ds, m)
    if problem is not None:
        ref["status"], ref["problem"] = "stale" if m is not None and status == "stale" \
            else "broken", problem
        ref["train_command"] = train_command(ref, ds.name)
    elif m is not None:
        ref.update(trained=True, probe=m.probe_rmse, quiz=m.quiz_rmse)
        if reveal:
            ref["test"] = m.test_rmse
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
    ref = reference(ds, store, reveal=reveal)
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


def reference_config(ref: dict) -> tuple[str, str | None]:
    """The family and config of a predictor reference (an older meta without ``config``
    names it ``<family>-<config>``; ``None``: the family's default)."""
    family, name = ref.get("family", "baseline"), ref.get("name", "")
    config = ref.get("config") or name.removeprefix(f"{family}-")
    return family, config if config and config != name else None


def train_command(ref: dict, dataset: str) -> str:
    """The command that trains a predictor reference under the name the meta gives it."""
    (family, config), name = reference_config(ref), ref.get("name", "")
    config = f" --config {config}" if config else ""
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
    (or the stored one, :func:`prize.barrier.load_estimate`), shown as a floor.

    Rows are ranked within their round: probe-round predictors (fitted on TRAIN) first,
    then final-round ones (refitted on TRAIN+PROBE: their quiz scores come from more data,
    so the two are not ranked together), each with its ``rank`` in its round. Stale or
    broken predictors (:meth:`prize.probes.ProbeStore.survey`) come last, unranked, with
    their ``status`` and ``problem`` and no improvement. Test RMSEs only with ``reveal``.
    """
    ref = reference(ds, store, reveal=reveal)
    floor = barrier_line(barrier)
    on = "quiz" if ref.get("quiz") is not None else "probe"
    ref_value = ref.get(on)
    rows = []
    for e in store.survey(ds):
        m = e.record
        current = e.status == "ok"
        score = (m.quiz_rmse if on == "quiz" else m.probe_rmse) if m is not None else None
        row = {
            "name": e.name,
            "family": m.family if m is not None else None,
            "model": m.model if m is not None else None,
            "round": m.round if m is not None else None,
            "status": e.status,
            "rank": None,
            "probe_rmse": m.probe_rmse if m is not None else None,
            "quiz_rmse": m.quiz_rmse if m is not None else None,
            "improvement": (improvement(score, ref_value)
                            if current and score is not None and ref_value else None),
            "above_barrier": (m.probe_rmse - floor["probe"]
                              if current and floor and m.probe_rmse is not None else None),
            "seconds": m.seconds if m is not None else None,
        }
        if e.problem:
            row["problem"] = e.problem
        if reveal:
            row["test_rmse"] = m.test_rmse if m is not None else None
        rows.append(row)
    rounds = {"probe": 0, "final": 1}
    rows.sort(key=lambda r: (r["status"] != "ok", rounds.get(r["round"], 2),
                             r[f"{on}_rmse"] is None, r[f"{on}_rmse"] or 0.0, r["name"]))
    counters: dict[str, int] = {}
    for r in rows:
        if r["status"] == "ok" and r[f"{on}_rmse"] is not None:
            counters[r["round"]] = r["rank"] = counters.get(r["round"], 0) + 1
    lines = {}
    if ref_value:
        lines["target"] = {"label": f"10% better than {ref.get('name')}",
                           on: target(ref_value)}
        if ref.get("probe") is not None:
            lines["target"]["probe"] = target(ref["probe"])
        if ref.get("kind") == "official" and reveal:
            lines["target"]["test"] = round(target(ref["test"]), 4)
    if floor:
        lines["barrier"] = floor
    oracle = ds.meta.get("oracle_rmse")
    if oracle:
        oracle = {k: v for k, v in oracle.items() if reveal or k != "test"}
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
        test = f", test {ref['test']:.4f}" if ref.get("test") is not None else ""
        return f"{ref['name']} (official: quiz {ref['quiz']:.4f}{test})"
    if ref.get("problem"):
        return (f"predictor '{ref.get('name')}' is {ref['status']} ({ref['problem']}), so no "
                f"improvement is shown; retrain it with: {train_command(ref, t['dataset'])}")
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
    cols = [("rank", "#", "s"), ("name", "predictor", "s"), ("family", "family", "s"),
            ("round", "round", "s"), ("status", "status", "s"),
            ("probe_rmse", "probe", ".4f"), ("quiz_rmse", "quiz", ".4f")]
    if t["reveal"]:
        cols.append(("test_rmse", "test", ".4f"))
    cols.append(("improvement", "vs ref %", "+.2f"))
    if "barrier" in t["lines"]:
        cols.append(("above_barrier", "to barrier", "+.4f"))
    cols.append(("seconds", "seconds", ".1f"))
    return cols


#: The leading text columns (rank, predictor, family, round, status), left-aligned.
_TEXT_COLUMNS = 5


def _cells(t: dict) -> tuple[list[str], list[list[str]]]:
    cols = _columns(t)
    head = [c[1] for c in cols]
    body = [["" if r.get(k) is None else str(r[k]) if spec == "s" else fmt(r.get(k), spec)
             for k, _, spec in cols] for r in t["rows"]]
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
    left = _TEXT_COLUMNS
    out.append("  ".join(h.ljust(w) if i < left else h.rjust(w)
                         for i, (h, w) in enumerate(zip(head, widths, strict=True))))
    out.append("  ".join("-" * w for w in widths))
    for row in body:
        out.append("  ".join(c.ljust(w) if i < left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    problems = [r for r in t["rows"] if r.get("problem")]
    if problems:
        out.append("")
        out.append("not ranked (retrain or remove them):")
        out += [f"  {r['name']}: {r['status']}: {r['problem']}" for r in problems]
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
           "|" + "|".join(["---"] * _TEXT_COLUMNS + ["---:"] * (len(head) - _TEXT_COLUMNS))
        + "|"]
    out += ["| " + " | ".join(row) + " |" for row in body]
    problems = [r for r in t["rows"] if r.get("problem")]
    if problems:
        out += ["", "Not ranked (retrain or remove them):", ""]
        out += [f"- `{r['name']}`: {r['status']}: {r['problem']}" for r in problems]
    return "\n".join(out) + "\n"
