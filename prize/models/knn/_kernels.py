"""Numba kernels of the neighbourhood family. Imports only numpy and numba.

Every kernel takes plain arrays (and scalars last). The ratings arrive as two CSR views of
the same training set:

- user-major: ``user_ptr`` (int64, n_users + 1), ``user_items`` (int32, sorted within each
  user) and a float32 value per rating (``x`` for similarities, ``z`` = r_ui - b_ui for
  predictions);
- item-major: ``item_ptr``, ``item_users`` and ``item_pos``, the position of the same rating
  in the user-major arrays, so that an item's raters lead straight to their rows.

Neighbours are stored either as dense items x items float32 matrices, or, when that is too
big, as the top ``K`` of every row in fixed-width arrays (``nb_idx`` int32 sorted by item,
``nb_cnt`` the number used, values alongside). An empty ``(0, 0)`` array stands for "not
this layout", so that each kernel has one signature and compiles once.

Notation (Koren 2010, "Factor in the neighbors", TKDD 4(1); Bell & Koren 2007, ICDM):
``U(i, j)`` the users who rated both i and j, ``n_ij = |U(i, j)|``, ``R(u)`` the items u
rated, ``N(u)`` the items u is known to have rated (implicit feedback), ``S^k(i)`` the k
items most similar to i.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Relative size below which a sum of squares counts as zero (cancellation in the centred
# formulas would otherwise turn rounding noise into a correlation of +-1).
_ZERO_VARIANCE = 1e-9


# -- small helpers (inlined by numba) ---------------------------------------------------------
@njit(cache=True)
def shrunk_correlation(n, sxy, sxx, syy, sx, sy, centred, shrinkage):
    """s_ij = n_ij / (n_ij + lambda) * rho_ij, rho_ij the correlation over U(i, j).

    Uncentred (Koren 2010 eq. 3 on baseline residuals x = r - b; the cosine on raw x):

        rho_ij = sum x_ui x_uj / sqrt(sum x_ui^2 * sum x_uj^2)

    Centred (plain Pearson, means taken over U(i, j)): the same on x - mean. Sums run over
    U(i, j). Zero where a variance is zero or n_ij = 0.
    """
    if n <= 0.0:
        return 0.0
    vx, vy, cov = sxx, syy, sxy
    if centred:
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        cov = sxy - sx * sy / n
    if vx <= _ZERO_VARIANCE * sxx or vy <= _ZERO_VARIANCE * syy or vx <= 0.0 or vy <= 0.0:
        return 0.0
    root = math.sqrt(vx * vy)
    if cov > root:  # |rho| <= 1 up to rounding
        cov = root
    elif cov < -root:
        cov = -root
    return n * cov / ((n + shrinkage) * root)  # one division: this runs n_items^2 / 2 times


@njit(cache=True)
def _worse(s1, j1, s2, j2):
    """Whether neighbour (s1, j1) ranks below (s2, j2): smaller s, then larger index."""
    return s1 < s2 or (s1 == s2 and j1 > j2)


@njit(cache=True)
def _swap(hs, hj, hp, a, b):
    """Swap heap entries ``a`` and ``b`` (similarity, neighbour, payload)."""
    hs[a], hs[b] = hs[b], hs[a]
    hj[a], hj[b] = hj[b], hj[a]
    hp[a], hp[b] = hp[b], hp[a]


@njit(cache=True)
def _sift_down(hs, hj, hp, m, pos):
    """Restore the min-heap (worst neighbour at the root) below ``pos``."""
    while True:
        left = 2 * pos + 1
        if left >= m:
            return
        child = left
        right = left + 1
        if right < m and _worse(hs[right], hj[right], hs[left], hj[left]):
            child = right
        if _worse(hs[child], hj[child], hs[pos], hj[pos]):
            _swap(hs, hj, hp, pos, child)
            pos = child
        else:
            return


@njit(cache=True)
def _heap_offer(hs, hj, hp, m, k, s, j, p):
    """Offer neighbour (s, j, payload p) to a heap of the best ``k``; returns its new size."""
    if m < k:
        pos = m
        hs[pos], hj[pos], hp[pos] = s, j, p
        m += 1
        while pos > 0:  # sift up
            parent = (pos - 1) // 2
            if _worse(hs[pos], hj[pos], hs[parent], hj[parent]):
                _swap(hs, hj, hp, pos, parent)
                pos = parent
            else:
                break
        return m
    if k > 0 and _worse(hs[0], hj[0], s, j):
        hs[0], hj[0], hp[0] = s, j, p
        _sift_down(hs, hj, hp, m, 0)
    return m


@njit(cache=True)
def nnls(A, b, w, g, m, sweeps, tol):
    """min_w 1/2 w'Aw - b'w subject to w >= 0, on the leading m x m block.

    Bell & Koren's (2007, section 4) non-negative quadratic program for the interpolation
    weights, solved by projected cyclic coordinate descent (Hildreth's method): each w_a
    moves to the minimum along its axis, clipped at 0, and the gradient g = Aw - b follows.
    Stops after ``sweeps`` sweeps or when no weight moved more than ``tol``. A coordinate
    with A_aa <= 0 stays at 0. Writes w[:m] (and g[:m]); returns the sweeps done.
    """
    for a in range(m):
        w[a] = 0.0
        g[a] = -b[a]
    done = 0
    for _ in range(sweeps):
        done += 1
        biggest = 0.0
        for a in range(m):
            d = A[a, a]
            if d <= 0.0:
                continue
            new = w[a] - g[a] / d
            if new < 0.0:
                new = 0.0
            delta = new - w[a]
            if delta != 0.0:
                w[a] = new
                for c in range(m):
                    g[c] += delta * A[c, a]
                if abs(delta) > biggest:
                    biggest = abs(delta)
        if biggest <= tol:
            break
    return done


@njit(cache=True)
def _find(nb_idx, nb_cnt, j, target):
    """Position of ``target`` in row j of a top-K list (sorted by item), or -1."""
    lo, hi = 0, nb_cnt[j]
    while lo < hi:
        mid = (lo + hi) // 2
        v = nb_idx[j, mid]
        if v < target:
            lo = mid + 1
        elif v > target:
            hi = mid
        else:
            return mid
    return -1


# -- similarities -----------------------------------------------------------------------------
@njit(cache=True)
def _accumulate_plain(acc, xi, lo, hi, user_items, x):
    """:func:`_accumulate`, uncentred and untracked: the hot loop of the dense layout."""
    xi2 = xi * xi
    for r in range(lo, hi):
        j = user_items[r]
        xj = np.float64(x[r])
        acc[j, 0] += 1.0
        acc[j, 1] += xi * xj
        acc[j, 2] += xi2
        acc[j, 3] += xj * xj


@njit(cache=True)
def _accumulate(acc, xi, lo, hi, user_items, x, centred, seen, n_seen):
    """Add rater u's items user_items[lo:hi] to i's row of sums (see :func:`similarities`).
    With a non-empty ``seen``, items met for the first time are appended to it; returns the
    new count."""
    xi2 = xi * xi
    track = len(seen) > 0
    for r in range(lo, hi):
        j = user_items[r]
        xj = np.float64(x[r])
        if track and acc[j, 0] == 0.0:
            seen[n_seen] = j
            n_seen += 1
        acc[j, 0] += 1.0
        acc[j, 1] += xi * xj
        acc[j, 2] += xi2
        acc[j, 3] += xj * xj
        if centred:
            acc[j, 4] += xi
            acc[j, 5] += xj
    return n_seen


@njit(parallel=True, cache=True)
def similarities(item_ptr, item_users, item_pos, user_ptr, user_items, x,
                 dense_s, dense_p, dense_n, nb_idx, nb_s, nb_p, nb_n, nb_cnt, row_avg,
                 centred, shrinkage, n_chunks):
    """Shrunk correlations s_ij (see :func:`shrunk_correlation`) of every co-rated pair.

    For each item i, the sums over U(i, j) of every j at once are accumulated in a dense
    per-thread row (n_ij, sum x_ui x_uj, sum x_ui^2, sum x_uj^2 and, centred, sum x_ui and
    sum x_uj) by walking i's raters and each rater's items: the cost is sum_u |R(u)|^2
    updates (plus, dense, a scan of the row's j > i).

    Dense layout (``dense_s`` is n x n): only j > i is walked and only the upper triangle
    is written (the caller mirrors it), halving the work. ``dense_p``/``dense_n`` (n x n,
    or empty) receive the raw sum_{U(i,j)} x_ui x_uj and n_ij for the interpolation
    weights.
    Top-K layout (``nb_idx`` is n x K): full rows, and the K largest non-zero s_ij (ties to
    the lower index) are kept, sorted by j, with their products and counts in
    ``nb_p``/``nb_n`` and their number in ``nb_cnt``.

    With products wanted, ``row_avg[i]`` gets (sum over j > i, or all j != i in the top-K
    layout, of the average product sum x_ui x_uj / n_ij, the number of such j): Bell &
    Koren's "avg" of the off-diagonal entries follows from it. Rows are dealt round-robin
    to ``n_chunks`` tasks (the triangle's rows shrink with i). The diagonal is left
    untouched.
    """
    n_items = len(item_ptr) - 1
    dense = dense_s.shape[0] > 0
    want_dense_p = dense_p.shape[0] > 0
    want_nb_p = nb_p.shape[0] > 0
    want_avg = want_dense_p or want_nb_p
    K = nb_idx.shape[1]
    n_acc = 6 if centred else 4
    for c in prange(n_chunks):
        acc = np.zeros((n_items, n_acc))
        hs = np.empty(max(K, 1))
        hj = np.empty(max(K, 1), np.int64)
        hp = np.empty(max(K, 1), np.int64)
        # Dense rows are scanned whole (cheaper than tracking, measured); top-K rows keep
        # the list of items met, so that sparse data costs no items^2 scan.
        seen = np.empty(0 if dense else n_items, np.int32)
        for i in range(c, n_items, n_chunks):
            n_seen = 0
            for p in range(item_ptr[i], item_ptr[i + 1]):
                q = item_pos[p]
                u = item_users[p]
                xi = np.float64(x[q])
                if dense and not centred:
                    _accumulate_plain(acc, xi, q + 1, user_ptr[u + 1], user_items, x)
                    continue
                if not dense:  # the items before i too (never i itself)
                    n_seen = _accumulate(acc, xi, user_ptr[u], q, user_items, x, centred,
                                         seen, n_seen)
                n_seen = _accumulate(acc, xi, q + 1, user_ptr[u + 1], user_items, x, centred,
                                     seen, n_seen)
            total = 0.0
            count = 0
            m = 0
            for t in range(n_items - i - 1 if dense else n_seen):
                j = i + 1 + t if dense else seen[t]
                n_ij = acc[j, 0]
                if n_ij == 0.0:
                    continue
                # Scalars, not a row view: a view costs an atomic reference count.
                sxy = acc[j, 1]
                sx = acc[j, 4] if centred else 0.0
                sy = acc[j, 5] if centred else 0.0
                s = shrunk_correlation(n_ij, sxy, acc[j, 2], acc[j, 3], sx, sy, centred,
                                       shrinkage)
                if want_avg:
                    total += sxy / n_ij
                    count += 1
                if dense:  # the upper triangle only: column writes would miss the cache
                    dense_s[i, j] = s
                    if want_dense_p:
                        dense_p[i, j] = sxy
                        dense_n[i, j] = n_ij
                    for col in range(n_acc):
                        acc[j, col] = 0.0
                elif s != 0.0:  # as in the dense layout, s = 0 is no neighbour
                    m = _heap_offer(hs, hj, hp, m, K, s, j, j)
            row_avg[i, 0] = total
            row_avg[i, 1] = count
            if not dense:
                order = np.argsort(hj[:m])
                for e in range(m):
                    j = hj[order[e]]
                    nb_idx[i, e] = j
                    nb_s[i, e] = hs[order[e]]
                    if want_nb_p:
                        nb_p[i, e] = acc[j, 1]
                        nb_n[i, e] = acc[j, 0]
                nb_cnt[i] = m
                for t in range(n_seen):
                    for col in range(n_acc):
                        acc[seen[t], col] = 0.0


# -- correlation and interpolation predictions ------------------------------------------------
@njit(parallel=True, cache=True)
def neighbourhood_predict(q_user, q_item, chunk_ptr, user_ptr, user_items, z,
                          dense_s, dense_a, nb_idx, nb_s, nb_a, nb_cnt, diag_a, out,
                          k, min_similarity, interpolate, avg_off, sweeps, tol,
                          weight_shrinkage):
    """The neighbourhood term of r̂_ui = b_ui + (term) for each query (u, i).

    Queries are sorted by user and cut into chunks at ``chunk_ptr`` (one chunk per task);
    every (u, i) must be a known user and item. N^k(i; u) is the k items of R(u) \\ {i}
    most similar to i, among those with s_ij != 0 (some co-rater) and s_ij >
    ``min_similarity``; ties go to the lower index.

    Correlation weights (``interpolate`` false; Koren 2010 eq. 4 with a shrunk denominator):

        term = sum_{j in N^k(i;u)} s_ij z_uj / (lambda_w + sum_{j in N^k(i;u)} |s_ij|)

    with z = r - b and lambda_w = ``weight_shrinkage`` (0: Koren's plain weighted mean).

    Interpolation weights (Bell & Koren 2007): term = sum_j w_j z_uj, with w >= 0 minimising
    w'Âw - 2 b̂'w (:func:`nnls`) where Â_jl is the shrunk average product of residuals of j
    and l (``dense_a``, or ``nb_a`` with ``avg_off`` for pairs not stored), Â_jj =
    ``diag_a[j]`` and b̂_j = Â_ij.
    """
    n_items = len(diag_a)
    dense = dense_s.shape[0] > 0
    K = nb_idx.shape[1]
    max_len = 0
    for u in range(len(user_ptr) - 1):
        max_len = max(max_len, user_ptr[u + 1] - user_ptr[u])
    width = max(max_len, K, 1)
    kk = max(k, 1)
    for c in prange(len(chunk_ptr) - 1):
        cs = np.empty(width)
        cj = np.empty(width, np.int64)
        cz = np.empty(width)
        cb = np.empty(width)
        hs = np.empty(kk)
        hj = np.empty(kk, np.int64)
        hp = np.empty(kk, np.int64)
        A = np.empty((kk, kk))
        b = np.empty(kk)
        w = np.empty(kk)
        g = np.empty(kk)
        mark = np.full(0 if dense else n_items, -1, np.int64)
        marked = -1
        for q in range(chunk_ptr[c], chunk_ptr[c + 1]):
            u = q_user[q]
            i = q_item[q]
            # Candidates: (s_ij, j, z_uj, Â_ij) for j in R(u) \ {i}.
            m = 0
            if dense:
                for r in range(user_ptr[u], user_ptr[u + 1]):
                    j = user_items[r]
                    s = np.float64(dense_s[i, j])
                    if j != i and s != 0.0 and s > min_similarity:
                        cs[m], cj[m], cz[m] = s, j, z[r]
                        if interpolate:
                            cb[m] = dense_a[i, j]
                        m += 1
            else:
                if marked != u:
                    if marked >= 0:
                        for r in range(user_ptr[marked], user_ptr[marked + 1]):
                            mark[user_items[r]] = -1
                    for r in range(user_ptr[u], user_ptr[u + 1]):
                        mark[user_items[r]] = r
                    marked = u
                for e in range(nb_cnt[i]):
                    j = nb_idx[i, e]
                    r = mark[j]
                    s = np.float64(nb_s[i, e])
                    if r >= 0 and j != i and s != 0.0 and s > min_similarity:
                        cs[m], cj[m], cz[m] = s, j, z[r]
                        if interpolate:
                            cb[m] = nb_a[i, e]
                        m += 1
            # The k best, then in item order (so the solve sees a fixed order).
            h = 0
            for t in range(m):
                h = _heap_offer(hs, hj, hp, h, k, cs[t], cj[t], t)
            order = np.argsort(hj[:h])
            if not interpolate:
                num = 0.0
                den = 0.0
                for e in range(h):
                    t = hp[order[e]]
                    num += cs[t] * cz[t]
                    den += abs(cs[t])
                den += weight_shrinkage
                out[q] = num / den if den > 0.0 else 0.0
                continue
            for e in range(h):
                t = hp[order[e]]
                ja = cj[t]
                b[e] = cb[t]
                A[e, e] = diag_a[ja]
                for f in range(e):
                    jb = cj[hp[order[f]]]
                    if dense:
                        v = np.float64(dense_a[ja, jb])
                    else:
                        pos = _find(nb_idx, nb_cnt, ja, jb)
                        if pos >= 0:
                            v = np.float64(nb_a[ja, pos])
                        else:
                            pos = _find(nb_idx, nb_cnt, jb, ja)
                            v = np.float64(nb_a[jb, pos]) if pos >= 0 else avg_off
                    A[e, f] = v
                    A[f, e] = v
            nnls(A, b, w, g, h, sweeps, tol)
            total = 0.0
            for e in range(h):
                total += w[e] * cz[hp[order[e]]]
            out[q] = total


# -- the global neighbourhood model (Koren 2008) ----------------------------------------------
@njit(cache=True)
def _gather(i, nb_idx, nb_cnt, zmark, nmark, ea, ez, na):
    """R^k(i;u) and N^k(i;u) as positions in i's neighbour list (and z_uj for R^k)."""
    nr = 0
    nn = 0
    for a in range(nb_cnt[i]):
        j = nb_idx[i, a]
        zj = zmark[j]
        if not math.isnan(zj):
            ea[nr] = a
            ez[nr] = zj
            nr += 1
        if nmark[j]:
            na[nn] = a
            nn += 1
    return nr, nn


@njit(cache=True)
def _global_estimate(u, i, mu, bu, bi, w, c, nr, nn, ea, ez, na):
    """r̂_ui = mu + b_u + b_i + |R^k|^-1/2 sum w_ij z_uj + |N^k|^-1/2 sum c_ij."""
    est = mu + bu[u] + bi[i]
    if nr > 0:
        t = 0.0
        for e in range(nr):
            t += w[i, ea[e]] * ez[e]
        est += t / math.sqrt(nr)
    if nn > 0:
        t = 0.0
        for e in range(nn):
            t += c[i, na[e]]
        est += t / math.sqrt(nn)
    return est


@njit(cache=True)
def _step_weights(i, err, nr, nn, ea, ez, na, w, c, lr, reg):
    """The SGD step of the neighbour weights of rating (u, i) with error ``err``:
    w_ij += lr (|R^k|^-1/2 err z_uj - reg w_ij), c_ij += lr (|N^k|^-1/2 err - reg c_ij)."""
    if nr > 0:
        scale = err / math.sqrt(nr)
        for e in range(nr):
            a = ea[e]
            w[i, a] += lr * (scale * ez[e] - reg * w[i, a])
    if nn > 0:
        scale = err / math.sqrt(nn)
        for e in range(nn):
            a = na[e]
            c[i, a] += lr * (scale - reg * c[i, a])


@njit(cache=True)
def _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, value):
    """Set (value=True) or clear the marks of R(u) (z_uj) and N(u) in the dense scratch."""
    if u >= len(user_ptr) - 1:
        return
    for r in range(user_ptr[u], user_ptr[u + 1]):
        zmark[user_items[r]] = z[r] if value else np.nan
    if u < len(imp_ptr) - 1:
        for r in range(imp_ptr[u], imp_ptr[u + 1]):
            nmark[imp_items[r]] = value


@njit(cache=True)
def _remark(marked, u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark):
    """Move the marks of the dense scratch from user ``marked`` (-1: none) to user ``u``."""
    if marked >= 0:
        _mark(marked, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, False)
    _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, True)


@njit(cache=True)
def _scratch(n_items, K):
    """The per-task buffers of the global models: each item's residual mark z (NaN: not
    rated by the current user), its implicit mark, and room for K gathered neighbours
    (explicit positions, their residuals, implicit positions)."""
    return (np.full(n_items, np.nan), np.zeros(n_items, np.bool_),
            np.empty(max(K, 1), np.int64), np.empty(max(K, 1)), np.empty(max(K, 1), np.int64))


@njit(cache=True)
def global_epoch(order, user_ptr, user_items, rating, z, imp_ptr, imp_items, nb_idx, nb_cnt,
                 bu, bi, w, c, mu, lr, reg_bias, reg):
    """One SGD sweep of Koren's global neighbourhood model (KDD 2008, section 3):

        r̂_ui = mu + b_u + b_i + |R^k(i;u)|^-1/2 sum_{j in R^k(i;u)} (r_uj - b_uj) w_ij
                              + |N^k(i;u)|^-1/2 sum_{j in N^k(i;u)} c_ij

    with R^k(i;u) = R(u) ∩ S^k(i), N^k(i;u) = N(u) ∩ S^k(i) and the b_uj fixed baseline
    residuals ``z``. For each rating, with e_ui = r_ui - r̂_ui and gamma = ``lr``:

        b_u  += gamma (e_ui - lambda_b b_u)           b_i += gamma (e_ui - lambda_b b_i)
        w_ij += gamma (|R^k|^-1/2 e_ui z_uj - lambda w_ij)     for j in R^k(i;u)
        c_ij += gamma (|N^k|^-1/2 e_ui - lambda c_ij)          for j in N^k(i;u)

    Users in ``order``, each user's ratings in stored order. Sequential, so deterministic.
    Returns the sum of squared errors e_ui before each update.
    """
    n_items = len(bi)
    K = nb_idx.shape[1]
    zmark, nmark, ea, ez, na = _scratch(n_items, K)
    sse = 0.0
    for u in order:
        _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, True)
        for r in range(user_ptr[u], user_ptr[u + 1]):
            i = user_items[r]
            nr, nn = _gather(i, nb_idx, nb_cnt, zmark, nmark, ea, ez, na)
            err = np.float64(rating[r]) - _global_estimate(u, i, mu, bu, bi, w, c, nr, nn,
                                                           ea, ez, na)
            sse += err * err
            bu[u] += lr * (err - reg_bias * bu[u])
            bi[i] += lr * (err - reg_bias * bi[i])
            _step_weights(i, err, nr, nn, ea, ez, na, w, c, lr, reg)
        _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, False)
    return sse


