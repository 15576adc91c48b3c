"""Global effects: Bell & Koren's sequence of ten one-parameter-per-entity regressions.

Bell & Koren, "Scalable collaborative filtering with jointly derived neighborhood
interpolation weights", ICDM 2007, section 3 ("Normalizing by removing global effects"),
and Bell, Koren & Volinsky, "Modeling relationships at multiple scales to improve accuracy
of large recommender systems", KDD 2007 / KDD-Cup 2007.

Starting from the residuals ``r_ui - mu``, the effects are estimated one at a time, each on
the residuals left by the ones before. For an effect "A × x" every entity ``a`` of kind A
(a user or a movie) gets one coefficient ``theta_a`` on an explanatory variable ``x_ui``,
centered per entity (``x̄_a`` is the mean of ``x_ui`` over ``a``'s training ratings):

    thetâ_a = sum_{(u,i) in R(a)} res_ui (x_ui - x̄_a) / sum_{(u,i) in R(a)} (x_ui - x̄_a)^2

and then shrunk toward 0, more so for entities with few ratings ``n_a``:

    theta_a = n_a thetâ_a / (n_a + alpha)

after which ``res_ui -= theta_a (x_ui - x̄_a)``. A main effect is the case ``x_ui = 1``
without centering: ``theta_a = sum res_ui / (n_a + alpha)``. The prediction is ``mu`` plus
every effect's ``theta_a (x_ui - x̄_a)``; an effect whose entity, or whose ``x_ui``, is
unknown (a user or movie without training ratings) contributes 0.

==  =======================  ======  =================================================
#   effect                   entity  x_ui
==  =======================  ======  =================================================
1   movie                    movie   1
2   user                     user    1
3   user × time(user)        user    sqrt(days since the user's first rating)
4   user × time(movie)       user    sqrt(days since the movie's first rating)
5   movie × time(movie)      movie   sqrt(days since the movie's first rating)
6   movie × time(user)       movie   sqrt(days since the user's first rating)
7   user × movie average     user    the movie's mean rating
8   user × movie support     user    sqrt(number of ratings of the movie)
9   movie × user average     movie   the user's mean rating
10  movie × user support     movie   sqrt(number of ratings of the user)
==  =======================  ======  =================================================

First days, means and supports are statistics of the training set; days before an
entity's first training day count as 0 days.

The published Netflix probe RMSEs (Bell & Koren 2007, table 1), each row adding one
effect to those above it:

==  =======================  ======
#   effect                   RMSE
==  =======================  ======
0   overall mean             1.1296
1   movie                    1.0527
2   user                     0.9841
3   user × time(user)        0.9809
4   user × time(movie)       0.9786
5   movie × time(movie)      0.9767
6   movie × time(user)       0.9759
7   user × movie average     0.9719
8   user × movie support     0.9690
9   movie × user average     0.9670
10  movie × user support     0.9657
==  =======================  ======

The paper gives no shrinkages; the values posted for Netflix on the Prize forum are 25, 7,
550, 150, 4000, 500, 90, 90, 50, 50 (effects 1 to 10). Our defaults keep them except for
effects 3, 4, 9 and 10 (200, 1000, 200, 2000): on MovieLens 100K and on the planted test
data the forum's 150 for effect 4 and 50 for effects 9 and 10 raise the probe RMSE (by up
to 0.004), because those effects are weak or absent there, while 200 for effect 3 keeps
most of its gain on both. On Netflix itself the forum values are the ones to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from prize.data.dataset import Ratings
from prize.models.base import Predictor


class Effect(NamedTuple):
    name: str  # also the suffix of its shrinkage field, alpha_<name>
    entity: str  # "user" or "movie": who owns a theta
    x: str  # the explanatory variable, a key of _FEATURES


#: The ten effects in the paper's order.
EFFECTS: tuple[Effect, ...] = (
    Effect("movie", "movie", "one"),
    Effect("user", "user", "one"),
    Effect("user_time_user", "user", "user_time"),
    Effect("user_time_movie", "user", "movie_time"),
    Effect("movie_time_movie", "movie", "movie_time"),
    Effect("movie_time_user", "movie", "user_time"),
    Effect("user_movie_average", "user", "movie_mean"),
    Effect("user_movie_support", "user", "movie_support"),
    Effect("movie_user_average", "movie", "user_mean"),
    Effect("movie_user_support", "movie", "user_support"),
)


@dataclass(frozen=True)
class GlobalEffectsConfig:
    n_effects: int = 10
    """How many of the ten effects to fit, in the paper's order (0 = the global mean,
    2 = movie and user main effects, 6 = through the time effects)."""
    alpha_movie: float = 25.0
    """Shrinkage alpha of effect 1, the movie main effect (Netflix forum: 25)."""
    alpha_user: float = 7.0
    """Shrinkage alpha of effect 2, the user main effect (Netflix forum: 7)."""
    alpha_user_time_user: float = 200.0
    """Effect 3, user × sqrt(days since the user's first rating) (Netflix forum: 550;
    200 suits users with ~30-100 ratings, as in MovieLens 100K)."""
    alpha_user_time_movie: float = 1000.0
    """Effect 4, user × sqrt(days since the movie's first rating) (Netflix forum: 150,
    which costs 0.004 probe RMSE on MovieLens 100K, collected over only seven months)."""
    alpha_movie_time_movie: float = 4000.0
    """Effect 5, movie × sqrt(days since the movie's first rating) (Netflix forum: 4000)."""
    alpha_movie_time_user: float = 500.0
    """Effect 6, movie × sqrt(days since the user's first rating) (Netflix forum: 500)."""
    alpha_user_movie_average: float = 90.0
    """Effect 7, user × the movie's mean rating (Netflix forum: 90)."""
    alpha_user_movie_support: float = 90.0
    """Effect 8, user × sqrt(the movie's number of ratings) (Netflix forum: 90)."""
    alpha_movie_user_average: float = 200.0
    """Effect 9, movie × the user's mean rating (Netflix forum: 50)."""
    alpha_movie_user_support: float = 2000.0
    """Effect 10, movie × sqrt(the user's number of ratings) (Netflix forum: 50, which
    costs 0.003 probe RMSE on MovieLens 100K, where every user has 20+ ratings)."""
    select_shrinkage: bool = True
    """Choose each effect's alpha from ``alpha × shrinkage_grid`` (or leave the effect out)
    by the RMSE on a hold-out carved from the training set the way the probe set is made:
    each user's most recent ratings. The effect is then refitted on all training ratings.
    Data sets differ (MovieLens spans months, Netflix years): a fixed alpha that helps on
    one hurts on another, and a weak effect is better left out than fitted to noise."""
    shrinkage_grid: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)
    """Multipliers of the configured alpha tried by ``select_shrinkage``."""
    selection_holdout: int = 9
    """Most recent training ratings per user in that hold-out (at most half of a user's
    ratings; users with fewer than 4 keep all theirs), as the Netflix probe was made."""

    def __post_init__(self):
        if not 0 <= self.n_effects <= len(EFFECTS):
            raise ValueError(f"n_effects = {self.n_effects}: expected 0..{len(EFFECTS)}")
        for e in EFFECTS:
            if self.alpha(e.name) < 0:
                raise ValueError(f"alpha_{e.name} = {self.alpha(e.name)}: expected >= 0")

    def alpha(self, effect: str) -> float:
        return float(getattr(self, f"alpha_{effect}"))


