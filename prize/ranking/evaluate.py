"""The top-N evaluation behind `prize evaluate --ranking`: fit every model on the hold-out's
training set, rank the candidate items of a sample of users, and score the lists.

The models judged side by side (all fitted in-process on the same training set):

- the ranking models (most-popular, item kNN top-N, EASE);
- a rating predictor (``mf`` by default) ranking by predicted rating -- the Prize's way;
- the popularity blend of that predictor, w chosen on a validation split carved from the
  training set (:func:`prize.ranking.holdout.carve`): the w in 0, 0.05, ..., 1 with the best
  NDCG@10 there. The table shows rating-only (w = 1), popularity-only (most-popular; the
  same order as w = 0) and the blend;
- any stored predictor (``--predictor NAME``): its kept fitted model where it learnt from
  TRAIN alone, else refitted from its stored family and config (a predictor trained on
  another's residuals cannot be, and is refused).

Candidates: every item the user has not rated in the training set (``all``), minus held-out
pairs of unknown truth; or (``sampled:N``) the user's held-out items plus N items drawn from
those the user has not rated at all, the same draw for every model. Sampled metrics are
labelled as such: they can order models differently from the full ranking (Krichene &
Rendle, "On sampled metrics for item recommendation", KDD 2020).

Users: those with at least one relevant held-out item and one training rating; at most
``n_users`` of them (:data:`DEFAULT_USERS`), drawn with the seed, the rest left out and the
numbers said in the output.

The result is a plain dict (``--json``); :func:`save` keeps the latest one per data set
under ``$PRIZE_HOME/ranking/<dataset>/evaluation.json``, where the leaderboard report finds
it (:func:`load`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from prize.data.dataset import Dataset
from prize.errors import ConfigError, DataError
from prize.ranking import holdout as H
from prize.ranking.metrics import popularity_quantiles, summarize
from prize.ranking.models import (
    EASERanker,
    ItemKNNTopN,
    MostPopular,
    PopularityBlend,
    RatingRanker,
    blend_scores,
    item_users,
)

#: Users evaluated by default, at most: enough for NDCG@10 to a few thousandths on every
#: data set here, and a rating predictor scores them against all 17,770 Netflix movies
#: (89M predictions) in about a minute.
DEFAULT_USERS = 5_000
#: The blend weights tried on the validation split: dense near 0, because the popularity
#: quantiles of the items worth recommending differ by hundredths while scaled predicted
#: ratings differ by tenths, so the useful weights on the rating are small.
BLEND_GRID = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3,
              0.5, 0.7, 1.0)
#: Rows of scores (users x items) held at a time.
SCORE_BLOCK = 1 << 22
RANKING_MODELS = ("most-popular", "item-knn", "ease")


def parse_candidates(text: str) -> tuple[str, int]:
    """``all`` or ``sampled:N``."""
    if text == "all":
        return "all", 0
    if text.startswith("sampled:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            n = 0
        if n > 0:
            return "sampled", n
    raise ConfigError(f"--candidates {text!r}: expected 'all' or 'sampled:N' with N > 0 "
                      "(e.g. sampled:100)")


def ranking_model(spec: str):
    """A ranking model from ``most-popular``, ``item-knn[:K]`` or ``ease[:CONFIG]``."""
    name, _, arg = spec.partition(":")
    if name == "most-popular" and not arg:
        return MostPopular()
    if name == "item-knn":
        try:
            return ItemKNNTopN(int(arg) if arg else 50)
        except ValueError:
            pass
    if name == "ease":
        return EASERanker(arg or None)
    raise ConfigError(f"--models {spec!r}: expected most-popular, item-knn[:K] or "
                      "ease[:CONFIG]")


def rating_model(spec: str) -> RatingRanker:
    """A rating predictor from ``FAMILY[:CONFIG]`` (a family of ``prize train``)."""
    from prize.models import FAMILIES

    family, _, config = spec.partition(":")
    if family not in FAMILIES:
        raise ConfigError(f"--rating {spec!r}: unknown family {family!r}; expected one of "
                          f"{', '.join(FAMILIES)} (FAMILY or FAMILY:CONFIG)")
    return RatingRanker(family, config or None)


def learns_only_from_train(record) -> bool:
    """Whether a stored probe-round model saw nothing of the hold-out: fitted on TRAIN, and
    not told which items users rated outside it (the who-rated-what of SVD++, timeSVD++,
    NSVD, the conditional RBM and the global kNN models defaults to every known pair,
    held-out ones included, which would rank the held-out items first)."""
    if record.round != "probe":
        return False  # the final round was refitted on TRAIN+PROBE
    c = record.config
    if record.family in ("svdpp", "nsvd", "timesvdpp"):
        return c.get("implicit") == "train"
    if record.family == "rbm":
        return not c.get("conditional", True) or c.get("conditional_on") == "train"
    if record.family == "knn" and record.model in ("global", "integrated"):
        return c.get("implicit", "all") == "train" and record.model == "integrated"
    return True


def stored_model(ds: Dataset, store, name: str) -> RatingRanker:
    """A stored predictor: its kept fitted model (``prize train`` keeps it) where that model
    learnt from TRAIN alone (:func:`learns_only_from_train`), else refitted in-process from
    its stored family and config with only the training pairs as who-rated-what."""
    meta = store.meta(ds.name, name)
    if meta is None:
        raise DataError(f"--predictor {name}: no stored predictor {name!r} on {ds.name}",
                        fix=f"List them with `prize probes list --data {ds.name}`")
    if meta.family == "blend":
        raise DataError(f"--predictor {name}: a blend of stored predictions cannot score "
                        "items it has no predictions for", fix="Name a single predictor")
    if meta.residuals_of:
        raise DataError(f"--predictor {name}: trained on the residuals of "
                        f"{meta.residuals_of!r}, which has no predictions for unrated items",
                        fix="Name a predictor trained on the ratings themselves")
    if "model" in meta.files and learns_only_from_train(meta):
        from prize.models import persist

        kept, _ = persist.load(store.model_path(ds, name))
        return RatingRanker(meta.family, name=f"{name} (kept model)",
                            fit=lambda *args, **kw: kept)
    return RatingRanker(meta.family, values={"model": meta.model, **meta.config}, name=name)


# -- ranking ----------------------------------------------------------------------------
def _mask(S: np.ndarray, indptr: np.ndarray, items: np.ndarray, lo: int, hi: int,
          value=-np.inf) -> None:
    """S[r, items of user lo + r] = value for the users lo..hi of a CSR."""
    a, b = indptr[lo], indptr[hi]
    rows = np.repeat(np.arange(hi - lo), np.diff(indptr[lo:hi + 1]))
    S[rows, items[a:b]] = value


def top_n(S: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, lengths): each row's ``K`` best finite scores, best first, ties by item
    index; ``-1`` pads a row with fewer than ``K`` finite scores."""
    n, m = S.shape
    K_ = min(K, m)
    top = np.argpartition(-S, K_ - 1, axis=1)[:, :K_]
    top.sort(axis=1)
    vals = np.take_along_axis(S, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    lengths = np.minimum(np.isfinite(S).sum(axis=1), K_)
    top[np.arange(K_)[None, :] >= lengths[:, None]] = -1
    out = np.full((n, K), -1, np.int64)
    out[:, :K_] = top
    return out, lengths


class Lists:
    """Ranks the candidates of a fixed set of users (the training items, the held-out pairs
    of unknown truth and, for sampled candidates, all but the sample removed)."""

    def __init__(self, h: H.Holdout, users: np.ndarray, candidates: tuple[str, int],
                 K: int, seed: int = 0):
        self.users, self.K, self.n_items = users, K, h.train.n_items
        self.train_csr = H.user_items(h.train, users)
        self.unknown_csr = H._csr(h.unknown_user, h.unknown_item, users)
        self.sampled = None
        if candidates[0] == "sampled":
            n = candidates[1]
            held_ptr, held_items = H._csr(h.test_user, h.test_item, users)
            rng = np.random.default_rng(seed)
            ptr, items = [0], []
            for r in range(len(users)):
                rated = np.concatenate([
                    self.train_csr[1][self.train_csr[0][r]:self.train_csr[0][r + 1]],
                    held_items[held_ptr[r]:held_ptr[r + 1]],
                    self.unknown_csr[1][self.unknown_csr[0][r]:self.unknown_csr[0][r + 1]]])
                free = np.setdiff1d(np.arange(self.n_items), rated)
                draw = rng.choice(free, min(n, len(free)), replace=False)
                mine = np.union1d(held_items[held_ptr[r]:held_ptr[r + 1]], draw)
                items.append(mine)
                ptr.append(ptr[-1] + len(mine))
            self.sampled = (np.asarray(ptr, np.int64),
                            np.concatenate(items).astype(np.int64) if items else
                            np.zeros(0, np.int64))

    @property
    def batch(self) -> int:
        return max(1, SCORE_BLOCK // max(self.n_items, 1))

    def restrict(self, S: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if self.sampled is not None:
            keep = np.full(S.shape, -np.inf, np.float32)
            ptr, items = self.sampled
            rows = np.repeat(np.arange(hi - lo), np.diff(ptr[lo:hi + 1]))
            cols = items[ptr[lo]:ptr[hi]]
            keep[rows, cols] = S[rows, cols]
            S = keep
        _mask(S, *self.train_csr, lo, hi)
        _mask(S, *self.unknown_csr, lo, hi)
        return S

    def rank(self, scores, desc: str = "ranking", progress: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """(recs, lengths) of every user, ``scores(users)`` giving their score rows."""
        from prize.progress import bar

        recs = np.full((len(self.users), self.K), -1, np.int64)
        lengths = np.zeros(len(self.users), np.int64)
        pb = bar(len(self.users), desc, "users", enabled=progress)
        for lo in range(0, len(self.users), self.batch):
            hi = min(lo + self.batch, len(self.users))
            S = np.array(scores(self.users[lo:hi]), np.float32)
            recs[lo:hi], lengths[lo:hi] = top_n(self.restrict(S, lo, hi), self.K)
            pb.update(hi - lo)
        pb.close()
        return recs, lengths


def sample_users(users: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(users) <= n:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, n, replace=False))


def choose_w(rating: RatingRanker, h: H.Holdout, *, n_users: int | None, seed: int,
             progress: bool = False) -> dict:
    """The blend weight with the best NDCG@10 on a validation split carved from ``h``'s
    training set (the rating predictor refitted on what remains of it)."""
    from prize.progress import bar

    fit_train, val = H.carve(h.train, h.mode, seed)
    val.threshold = h.threshold
    users = sample_users(val.eligible_users(), n_users, seed)
    if not len(users):
        return {"w": 1.0, "validation": {}, "validation_users": 0}
    shadow = copy.copy(rating).fit(fit_train)
    q = popularity_quantiles(item_users(fit_train)).astype(np.float32)
    lists = Lists(val, users, ("all", 0), 10)
    recs = {w: np.full((len(users), 10), -1, np.int64) for w in BLEND_GRID}
    lengths = np.zeros(len(users), np.int64)
    pb = bar(len(users), "choosing w", "users", enabled=progress)
    for lo in range(0, len(users), lists.batch):
        hi = min(lo + lists.batch, len(users))
        R = shadow.scores(users[lo:hi])
        for w in BLEND_GRID:
            S = lists.restrict(blend_scores(R, q, w, fit_train.scale), lo, hi)
            recs[w][lo:hi], lengths[lo:hi] = top_n(S, 10)
        pb.update(hi - lo)
    pb.close()
    rel = val.relevant(users)
    ndcg = {float(w): summarize(recs[w], lengths, *rel, q, fit_train.n_items, (10,))["ndcg@10"]
            for w in BLEND_GRID}
    best = max(ndcg, key=lambda w: (ndcg[w], -abs(w - 0.5)))
    return {"w": best, "validation": ndcg, "validation_users": int(len(users))}


def evaluate(ds: Dataset, *, models=RANKING_MODELS, rating: str | None = "mf",
             predictors: list[RatingRanker] = (), holdout: str = "latest",
             threshold: float | None = None, ks=(10, 20), candidates: str = "all",
             n_users: int | None = DEFAULT_USERS, seed: int = 0, log=None,
             progress: bool = False) -> dict:
    """Run the top-N evaluation (module docstring) and return its report; ``log`` takes
    a line per step, ``progress`` shows a bar over the users each model ranks."""
    cand = parse_candidates(candidates)
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k {ks}: expected positive list lengths, e.g. 10,20")
    say = log or (lambda msg: None)
    h = H.build(ds, holdout, threshold=threshold, seed=seed)
    eligible = h.eligible_users()
    users = sample_users(eligible, n_users, seed)
    if not len(users):
        raise DataError(f"{ds.name}: no user has a held-out rating >= {h.threshold:g}",
                        fix="Lower --threshold, or check that the data set has a hold-out")
    rel = h.relevant(users)
    q = popularity_quantiles(item_users(h.train))
    lists = Lists(h, users, cand, max(ks), seed)
    rows = []

    def judge(model, extra=None, fit=True, spent=0.0):
        """Fit (unless ``fit`` is False) and rank with ``model``; its seconds add
        ``spent``, time it took before this call."""
        t0 = time.perf_counter()
        if fit:
            say(f"fitting {model.name} on {len(h.train):,} ratings")
            model.fit(h.train)
        recs, lengths = lists.rank(model.scores, model.name, progress)
        seconds = time.perf_counter() - t0 + spent
        row = {"model": model.name, "kind": model.kind, "seconds": round(seconds, 2),
               **summarize(recs, lengths, *rel, q, h.train.n_items, ks), **(extra or {})}
        rows.append(row)
        say(f"{model.name}: NDCG@{ks[0]} {row[f'ndcg@{ks[0]}']:.4f} ({seconds:.1f} s)")
        return row

    for spec in models:
        judge(ranking_model(spec))
    blend_info = None
    if rating:
        r = rating_model(rating)
        rating_seconds = judge(r)["seconds"]
        say(f"choosing the blend weight on a validation split of {ds.name}'s training set")
        t1 = time.perf_counter()
        blend_info = choose_w(r, h, n_users=n_users, seed=seed, progress=progress)
        blend = PopularityBlend(r, blend_info["w"]).fit(h.train)
        judge(blend, extra={"w": blend_info["w"]}, fit=False,
              spent=rating_seconds + (time.perf_counter() - t1))
    for p in predictors:
        judge(p)
    return {
        "dataset": ds.name, "fingerprint": ds.fingerprint,
        "holdout": holdout, "threshold": h.threshold,
        "holdout_ratings": int(len(h.test_rating)),
        "relevant_ratings": int((h.test_rating >= h.threshold).sum()),
        "train_ratings": int(len(h.train)),
        "candidates": candidates, "sampled": cand[0] == "sampled",
        "users": int(len(users)), "eligible_users": int(len(eligible)),
        "n_items": int(h.train.n_items), "k": list(ks), "seed": seed,
        "blend": blend_info, "rows": rows,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# -- the stored evaluation ----------------------------------------------------------------
def path_of(home: Path, dataset: str) -> Path:
    return Path(home) / "ranking" / dataset / "evaluation.json"


def save(report: dict, home: Path) -> Path:
    from prize._atomic import write_json

    path = path_of(home, report["dataset"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, json.loads(json.dumps(report, default=float)))
    return path


def load(home: Path, ds: Dataset) -> dict | None:
    """The latest stored evaluation of ``ds``, or None when there is none or it was made on
    another version of the data (another fingerprint)."""
    path = path_of(home, ds.name)
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    return report if report.get("fingerprint") == ds.fingerprint else None