@njit(parallel=True, cache=True)
def global_predict(q_user, q_item, chunk_ptr, user_ptr, user_items, z, imp_ptr, imp_items,
                   nb_idx, nb_cnt, bu, bi, w, c, out, mu):
    """r̂_ui of :func:`global_epoch` for queries sorted by user (known users and items;
    a user without training or implicit ratings is fine), one chunk per task."""
    n_items = len(bi)
    K = nb_idx.shape[1]
    for ch in prange(len(chunk_ptr) - 1):
        zmark, nmark, ea, ez, na = _scratch(n_items, K)
        marked = -1
        for q in range(chunk_ptr[ch], chunk_ptr[ch + 1]):
            u = q_user[q]
            i = q_item[q]
            if u != marked:
                _remark(marked, u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark)
                marked = u
            nr, nn = _gather(i, nb_idx, nb_cnt, zmark, nmark, ea, ez, na)
            out[q] = _global_estimate(u, i, mu, bu, bi, w, c, nr, nn, ea, ez, na)


# -- the integrated model (Koren 2008, section 5) ---------------------------------------------
@njit(cache=True)
def _implicit_sum(u, imp_ptr, imp_items, Y, zu):
    """zu = |N(u)|^-1/2 sum_{j in N(u)} y_j; returns |N(u)|^-1/2 (0 when N(u) is empty)."""
    zu[:] = 0.0
    if u >= len(imp_ptr) - 1 or imp_ptr[u + 1] == imp_ptr[u]:
        return 0.0
    lo, hi = imp_ptr[u], imp_ptr[u + 1]
    for r in range(lo, hi):
        j = imp_items[r]
        for f in range(len(zu)):
            zu[f] += Y[j, f]
    norm = 1.0 / math.sqrt(hi - lo)
    for f in range(len(zu)):
        zu[f] *= norm
    return norm