class _Stats(NamedTuple):
    """Per-entity training statistics the explanatory variables are made of."""

    user_n: np.ndarray
    user_first: np.ndarray
    user_mean: np.ndarray
    movie_n: np.ndarray
    movie_first: np.ndarray
    movie_mean: np.ndarray


def _stats(train: Ratings) -> _Stats:
    def per(index, n):
        count = np.bincount(index, minlength=n)
        total = np.bincount(index, weights=train.rating, minlength=n)
        mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
        first = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first, index, train.day.astype(np.int64))
        first[count == 0] = 0
        return count.astype(np.float64), first, mean

    return _Stats(*per(train.user, train.n_users), *per(train.item, train.n_items))


def _lookup(values: np.ndarray, count: np.ndarray, index: np.ndarray):
    """(values[index], known) where known marks ids in range with training ratings."""
    ok = (index >= 0) & (index < len(values))
    ok[ok] = count[index[ok]] > 0
    out = np.zeros(len(index), np.float64)
    out[ok] = values[index[ok]]
    return out, ok


def _since(first_day: np.ndarray, count: np.ndarray, index: np.ndarray, days: np.ndarray):
    first, ok = _lookup(first_day, count, index)
    return np.sqrt(np.maximum(days - first, 0.0)), ok


#: x_ui of each explanatory variable: (stats, users, movies, days) -> (x, known).
_FEATURES = {
    "one": lambda s, u, i, t: (np.ones(len(u)), np.ones(len(u), bool)),
    "user_time": lambda s, u, i, t: _since(s.user_first, s.user_n, u, t),
    "movie_time": lambda s, u, i, t: _since(s.movie_first, s.movie_n, i, t),
    "movie_mean": lambda s, u, i, t: _lookup(s.movie_mean, s.movie_n, i),
    "movie_support": lambda s, u, i, t: _lookup(np.sqrt(s.movie_n), s.movie_n, i),
    "user_mean": lambda s, u, i, t: _lookup(s.user_mean, s.user_n, u),
    "user_support": lambda s, u, i, t: _lookup(np.sqrt(s.user_n), s.user_n, u),
}


