"""A small synthetic ratings set whose answer is known in advance, shared by every family.

    r_ui(t) = round(mu + b_u + b_i + p_u · q_i + c_u sqrt(t - t_u) + noise), clipped to 1..5

with mu = 3.6, user and movie biases, a rank-``rank`` interaction, and (``drift``) a
per-user drift ``c_u`` in the square root of the days since the user's first rating
``t_u`` (the form of Bell & Koren's user × time(user) effect). Users rate between
``n_per_user`` movies, popular movies more often, on days spread over two years; each
user's last three ratings are the probe set, as in Netflix's hold-out.
"""

from __future__ import annotations

import numpy as np

from prize.data.dataset import Ratings

MU = 3.6
FIRST_DAY = 12_053  # 2003-01-01, in days since 1970
YEARS = 2
N_PROBE = 3  # each user's last ratings held out


def planted(seed: int = 0, n_users: int = 400, n_items: int = 150,
            n_per_user: tuple[int, int] = (10, 60), rank: int = 3, noise: float = 0.4,
            drift: bool = True) -> tuple[Ratings, Ratings]:
    """(train, probe) drawn from the model above; rows sorted by (user, day)."""
    lo, hi = n_per_user
    if not N_PROBE < lo <= hi <= n_items:
        raise ValueError(f"n_per_user = {n_per_user}: expected {N_PROBE} < lo <= hi <= n_items")
    rng = np.random.default_rng(seed)
    b_u = rng.normal(0.0, 0.35, n_users)
    b_i = rng.normal(0.0, 0.45, n_items)
    p = rng.normal(0.0, 0.35, (n_users, rank))
    q = rng.normal(0.0, 0.35, (n_items, rank))
    c = rng.normal(0.0, 0.03, n_users) if drift else np.zeros(n_users)

    # Which movies: the n_u largest of log(popularity) + Gumbel noise per user, i.e. a
    # popularity-weighted draw without replacement, vectorised over users.
    n = rng.integers(lo, hi + 1, n_users)
    log_pop = rng.normal(0.0, 1.0, n_items)
    keys = log_pop + rng.gumbel(size=(n_users, n_items))
    ranked = np.argsort(-keys, axis=1)
    take = np.arange(n_items) < n[:, None]
    user = np.repeat(np.arange(n_users), n)
    item = ranked[take]

    # When: each user is active over a span inside the two years; the first rating is on
    # the user's first day, so t - t_u >= 0 and is 0 for that rating.
    horizon = 365 * YEARS
    span = rng.integers(30, horizon, n_users)
    start = (rng.random(n_users) * (horizon - span)).astype(np.int64)
    offset = (rng.random(len(user)) * span[user]).astype(np.int64)
    first = np.r_[0, np.cumsum(n)[:-1]]
    offset[first] = 0
    day = start[user] + offset

    raw = (MU + b_u[user] + b_i[item] + np.einsum("nk,nk->n", p[user], q[item])
           + c[user] * np.sqrt(offset) + rng.normal(0.0, noise, len(user)))
    rating = np.clip(np.rint(raw), 1, 5).astype(np.float32)

    order = np.lexsort((day, user))
    user, item, rating, day = user[order], item[order], rating[order], day[order]
    # The last N_PROBE rows of each user (rows are sorted by day within a user).
    end = np.cumsum(n)
    rank_from_end = end[user] - np.arange(len(user))  # 1 for a user's last row
    held = rank_from_end <= N_PROBE

    def ratings(mask):
        return Ratings(user=user[mask].astype(np.int32), item=item[mask].astype(np.int32),
                       rating=rating[mask], day=(FIRST_DAY + day[mask]).astype(np.int32),
                       n_users=n_users, n_items=n_items, scale=(1.0, 5.0))

    return ratings(~held), ratings(held)