@njit(cache=True)
def integrated_epoch(order, user_ptr, visit, user_items, rating, z, imp_ptr, imp_items, nb_idx,
                     nb_cnt, bu, bi, P, Q, Y, w, c, mu, lr_b, lr_f, lr_w, reg_b, reg_f, reg_w):
    """One SGD sweep of Koren's integrated model (KDD 2008, section 5, eq. 16):

        r̂_ui = mu + b_u + b_i + q_i'(p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)
               + |R^k(i;u)|^-1/2 sum_{j in R^k(i;u)} (r_uj - b_uj) w_ij
               + |N^k(i;u)|^-1/2 sum_{j in N^k(i;u)} c_ij

    the global neighbourhood model of :func:`global_epoch` plus SVD++'s factors. For each
    rating, with e_ui = r_ui - r̂_ui, gamma_1,2,3 = ``lr_b``, ``lr_f``, ``lr_w`` and
    lambda_6,7,8 = ``reg_b``, ``reg_f``, ``reg_w`` (every update from the old values):

        b_u  += gamma_1 (e_ui - lambda_6 b_u)          b_i += gamma_1 (e_ui - lambda_6 b_i)
        q_i  += gamma_2 (e_ui (p_u + |N(u)|^-1/2 sum y_j) - lambda_7 q_i)
        p_u  += gamma_2 (e_ui q_i - lambda_7 p_u)
        y_j  += gamma_2 (e_ui |N(u)|^-1/2 q_i - lambda_7 y_j)            for j in N(u)
        w_ij += gamma_3 (|R^k|^-1/2 e_ui (r_uj - b_uj) - lambda_8 w_ij)   for j in R^k(i;u)
        c_ij += gamma_3 (|N^k|^-1/2 e_ui - lambda_8 c_ij)                 for j in N^k(i;u)

    The y_j step is the same for every j in N(u), so, as in the SVD++ kernel of the mf
    family, it is applied once per user: with d = 1 - gamma_2 lambda_7, after u's n ratings
    y_j = d^n y_j + gamma_2 |N(u)|^-1/2 sum_k d^(n-1-k) e_k q_k, while the implicit factor
    moves per rating as z <- d z + gamma_2 e_ui q_i. Exactly the per-rating algorithm, at
    O(f) per rating instead of O(f |N(u)|). Users in ``order``, each user's ratings in the
    order of ``visit`` (a permutation of every user's positions user_ptr[u]:user_ptr[u+1]:
    by day, the most recent last, which the factors need, see ``Integrated``); sequential,
    so deterministic. Returns the sum of squared errors.
    """
    n_items = len(bi)
    K = nb_idx.shape[1]
    F = Q.shape[1]
    zmark, nmark, ea, ez, na = _scratch(n_items, K)
    pe = np.empty(F)  # p_u + z_u, the user's factor with its implicit part z_u
    zu = np.empty(F)  # z_u = |N(u)|^-1/2 sum y_j
    acc = np.empty(F)  # sum_k d^(n-1-k) e_k q_k, the y-gradient of the user so far
    decay = 1.0 - lr_f * reg_f
    sse = 0.0
    for u in order:
        _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, True)
        norm = _implicit_sum(u, imp_ptr, imp_items, Y, zu)
        acc[:] = 0.0
        zstep = lr_f if norm > 0.0 else 0.0
        for t in range(user_ptr[u], user_ptr[u + 1]):
            r = visit[t]
            i = user_items[r]
            nr, nn = _gather(i, nb_idx, nb_cnt, zmark, nmark, ea, ez, na)
            dot = 0.0
            for f in range(F):
                pe[f] = P[u, f] + zu[f]
                dot += Q[i, f] * pe[f]
            est = _global_estimate(u, i, mu, bu, bi, w, c, nr, nn, ea, ez, na) + dot
            err = np.float64(rating[r]) - est
            sse += err * err
            bu[u] += lr_b * (err - reg_b * bu[u])
            bi[i] += lr_b * (err - reg_b * bi[i])
            for f in range(F):
                q = Q[i, f]
                Q[i, f] = q + lr_f * (err * pe[f] - reg_f * q)
                P[u, f] += lr_f * (err * q - reg_f * P[u, f])
                acc[f] = decay * acc[f] + err * q
                zu[f] = decay * zu[f] + zstep * err * q
            _step_weights(i, err, nr, nn, ea, ez, na, w, c, lr_w, reg_w)
        n_u = user_ptr[u + 1] - user_ptr[u]
        if n_u > 0 and norm > 0.0:
            shrink = decay ** n_u
            for r in range(imp_ptr[u], imp_ptr[u + 1]):
                j = imp_items[r]
                for f in range(F):
                    Y[j, f] = shrink * Y[j, f] + lr_f * norm * acc[f]
        _mark(u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark, False)
    return sse