def fit_effect(entity: np.ndarray, n_entities: int, x: np.ndarray, res: np.ndarray,
               alpha: float, center: bool) -> tuple[np.ndarray, np.ndarray]:
    """(theta, x̄) of one effect: theta_a = n_a thetâ_a / (n_a + alpha) with
    thetâ_a = sum res (x - x̄_a) / sum (x - x̄_a)^2 over a's ratings (x̄ = 0 uncentered)."""
    n = np.bincount(entity, minlength=n_entities).astype(np.float64)
    if center:
        xbar = np.divide(np.bincount(entity, weights=x, minlength=n_entities), n,
                         out=np.zeros(n_entities), where=n > 0)
        xc = x - xbar[entity]
        xc[np.abs(xc) < 1e-9] = 0.0  # an entity whose x never varies has no slope
    else:
        xbar = np.zeros(n_entities)
        xc = x
    num = np.bincount(entity, weights=res * xc, minlength=n_entities)
    den = np.bincount(entity, weights=xc * xc, minlength=n_entities)
    theta_hat = np.divide(num, den, out=np.zeros(n_entities), where=den > 0)
    theta = np.divide(n * theta_hat, n + alpha, out=np.zeros(n_entities), where=n + alpha > 0)
    return theta, xbar


def _subset(r: Ratings, mask: np.ndarray) -> Ratings:
    return Ratings(np.asarray(r.user)[mask], np.asarray(r.item)[mask],
                   np.asarray(r.rating)[mask], np.asarray(r.day)[mask], r.n_users, r.n_items,
                   scale=r.scale)


def _rmse(pred: np.ndarray, truth: np.ndarray, scale) -> float:
    return float(np.sqrt(np.mean((np.clip(pred, *scale) - truth) ** 2)))


