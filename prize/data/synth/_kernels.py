"""Numba kernels of the synthetic Netflix generator (:mod:`prize.data.synth`).

They take plain arrays and scalars and import nothing from the rest of the package.
Each kernel has a slow, obvious twin in ``tests/test_synth.py`` (or is checked against
its own ``py_func`` where the twin would only repeat the same code).

Random numbers come from a counter-based splitmix64 stream per user (Steele, Lea &
Flood 2014): user ``u``'s stream starts at ``mix64(seed ^ mix64((u + 1) * golden))``.
A user's ratings therefore depend only on the seed and the user, never on how the
users are spread over threads or chunks, so ``prange`` keeps the output byte-identical.
"""

import math

import numpy as np
from numba import njit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi
_SQRT1_2 = 1.0 / math.sqrt(2.0)

# Split codes of the in-memory rows (see prize.data.synth).
TRAIN, PROBE, QUIZ, TEST = 0, 1, 2, 3
# Output modes of format_blocks: one per Netflix file.
MODE_TRAINING, MODE_PROBE, MODE_QUALIFYING, MODE_TRUTH = 0, 1, 2, 3


# ---------------------------------------------------------------- random numbers
@njit(cache=True)
def mix64(z):
    """splitmix64 finaliser: a bijective 64-bit hash (wrap-around arithmetic)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def user_stream(seed, u):
    """Initial splitmix64 state of user ``u``'s stream for a uint64 ``seed``."""
    return mix64(np.uint64(seed) ^ mix64((np.uint64(u) + np.uint64(1)) * _GOLDEN))


@njit(cache=True)
def next_uniform(state):
    """Advance the stream; return ``(state, U)`` with U uniform on the open (0, 1)."""
    # np.uint64(): a state handed back from Python arrives as int64, and int64 + uint64
    # would silently become float64 in numba.
    state = np.uint64(state) + _GOLDEN
    return state, (float(mix64(state) >> _S11) + 0.5) * _TWO_M53


@njit(cache=True)
def next_normal(state):
    """Advance the stream; return ``(state, Z)``, Z ~ N(0, 1) by Box-Muller."""
    state, u1 = next_uniform(state)
    state, u2 = next_uniform(state)
    return state, math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@njit(cache=True)
def family_effect(seed, u, fam):
    """The standard normal draw ``z_{u,F}`` behind user ``u``'s taste for family ``F``.

    Counter-based like the user streams (its own ``seed``), so that every rating of a film
    of ``F`` by ``u`` sees the same value without storing a users x families table, and
    the user streams (films, days, noise) stay exactly as they are without families.
    """
    state = user_stream(seed, u) ^ mix64((np.uint64(fam) + np.uint64(1)) * _MIX1)
    state, z = next_normal(state)
    return z


# ---------------------------------------------------------------- alias tables
@njit(cache=True)
def build_alias(p):
    """Walker's alias table (Vose's construction) for the distribution ``p / p.sum()``.

    Draw ``j = floor(n U)``; keep ``j`` if the fractional part of ``n U`` is below
    ``prob[j]``, else take ``alias[j]``. Then ``P(i) = (prob_i + sum_{j: alias_j = i}
    (1 - prob_j)) / n = p_i``: one uniform and one comparison per draw, where a
    binary search over 17,770 cumulative weights costs 15 unpredictable branches.
    """
    n = p.shape[0]
    scaled = p * (n / p.sum())
    prob = np.ones(n)
    alias = np.arange(n).astype(np.int32)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    # Leftovers are 1 up to rounding error; prob stays 1 for them.
    return prob, alias


# ---------------------------------------------------------------- popularity calibration
@njit(cache=True, parallel=True)
def inclusion_probabilities(A, w, n, t, pi):
    """Rosen's approximation of successive sampling, for each sampled user.

    User ``u`` draws ``n_u`` distinct items with weights ``w_i A_ui``; item ``i`` is
    included with probability about ``pi_ui = 1 - exp(-t_u w_i A_ui)``, where ``t_u``
    solves ``sum_i pi_ui = n_u`` (Rosen 1972). ``t`` holds a starting value (updated in
    place). ``g(t) = sum_i pi_ui(t) - n_u`` is increasing and concave, so its tangent lies
    above it and a Newton step from either side lands at or below the root: after the
    first positive step Newton climbs to the root monotonically (quadratically at the
    end). A step that is not positive (from far to the right) halves ``t`` instead.
    Writes ``pi[u, :]``.
    """
    S, n_items = A.shape
    for u in prange(S):
        target = n[u]
        tu = t[u]
        for _ in range(500):
            g = -target
            dg = 0.0
            for i in range(n_items):
                b = w[i] * A[u, i]
                e = math.exp(-tu * b)
                g += 1.0 - e
                dg += b * e
            if abs(g) <= 1e-9 * target:
                break
            step = tu - g / dg
            tu = step if step > 0 else 0.5 * tu
        t[u] = tu
        for i in range(n_items):
            pi[u, i] = 1.0 - math.exp(-tu * w[i] * A[u, i])