@njit(parallel=True, cache=True)
def integrated_predict(q_user, q_item, chunk_ptr, user_ptr, user_items, z, imp_ptr, imp_items,
                       nb_idx, nb_cnt, bu, bi, P, Q, Y, w, c, out, mu):
    """r̂_ui of :func:`integrated_epoch` for queries sorted by user (known users and items),
    one chunk per task; p_u + |N(u)|^-1/2 sum y_j is computed once per user and chunk."""
    n_items = len(bi)
    K = nb_idx.shape[1]
    F = Q.shape[1]
    for ch in prange(len(chunk_ptr) - 1):
        zmark, nmark, ea, ez, na = _scratch(n_items, K)
        pe = np.empty(F)  # p_u + |N(u)|^-1/2 sum y_j
        marked = -1
        for q in range(chunk_ptr[ch], chunk_ptr[ch + 1]):
            u = q_user[q]
            i = q_item[q]
            if u != marked:
                _remark(marked, u, user_ptr, user_items, z, imp_ptr, imp_items, zmark, nmark)
                _implicit_sum(u, imp_ptr, imp_items, Y, pe)
                for f in range(F):
                    pe[f] += P[u, f]
                marked = u
            nr, nn = _gather(i, nb_idx, nb_cnt, zmark, nmark, ea, ez, na)
            dot = 0.0
            for f in range(F):
                dot += Q[i, f] * pe[f]
            out[q] = _global_estimate(u, i, mu, bu, bi, w, c, nr, nn, ea, ez, na) + dot