class GlobalEffects(Predictor):
    """mu plus Bell & Koren's global effects, fitted one after another (see the module
    docstring for the equations and the published table).

    Fitted: ``mu_``, ``theta_`` and ``xbar_`` (one array per effect, indexed by user or
    movie), the training statistics the ``x_ui`` come from, and ``effects_``: one dict per
    row of the paper's table, ``{"effect", "train_rmse"[, "probe_rmse"]}``, starting with
    ``"mean"`` (row 0) and then each fitted effect; RMSEs of the clipped predictions.
    """

    family = "baseline"
    name = "global_effects"
    Config = GlobalEffectsConfig

    @property
    def fitted_effects(self) -> tuple[Effect, ...]:
        return EFFECTS[: self.config.n_effects]

    def _select_alphas(self, train: Ratings) -> list[float | None]:
        """Each effect's alpha (None: left out), chosen on a recent-ratings hold-out."""
        c = self.config
        if not c.select_shrinkage:
            return [c.alpha(e.name) for e in self.fitted_effects]
        user = np.asarray(train.user, np.int64)
        order = np.lexsort((np.asarray(train.day), user))
        su = user[order]
        starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
        counts = np.diff(np.r_[starts, len(su)])
        rank = np.arange(len(su)) - np.repeat(starts, counts)
        k = np.where(counts >= 4, np.minimum(c.selection_holdout, counts // 2), 0)
        held = np.zeros(len(user), bool)
        held[order[rank >= np.repeat(counts - k, counts)]] = True
        fit_part = _subset(train, ~held)
        val = _subset(train, held)
        s = _stats(fit_part)
        truth = fit_part.rating.astype(np.float64)
        pred = np.full(len(fit_part), float(np.mean(truth)))
        val_truth = val.rating.astype(np.float64)
        val_pred = np.full(len(val), float(np.mean(truth)))
        chosen = []
        for e in self.fitted_effects:
            entity = fit_part.user if e.entity == "user" else fit_part.item
            n_entities = train.n_users if e.entity == "user" else train.n_items
            x, _ = _FEATURES[e.x](s, fit_part.user, fit_part.item, fit_part.day.astype(float))
            vx, vok = _FEATURES[e.x](s, val.user, val.item, val.day.astype(float))
            v_entity = val.user if e.entity == "user" else val.item
            known = vok & ((s.user_n if e.entity == "user" else s.movie_n)[v_entity] > 0)
            best = (_rmse(val_pred, val_truth, self.scale_), None, None, None, None)
            for m in c.shrinkage_grid:
                theta, xbar = fit_effect(entity, n_entities, x, truth - pred,
                                         c.alpha(e.name) * m, center=e.x != "one")
                step = np.where(known, theta[v_entity] * (vx - xbar[v_entity]), 0.0)
                score = _rmse(val_pred + step, val_truth, self.scale_)
                if score < best[0] - 1e-7:
                    best = (score, c.alpha(e.name) * m, theta, xbar, step)
            chosen.append(best[1])
            if best[1] is not None:
                theta, xbar, step = best[2], best[3], best[4]
                pred += theta[entity] * (x - xbar[entity])
                val_pred += step
        return chosen

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self.alphas_ = self._select_alphas(train)
        self.mu_ = mu = float(np.mean(train.rating, dtype=np.float64))
        self.stats_ = s = _stats(train)
        truth = train.rating.astype(np.float64)
        pred = np.full(len(train), mu)
        if probe is not None:
            probe_pred = np.full(len(probe), mu)
            probe_truth = probe.rating.astype(np.float64)
        self.theta_, self.xbar_, self.effects_ = [], [], []

        def record(name):
            row = {"effect": name, "train_rmse": _rmse(pred, truth, self.scale_)}
            if probe is not None:
                row["probe_rmse"] = _rmse(probe_pred, probe_truth, self.scale_)
            self.effects_.append(row)

        record("mean")
        for e, alpha in zip(self.fitted_effects, self.alphas_, strict=True):
            entity = train.user if e.entity == "user" else train.item
            n_entities = train.n_users if e.entity == "user" else train.n_items
            x, _ = _FEATURES[e.x](s, train.user, train.item, train.day.astype(np.float64))
            if alpha is None:  # left out: its term is 0 everywhere
                theta, xbar = np.zeros(n_entities), np.zeros(n_entities)
            else:
                theta, xbar = fit_effect(entity, n_entities, x, truth - pred, alpha,
                                         center=e.x != "one")
            self.theta_.append(theta)
            self.xbar_.append(xbar)
            pred += theta[entity] * (x - xbar[entity])
            if probe is not None:
                probe_pred += self._effect(len(self.theta_) - 1, probe.user, probe.item,
                                           probe.day)
            record(e.name)

    def _effect(self, k: int, users, items, days) -> np.ndarray:
        """Effect k's term theta_a (x_ui - x̄_a) for any pairs, 0 where a or x is unknown."""
        e = EFFECTS[k]
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        x, x_ok = _FEATURES[e.x](self.stats_, users, items, np.asarray(days, np.float64))
        if e.entity == "user":
            _, a_ok = _lookup(self.stats_.user_n, self.stats_.user_n, users)
            a = users
        else:
            _, a_ok = _lookup(self.stats_.movie_n, self.stats_.movie_n, items)
            a = items
        ok = a_ok & x_ok
        out = np.zeros(len(users))
        out[ok] = self.theta_[k][a[ok]] * (x[ok] - self.xbar_[k][a[ok]])
        return out

    def _predict(self, users, items, days):
        pred = np.full(len(users), self.mu_)
        for k in range(len(self.theta_)):
            pred += self._effect(k, users, items, days)
        return pred