# ---------------------------------------------------------------- the users
@njit(cache=True)
def _dot(a, b):
    acc = 0.0
    for k in range(a.shape[0]):
        acc += a[k] * b[k]
    return acc


@njit(cache=True)
def _family_tilt(u, i, family, family_seed, sigma_family, family_tilt):
    """``family_tilt g_{u,F(i)}``: the part of the user's family taste that steers what
    they choose (law 2; 0 where ``family_tilt`` is 0, so law 1 draws as it always did)."""
    if family_tilt == 0.0 or family[i] < 0 or sigma_family <= 0.0:
        return 0.0
    return family_tilt * sigma_family * family_effect(family_seed, u, family[i])


@njit(cache=True)
def _choose_exact(state, k, pu, Q, log_pop, gamma, cap, seen, items, xs, pos, u, family,
                  family_seed, sigma_family, family_tilt):
    """Pick ``k`` more unseen items by Efraimidis-Spirakis keys (exact, O(n_items)).

    Sequential sampling without replacement with weights ``w_i`` is the same law as
    keeping the ``k`` smallest ``E_i / w_i``, ``E_i ~ Exp(1)``; in logs
    ``log E_i - log pop_i - gamma min(x_ui + h_ui, cap)`` (``h_ui``: :func:`_family_tilt`).
    """
    n = Q.shape[0]
    keys = np.empty(n)
    xall = np.empty(n)
    for i in range(n):
        x = _dot(pu, Q[i])
        xall[i] = x
        state, v = next_uniform(state)
        if seen[i]:
            keys[i] = np.inf
        else:
            h = _family_tilt(u, i, family, family_seed, sigma_family, family_tilt)
            if h != 0.0:
                x = x + h
            keys[i] = math.log(-math.log(v)) - log_pop[i] - gamma * min(x, cap)
    order = np.argsort(keys)
    for j in range(k):
        i = order[j]
        seen[i] = 1
        items[pos + j] = i
        xs[pos + j] = xall[i]
    return state


@njit(cache=True)
def _choose_items(state, k, pu, Q, alias_prob, alias_idx, log_pop, gamma, cap, exact_above,
                  seen, items, xs, u, family, family_seed, sigma_family, family_tilt):
    """Draw ``k`` distinct items with weights ``w_ui = pop_i exp(gamma min(x_ui + h_ui,
    cap))``, ``h_ui`` the family tilt (:func:`_family_tilt`, 0 under law 1).

    Light users: propose ``i ~ pop`` from the alias table, reject items already taken,
    accept with probability ``exp(gamma (min(x_ui, cap) - cap)) <= 1``; that is
    sequential weighted sampling without replacement. A user who takes more than
    ``exact_above`` items (or whose proposals keep hitting taken items) switches to
    the exact key method, whose cost does not grow as the free mass shrinks.
    """
    n = Q.shape[0]
    if k > exact_above:
        return _choose_exact(state, k, pu, Q, log_pop, gamma, cap, seen, items, xs, 0, u,
                             family, family_seed, sigma_family, family_tilt)
    got = 0
    tries = 0
    max_tries = 200 * k + 10000
    while got < k:
        tries += 1
        if tries > max_tries:
            return _choose_exact(state, k - got, pu, Q, log_pop, gamma, cap, seen, items, xs,
                                 got, u, family, family_seed, sigma_family, family_tilt)
        state, v = next_uniform(state)
        nv = v * n
        j = int(nv)
        i = j if nv - j < alias_prob[j] else alias_idx[j]
        if seen[i]:
            continue
        x = _dot(pu, Q[i])
        state, v = next_uniform(state)
        xt = x
        h = _family_tilt(u, i, family, family_seed, sigma_family, family_tilt)
        if h != 0.0:
            xt = x + h
        if v < math.exp(gamma * (min(xt, cap) - cap)):
            seen[i] = 1
            items[got] = i
            xs[got] = x
            got += 1
    return state


@njit(cache=True)
def _simulate_one(u, seed, offsets, P, Q, Pc, Qc, turned, alias_prob, alias_idx, log_pop, cap,
                  gamma, exact_above, start, stop, n_sess, first_session_weight, b_u, alpha_u, b_i,
                  b_i_bin, bin_width, beta, sigma_day, family, family_seed, sigma_family,
                  family_tilt, item_scale, seen, item_out, day_out, score_out, eps_out):
    n = offsets[u + 1] - offsets[u]
    off = offsets[u]
    state = user_stream(seed, u)
    items = np.empty(n, np.int64)
    xs = np.empty(n)
    state = _choose_items(state, n, Pc[u], Qc, alias_prob, alias_idx, log_pop, gamma, cap[u],
                          exact_above, seen, items, xs, u, family, family_seed, sigma_family,
                          family_tilt)
    for j in range(n):
        seen[items[j]] = 0
    if turned:  # law 6: the choice saw w_u^T v_i; the stars see p_u^T q_i
        for j in range(n):
            xs[j] = _dot(P[u], Q[items[j]])
    # Fisher-Yates, so that the order of the draws (popular first) does not leak into
    # the order of the days.
    for j in range(n - 1, 0, -1):
        state, v = next_uniform(state)
        r = int(v * (j + 1))
        items[j], items[r] = items[r], items[j]
        xs[j], xs[r] = xs[r], xs[j]
    # Session days: m distinct days of the active period, by selection sampling
    # (Knuth's algorithm S), already sorted.
    L = stop[u] - start[u] + 1
    m = n_sess[u]
    sess_day = np.empty(m, np.int64)
    need = m
    c = 0
    for d in range(L):
        state, v = next_uniform(state)
        if (L - d) * v < need:
            sess_day[c] = start[u] + d
            c += 1
            need -= 1
            if need == 0:
                break
    # Session sizes ~ Dirichlet(1, ..., 1) with a heavier first session: new members
    # rate a batch of films on sign-up, which makes "frequency" vary a lot.
    cw = np.empty(m)
    acc = 0.0
    for s in range(m):
        state, v = next_uniform(state)
        w = -math.log(v)
        if s == 0:
            w *= first_session_weight
        acc += w
        cw[s] = acc
    sess = np.empty(n, np.int64)
    counts = np.zeros(m + 1, np.int64)
    tsum = 0.0
    for j in range(n):
        state, v = next_uniform(state)
        s = np.searchsorted(cw, v * acc, side="right")
        if s >= m:
            s = m - 1
        sess[j] = s
        counts[s + 1] += 1
        tsum += sess_day[s]
    t_u = tsum / n
    for s in range(m):
        counts[s + 1] += counts[s]
    # Day-specific user offsets b_{u,t}, one per session day (timeSVD++).
    b_ut = np.empty(m)
    for s in range(m):
        state, z = next_normal(state)
        b_ut[s] = sigma_day * z
    # Counting sort by session: rows in day order, ties in random (shuffled) order.
    order = np.empty(n, np.int64)
    for j in range(n):
        s = sess[j]
        order[counts[s]] = j
        counts[s] += 1
    for r in range(n):
        j = order[r]
        s = sess[j]
        t = sess_day[s]
        i = items[j]
        dt = t - t_u
        dev = math.pow(abs(dt), beta)
        if dt < 0:
            dev = -dev
        state, z = next_normal(state)
        g = 0.0
        if family[i] >= 0 and sigma_family > 0.0:  # the user's taste for i's family
            g = sigma_family * family_effect(family_seed, u, family[i])
        item_out[off + r] = i
        day_out[off + r] = t
        x = xs[j]
        if len(item_scale):  # law 3: the film's taste scale s_i (the choice saw s_i = 1)
            x *= item_scale[i]
        score_out[off + r] = (b_u[u] + alpha_u[u] * dev + b_ut[s] + b_i[i]
                              + b_i_bin[i, t // bin_width] + x + g)
        eps_out[off + r] = z


@njit(cache=True, parallel=True)
def simulate_users(u_lo, u_hi, seed, offsets, P, Q, Pc, Qc, turned, alias_prob, alias_idx,
                   log_pop, cap, gamma, exact_above, start, stop, n_sess, first_session_weight,
                   b_u, alpha_u, b_i, b_i_bin, bin_width, beta, sigma_day, family, family_seed,
                   sigma_family, family_tilt, item_scale, item_out, day_out, score_out,
                   eps_out):
    """Simulate users ``u_lo .. u_hi - 1``: their films, days, latent scores and noise.

    For user ``u`` with ``n_u = offsets[u+1] - offsets[u]`` ratings:

    1. films: ``n_u`` distinct items, sequentially with weights
       ``w_ui = pop_i exp(gamma min(w_u^T v_i + h_ui, cap_u))`` (the implicit signal;
       ``h_ui = family_tilt g_{u,F(i)}``, law 2, steers fans to a family's films;
       ``w_u = Pc[u]``, ``v_i = Qc[i]``: law 6's tastes of the choice where ``turned``,
       else ``Pc`` is ``P`` and ``Qc`` is ``Q``);
    2. days: ``n_sess[u]`` distinct session days in ``[start_u, stop_u]``, each rating in
       a session drawn with Dirichlet weights; rows come out sorted by day;
    3. the latent score less ``mu`` (timeSVD++ without the scaling terms)

       s_ui(t) - mu = b_u + alpha_u dev_u(t) + b_{u,t} + b_i + b_{i,Bin(t)}
                      + s_i p_u^T q_i + g_{u,F(i)},
       dev_u(t) = sign(t - t_u) |t - t_u|^beta,  t_u = mean rating day of u,
       g_{u,F} = sigma_family z_{u,F} (:func:`family_effect`) where film i belongs to
       the family F = ``family[i]``, 0 where ``family[i] < 0``; ``s_i = item_scale[i]``
       (law 3: a film's taste scale, which the choice in step 1 does not see; empty: 1);

    4. the standard normal noise ``eps`` of the stars (see :func:`finish_ratings`).

    ``mu`` and the stars come later because ``mu`` is calibrated on these scores.
    Writes rows ``offsets[u] .. offsets[u+1] - 1`` of the four outputs.
    """
    n_items = Q.shape[0]
    n_users = u_hi - u_lo
    # One ``seen`` bitmap per block of users rather than per user: a fresh
    # 17,770-byte array for each of 480,189 users costs more than the sampling.
    n_blocks = min(n_users, 256)
    for blk in prange(n_blocks):
        seen = np.zeros(n_items, np.uint8)
        lo = u_lo + (n_users * blk) // n_blocks
        hi = u_lo + (n_users * (blk + 1)) // n_blocks
        for u in range(lo, hi):
            _simulate_one(u, seed, offsets, P, Q, Pc, Qc, turned, alias_prob, alias_idx,
                          log_pop, cap, gamma, exact_above, start, stop, n_sess,
                          first_session_weight, b_u, alpha_u, b_i, b_i_bin, bin_width, beta,
                          sigma_day, family, family_seed, sigma_family, family_tilt, item_scale,
                          seen, item_out, day_out, score_out, eps_out)


@njit(cache=True, parallel=True)
def finish_ratings(offsets, score, eps, sigma_u, mu, noise_scale, rating):
    """Add ``mu`` to the scores (in place) and draw the stars.

    ``s = float32(s - mu + mu)``; ``r = clip(floor(s + sigma_u noise_scale eps + 1/2), 1, 5)``
    with the float32 ``s`` itself, the value the oracle is computed from.
    """
    for u in prange(offsets.shape[0] - 1):
        sig = sigma_u[u] * noise_scale
        for j in range(offsets[u], offsets[u + 1]):
            # float64 sum, then rounded: explicit, so that plain Python (NUMBA_DISABLE_JIT,
            # where float32 + float stays float32) gives the same bits
            s32 = np.float32(np.float64(score[j]) + mu)
            score[j] = s32
            r = int(math.floor(np.float64(s32) + sig * eps[j] + 0.5))
            rating[j] = 1 if r < 1 else (5 if r > 5 else r)


# ---------------------------------------------------------------- grouping
@njit(cache=True)
def group_by_key(key, mask, n_keys):
    """Stable counting sort of the rows where ``mask`` holds, by ``key``.

    Returns ``perm`` (int64 row indices) and ``starts`` (``n_keys + 1``) so that the
    rows of key ``k`` are ``perm[starts[k]:starts[k+1]]`` in their original order:
    the same as ``np.argsort(key[mask], kind="stable")`` mapped back to rows, in O(n).
    """
    starts = np.zeros(n_keys + 1, np.int64)
    for r in range(key.shape[0]):
        if mask[r]:
            starts[key[r] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    perm = np.empty(starts[n_keys], np.int64)
    for r in range(key.shape[0]):
        if mask[r]:
            k = key[r]
            perm[fill[k]] = r
            fill[k] += 1
    return perm, starts


# ---------------------------------------------------------------- text output
@njit(cache=True)
def _put_int(buf, pos, v):
    """Write the decimal digits of ``v >= 0`` at ``buf[pos:]``; return the new end."""
    n = 1
    t = v // 10
    while t > 0:
        n += 1
        t //= 10
    p = pos + n - 1
    while True:
        buf[p] = 48 + v % 10
        v //= 10
        p -= 1
        if v == 0:
            break
    return pos + n


@njit(cache=True)
def _put_date(buf, pos, dates, d):
    for c in range(10):
        buf[pos + c] = dates[d, c]
    return pos + 10


@njit(cache=True)
def format_blocks(perm, starts, m_lo, m_hi, user, cid, rating, day, split, dates, mode, buf,
                  ends):
    """Format movies ``m_lo .. m_hi - 1`` in the Netflix text layout into ``buf``.

    Each movie with rows gets the header ``"<m+1>:\\n"`` and one line per row
    ``perm[starts[m]:starts[m+1]]``:

    - ``MODE_TRAINING``: ``CustomerID,Rating,YYYY-MM-DD``
    - ``MODE_PROBE``: ``CustomerID``
    - ``MODE_QUALIFYING``: ``CustomerID,YYYY-MM-DD``
    - ``MODE_TRUTH``: ``CustomerID,YYYY-MM-DD,Rating,quiz|test``

    ``dates[d]`` holds the 10 ASCII bytes of day ``d``. ``ends[m - m_lo]`` receives the
    end offset of movie ``m`` (one file per movie in ``training_set/``). Returns the
    number of bytes written; ``buf`` must be large enough (the caller sizes it).
    """
    pos = 0
    for m in range(m_lo, m_hi):
        a = starts[m]
        b = starts[m + 1]
        if b > a:
            pos = _put_int(buf, pos, m + 1)
            buf[pos] = 58  # ':'
            buf[pos + 1] = 10
            pos += 2
        for j in range(a, b):
            row = perm[j]
            pos = _put_int(buf, pos, cid[user[row]])
            if mode == MODE_TRAINING:
                buf[pos] = 44
                buf[pos + 1] = 48 + rating[row]
                buf[pos + 2] = 44
                pos = _put_date(buf, pos + 3, dates, day[row])
            elif mode == MODE_QUALIFYING:
                buf[pos] = 44
                pos = _put_date(buf, pos + 1, dates, day[row])
            elif mode == MODE_TRUTH:
                buf[pos] = 44
                pos = _put_date(buf, pos + 1, dates, day[row])
                buf[pos] = 44
                buf[pos + 1] = 48 + rating[row]
                buf[pos + 2] = 44
                pos += 3
                if split[row] == QUIZ:
                    buf[pos] = 113  # quiz
                    buf[pos + 1] = 117
                    buf[pos + 2] = 105
                    buf[pos + 3] = 122
                else:
                    buf[pos] = 116  # test
                    buf[pos + 1] = 101
                    buf[pos + 2] = 115
                    buf[pos + 3] = 116
                pos += 4
            buf[pos] = 10
            pos += 1
        ends[m - m_lo] = pos
    return pos


# ---------------------------------------------------------------- the oracle
@njit(cache=True)
def normal_cdf(z):
    """Phi(z) = erfc(-z / sqrt(2)) / 2 elementwise (accurate in both tails)."""
    flat = z.ravel()
    out = np.empty(flat.shape[0])
    for k in range(flat.shape[0]):
        out[k] = 0.5 * math.erfc(-flat[k] * _SQRT1_2)
    return out.reshape(z.shape)
