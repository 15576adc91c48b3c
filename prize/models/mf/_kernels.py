"""numba kernels of the matrix-factorization family: one SGD epoch per call.

Plain arrays and scalars in, parameters updated in place (named after the papers'
symbols), the epoch's sum of squared errors out. The ratings are visited user by user
(``indptr`` is the CSR row pointer of the user-sorted training rows, ``perm`` the order of
users this epoch): a user's factor row stays in cache while its ratings stream past, which
is several times faster than a random order on these machines and, on Netflix, no less
accurate. Each kernel has a slow pure-Python twin in ``tests/test_mf_kernels.py``.

All factor arithmetic is float32; errors are accumulated in float64.

The item rows a user's ratings touch are scattered over Q (and Y), so an SGD step mostly
waits for the next q_i to arrive from the L3 cache: the kernels ask the CPU to prefetch the
row of the rating ``PREFETCH`` steps ahead, which measured 1.3–1.4× more updates per second
here (scripts/bench_mf.py). Prefetching changes no arithmetic.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

#: fastmath without ``reassoc``, for the kernels with scratch arrays (SVD++, NSVD,
#: timeSVD++): LLVM may still fuse multiply-adds and vectorise element-wise loops, but may
#: not reorder a sum. With reordering allowed it vectorised their per-rating dot products
#: behind run-time overlap checks between the scratch arrays (z, pe, acc) and rows of P and
#: Q, and which of the two paths ran -- each summing in its own order -- depended on where
#: malloc had put the scratch arrays: the same seed gave results 1 ulp apart from run to
#: run. Their sums now have one order on every path: same seed, same bits. Cost
#: (scripts/bench_mf.py, one core, f = 100): svdpp 3.7M -> 2.8M updates/s, timesvdpp
#: unchanged (2.0M -> 2.2M, within noise).
#:
#: The SVD kernels keep full fastmath (without ``reassoc`` they ran 3.5x slower: 16.8M
#: -> 4.8M updates/s): they have no scratch arrays, and the rows they read and write
#: belong to P and Q, two separate allocations, so LLVM's overlap checks take the
#: vectorised path unless the first or last row of one array lies within a vector's width
#: of the other array's -- possible only where the allocator put them back to back, and
#: not observed (their determinism tests have not failed).
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
_OPTS = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
_OPTS_SVD = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)

PREFETCH = 4
"""How many ratings ahead the kernels prefetch item rows."""


def _emit_prefetch(context, builder, start, nbytes):
    """Emit one ``llvm.prefetch`` (read, high temporal locality, data cache) per 64-byte
    line of the ``nbytes`` bytes from address ``start`` (intp values)."""
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
    with cgutils.for_range_slice(builder, context.get_constant(types.intp, 0), nbytes,
                                 context.get_constant(types.intp, 64)) as (off, _):
        builder.call(fn, [builder.inttoptr(builder.add(start, off), i8p),
                          ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])


@intrinsic
def _prefetch_row(typingctx, arr, row):
    """Hint the CPU to load row ``row`` of a C-contiguous 2-D array into cache (LLVM's
    ``llvm.prefetch``, one per 64-byte line). No effect on results; a no-op if unsupported."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(row, types.Integer)):
        return None
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        r = context.cast(builder, args[1], rowty, types.intp)
        strides = cgutils.unpack_tuple(builder, ary.strides, 2)
        shape = cgutils.unpack_tuple(builder, ary.shape, 2)
        start = builder.add(builder.ptrtoint(ary.data, cgutils.intp_t),
                            builder.mul(r, strides[0]))
        nbytes = builder.mul(shape[1], context.get_constant(types.intp, aryty.dtype.bitwidth // 8))
        _emit_prefetch(context, builder, start, nbytes)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _prefetch_span(typingctx, arr, lo, hi):
    """Hint the CPU to load elements ``lo..hi`` of a contiguous 1-D array into cache, one
    ``llvm.prefetch`` per 64-byte line (at most 8 lines). No effect on results."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(lo, types.Integer)
            and isinstance(hi, types.Integer)):
        return None
    sig = types.void(arr, lo, hi)

    def codegen(context, builder, signature, args):
        aryty, loty, hity = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        size = context.get_constant(types.intp, aryty.dtype.bitwidth // 8)
        first = context.cast(builder, args[1], loty, types.intp)
        last = context.cast(builder, args[2], hity, types.intp)
        start = builder.add(builder.ptrtoint(ary.data, cgutils.intp_t),
                            builder.mul(first, size))
        nbytes = builder.mul(builder.sub(last, first), size)
        cap = context.get_constant(types.intp, 8 * 64)
        nbytes = builder.select(builder.icmp_signed(">", nbytes, cap), cap, nbytes)
        _emit_prefetch(context, builder, start, nbytes)
        return context.get_dummy_value()

    return sig, codegen


@njit(**_OPTS)
def _implicit_sum(nptr, nitem, Y, u, norm, z):
    """z = |N(u)|^-½ Σ_{j∈N(u)} y_j for one user (``norm`` = |N(u)|^-½)."""
    z[:] = 0.0
    hi = nptr[u + 1]
    for jj in range(nptr[u], hi):
        if jj + PREFETCH < hi:
            _prefetch_row(Y, nitem[jj + PREFETCH])
        yj = Y[nitem[jj]]
        for f in range(z.shape[0]):
            z[f] += yj[f]
    for f in range(z.shape[0]):
        z[f] *= norm


@njit(**_OPTS_SVD)
def _svd_user(u, lo, hi, nu, nlo, nhi, item, rating, mu, bu, bi, P, Q, lr_b, lr_f, reg_bu,
              reg_bi, reg_pu, reg_qi, biased):
    """The SGD steps of user u's ratings lo..hi; returns their squared errors. The weight
    decays are per user (``reg_bu``, ``reg_pu``) and per item (``reg_bi``, ``reg_qi``).

    ``nu`` is the next user to be visited (-1: none) and ``nlo..nhi`` its ratings: its
    factor row and first item rows are prefetched now, since users come in random order.

    The loop that updates p_u and q_i also accumulates the next rating's p_uᵀq_j from the
    new p_u while it is in registers, instead of reading p_u back in a loop of its own:
    the same arithmetic with a quarter fewer loads, which measured 15% more updates per
    second here (scripts/bench_mf.py). q_j is read after q_i is written, element by
    element, so the result is p_u's dot product with the current q_j even if j = i.
    """
    F = P.shape[1]
    se = 0.0
    if nu >= 0:
        _prefetch_row(P, nu)
        for k in range(nlo, min(nhi, nlo + PREFETCH)):
            _prefetch_row(Q, item[k])
    if lo >= hi:
        return se
    pu = P[u]
    b_u = bu[u]
    keep_bu = np.float32(1.0) - lr_b * reg_bu[u]
    keep_pu = np.float32(1.0) - lr_f * reg_pu[u]
    qi = Q[item[lo]]
    dot = np.float32(0.0)
    for f in range(F):
        dot += pu[f] * qi[f]
    for k in range(lo, hi):
        if k + PREFETCH < hi:
            _prefetch_row(Q, item[k + PREFETCH])
        i = item[k]
        qi = Q[i]
        if biased:
            e = rating[k] - (dot + mu + b_u + bi[i])
            b_u = keep_bu * b_u + lr_b * e
            bi[i] = (np.float32(1.0) - lr_b * reg_bi[i]) * bi[i] + lr_b * e
        else:
            e = rating[k] - dot
        se += e * e
        g = lr_f * e
        keep_qi = np.float32(1.0) - lr_f * reg_qi[i]
        if k + 1 < hi:
            qj = Q[item[k + 1]]
            dot = np.float32(0.0)
            for f in range(F):
                p = pu[f]
                q = qi[f]
                p_new = keep_pu * p + g * q
                pu[f] = p_new
                qi[f] = keep_qi * q + g * p
                dot += p_new * qj[f]
        else:  # the user's last rating: no next dot product
            for f in range(F):
                p = pu[f]
                q = qi[f]
                pu[f] = keep_pu * p + g * q
                qi[f] = keep_qi * q + g * p
    bu[u] = b_u
    return se


@njit(**_OPTS_SVD)
def _svd_users(users, lo, hi, start, stop, item, rating, mu, bu, bi, P, Q, lr_b, lr_f, reg_bu,
               reg_bi, reg_pu, reg_qi, biased):
    """The SGD steps of ``users[lo:hi]`` in that order, user u's ratings being rows
    ``start[u]..stop[u]``; each user prefetches the next one's rows. Returns the squared
    errors. The sequential epoch and each DSGD block are one such run."""
    se = 0.0
    for uu in range(lo, hi):
        u = users[uu]
        nu = users[uu + 1] if uu + 1 < hi else -1
        nlo = start[nu] if nu >= 0 else 0
        nhi = stop[nu] if nu >= 0 else 0
        if uu + 2 < hi:
            # The user after next: its ratings' rows, so that its first rating does not
            # wait for them (users come in random order; each visit starts cold).
            w = users[uu + 2]
            _prefetch_span(item, start[w], stop[w])
            _prefetch_span(rating, start[w], stop[w])
            _prefetch_span(bu, w, w + 1)
        se += _svd_user(u, start[u], stop[u], nu, nlo, nhi, item, rating, mu, bu, bi, P, Q,
                        lr_b, lr_f, reg_bu, reg_bi, reg_pu, reg_qi, biased)
    return se


@njit(**_OPTS_SVD)
def svd_epoch(indptr, item, rating, perm, mu, bu, bi, P, Q, lr_b, lr_f, reg_bu, reg_bi,
              reg_pu, reg_qi, biased):
    """Biased MF (Paterek's RSVD2, Koren's "SVD"): r̂ = μ + b_u + b_i + p_uᵀq_i.

    For each rating, e = r − r̂ and
        b_u += γ_b (e − λ_bu b_u),   b_i += γ_b (e − λ_bi b_i),
        p_u += γ (e q_i − λ_pu p_u),   q_i += γ (e p_u − λ_qi q_i),
    computed as p ← (1 − γλ) p + (γe) q: the same step, fewer operations. Each λ is given
    per user (``reg_bu``, ``reg_pu``) or per item (``reg_bi``, ``reg_qi``), float32 arrays.
    With ``biased`` false the model is Funk's / Paterek's unbiased RSVD, r̂ = p_uᵀq_i.
    """
    return _svd_users(perm, 0, perm.shape[0], indptr[:-1], indptr[1:], item, rating, mu, bu,
                      bi, P, Q, lr_b, lr_f, reg_bu, reg_bi, reg_pu, reg_qi, biased)


@njit(cache=True, fastmath=True, error_model="numpy", nogil=True, parallel=True)
def svd_epoch_blocks(bptr, item, rating, uperm, uoff, mu, bu, bi, P, Q, lr_b, lr_f, reg_bu,
                     reg_bi, reg_pu, reg_qi, biased):
    """The SVD epoch as T×T disjoint blocks run T at a time (Gemulla et al.'s DSGD, KDD 2011).

    Users fall in T blocks (``uperm[uoff[t]:uoff[t+1]]``, this epoch's order) and items in
    T blocks; ``bptr[u, b]..bptr[u, b+1]`` are u's ratings of items in block b. Sub-epoch s
    runs blocks (t, (t+s) mod T) for all t in parallel: they share no user and no item, so
    the threads never touch the same parameter and the result does not depend on timing.
    """
    T = uoff.shape[0] - 1
    se = 0.0
    part = np.zeros(T)
    for s in range(T):
        for t in prange(T):
            b = (t + s) % T
            part[t] = _svd_users(uperm, uoff[t], uoff[t + 1], bptr[:, b], bptr[:, b + 1], item,
                                 rating, mu, bu, bi, P, Q, lr_b, lr_f, reg_bu, reg_bi, reg_pu,
                                 reg_qi, biased)
        se += part.sum()
    return se


@njit(cache=True)
def block_layout(indptr, item, item_block, T):
    """Each user's ratings regrouped by item block (stable): (order, bptr) with
    ``order`` the new position → old row and ``bptr[u, b]`` the start of block b."""
    n_users = indptr.shape[0] - 1
    bptr = np.empty((n_users, T + 1), np.int64)
    order = np.empty(item.shape[0], np.int64)
    for u in range(n_users):
        lo, hi = indptr[u], indptr[u + 1]
        pos = lo
        for b in range(T):
            bptr[u, b] = pos
            for k in range(lo, hi):
                if item_block[item[k]] == b:
                    order[pos] = k
                    pos += 1
        bptr[u, T] = pos
    return order, bptr


@njit(**_OPTS_SVD)
def feature_epoch(indptr, item, rating, perm, cache, pf, qf, lr_f, reg_u, reg_i, lo, hi):
    """One sweep of Funk's training of one feature alone: r̂ = clip(cache + p_u q_i), where
    ``cache`` holds each rating's clipped prediction by the baseline and the features
    before it; p_u += γ (e q_i − λ_u p_u), q_i += γ (e p_u − λ_i q_i) (Funk, "Netflix
    Update: Try This at Home", 2006), with λ per user (``reg_u``) and per item (``reg_i``).
    ``pf``, ``qf``: the feature's column of P and of Q, each contiguous (so that the items'
    column stays in cache; a row-major Q strides it), p_u held in a register over the
    user's ratings. Returns the sweep's squared error."""
    se = 0.0
    for uu in range(perm.shape[0]):
        u = perm[uu]
        p = pf[u]
        ru = reg_u[u]
        for k in range(indptr[u], indptr[u + 1]):
            i = item[k]
            q = qf[i]
            pred = min(max(cache[k] + p * q, lo), hi)
            e = rating[k] - pred
            se += e * e
            qf[i] = q + lr_f * (e * p - reg_i[i] * q)
            p = p + lr_f * (e * q - ru * p)
        pf[u] = p
    return se


@njit(**_OPTS_SVD)
def feature_commit(indptr, item, pf, qf, lo, hi, cache):
    """cache[k] = clip(cache[k] + p_u q_i): a feature (its columns ``pf``, ``qf``) joins
    every rating's cached prediction, clipped to the scale as Funk clipped after each
    feature."""
    for u in range(indptr.shape[0] - 1):
        p = pf[u]
        for k in range(indptr[u], indptr[u + 1]):
            cache[k] = min(max(cache[k] + p * qf[item[k]], lo), hi)


@njit(**_OPTS)
def _prefetch_users(perm, uu, indptr, nptr, nitem, item, rating, bu, P):
    """At the start of user ``perm[uu]``'s visit: prefetch the next user's factor row and
    the rows the user after next starts on (its ratings, items, N(u) and bias), since
    users come in random order and each visit would otherwise start on cache misses."""
    if uu + 1 < perm.shape[0]:
        _prefetch_row(P, perm[uu + 1])
    if uu + 2 < perm.shape[0]:
        w = perm[uu + 2]
        _prefetch_span(item, indptr[w], indptr[w + 1])
        _prefetch_span(rating, indptr[w], indptr[w + 1])
        _prefetch_span(nitem, nptr[w], nptr[w + 1])
        _prefetch_span(bu, w, w + 1)


@njit(**_OPTS)
def svdpp_epoch(indptr, item, rating, perm, nptr, nitem, mu, bu, bi, P, Q, Y, lr_b, lr_f, lr_y,
                reg_bu, reg_bi, reg_pu, reg_qi, reg_y, use_p):
    """SVD++ (Koren, KDD 2008): r̂ = μ + b_u + b_i + q_iᵀ(p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j).

    N(u) (``nptr``/``nitem``, CSR by user) is everything u is known to have rated. Per
    rating, Koren's SGD step: b_u, b_i, p_u, q_i as in SVD with p_u replaced by the
    implicit-augmented factor, and for every j ∈ N(u)
        y_j += γ_y (e_ui |N(u)|^-½ q_i − λ_y y_j).
    That step is the same for every j, so after the user's n = |R(u)| ratings
        y_j = d^n y_j + γ_y |N(u)|^-½ D,   d = 1 − γ_y λ_y,   D = Σ_k d^(n−1−k) e_k q_k,
    and the implicit sum z = |N(u)|^-½ Σ y_j moves per rating as z ← d z + γ_y e q_i.
    So the kernel keeps D and z up to date per rating in O(f) and touches the y_j once per
    user per sweep: exactly Koren's per-rating algorithm, at about the cost of SVD. With
    ``use_p`` false the user is represented only through the items rated: NSVD1 /
    Asymmetric SVD without p_u (``P`` must then be all zero; it stays so). The weight
    decays of b and of p_u, q_i are per user and per item, as in :func:`svd_epoch`; λ_y is
    one number (the closed form above needs the same d for every j).
    """
    F = P.shape[1]
    se = 0.0
    decay = np.float32(1.0) - lr_y * reg_y
    n = item.shape[0]
    z = np.zeros(F, np.float32)
    acc = np.zeros(F, np.float32)
    pe = np.zeros(F, np.float32)
    for uu in range(perm.shape[0]):
        u = perm[uu]
        _prefetch_users(perm, uu, indptr, nptr, nitem, item, rating, bu, P)
        lo, hi = nptr[u], nptr[u + 1]
        norm = np.float32(1.0 / np.sqrt(hi - lo)) if hi > lo else np.float32(0.0)
        _implicit_sum(nptr, nitem, Y, u, norm, z)
        acc[:] = 0.0
        pu = P[u]
        # Without p_u (NSVD) P stays all zero: its learning rate is 0, which keeps the
        # inner loops free of branches.
        lr_p = lr_f if use_p else np.float32(0.0)
        for k in range(indptr[u], indptr[u + 1]):
            if k + PREFETCH < n:
                _prefetch_row(Q, item[k + PREFETCH])
            i = item[k]
            qi = Q[i]
            dot = np.float32(0.0)
            for f in range(F):
                pe[f] = z[f] + pu[f]
                dot += pe[f] * qi[f]
            e = rating[k] - (mu + bu[u] + bi[i] + dot)
            se += e * e
            bu[u] += lr_b * (e - reg_bu[u] * bu[u])
            bi[i] += lr_b * (e - reg_bi[i] * bi[i])
            zstep = lr_y if hi > lo else np.float32(0.0)
            r_q, r_p = reg_qi[i], reg_pu[u]
            for f in range(F):
                q = qi[f]
                acc[f] = decay * acc[f] + e * q
                z[f] = decay * z[f] + zstep * e * q
                qi[f] = q + lr_f * (e * pe[f] - r_q * q)
                pu[f] += lr_p * (e * q - r_p * pu[f])
        n_u = indptr[u + 1] - indptr[u]
        if n_u > 0:
            shrink = np.float32(decay ** n_u)
            for jj in range(lo, hi):
                if jj + PREFETCH < hi:
                    _prefetch_row(Y, nitem[jj + PREFETCH])
                yj = Y[nitem[jj]]
                for f in range(F):
                    yj[f] = shrink * yj[f] + lr_y * norm * acc[f]
    return se


@njit(**_OPTS)
def timesvdpp_epoch(indptr, item, rating, perm, nptr, nitem, dev, tbin, slot, fbin, mu,
                    bu, au, but, cu, cut, bi, bit, bif, P, AP, Q, Y, PT,
                    lr, reg):
    """timeSVD++ (Koren, KDD 2009) with the frequency term of BellKor 2009:

        r̂ = μ + b_u + α_u dev_u(t) + b_{u,t} + (b_i + b_{i,Bin(t)})·(c_u + c_{u,t})
            + b_{i,f_ut} + q_iᵀ(p_u + α_{u}·dev_u(t) + p_{u,t} + |N(u)|^-½ Σ_{j∈N(u)} y_j)

    ``dev``, ``tbin``, ``slot`` (index of the (user, day) pair) and ``fbin`` (frequency bin)
    are given per rating. ``lr``/``reg`` hold one learning rate and one regularisation per
    parameter, in the order b_u, α_u, b_ut, c_u, c_ut, b_i, b_iBin, b_if, p, α_pu, q, y,
    p_ut. ``PT`` (slots × F) is the optional day-specific user factor (0 rows: off).
    c_u is regularised toward 1, every other parameter toward 0. The y_j move once per user
    per sweep, exactly as Koren's per-rating steps would move them (see
    :func:`svdpp_epoch`).
    """
    F = P.shape[1]
    day_factors = PT.shape[0] > 0
    n = item.shape[0]
    decay = np.float32(1.0) - lr[11] * reg[11]
    se = 0.0
    z = np.zeros(F, np.float32)
    acc = np.zeros(F, np.float32)
    pe = np.zeros(F, np.float32)
    for uu in range(perm.shape[0]):
        u = perm[uu]
        _prefetch_users(perm, uu, indptr, nptr, nitem, item, rating, bu, P)
        if uu + 2 < perm.shape[0]:
            w = perm[uu + 2]
            _prefetch_span(dev, indptr[w], indptr[w + 1])
            _prefetch_span(tbin, indptr[w], indptr[w + 1])
            _prefetch_span(slot, indptr[w], indptr[w + 1])
            _prefetch_span(fbin, indptr[w], indptr[w + 1])
        lo, hi = nptr[u], nptr[u + 1]
        norm = np.float32(1.0 / np.sqrt(hi - lo)) if hi > lo else np.float32(0.0)
        _implicit_sum(nptr, nitem, Y, u, norm, z)
        acc[:] = 0.0
        pu = P[u]
        apu = AP[u]
        for k in range(indptr[u], indptr[u + 1]):
            if k + PREFETCH < n:
                _prefetch_row(Q, item[k + PREFETCH])
            i = item[k]
            d = dev[k]
            s = slot[k]
            b = tbin[k]
            fb = fbin[k]
            qi = Q[i]
            for f in range(F):
                pe[f] = pu[f] + apu[f] * d + z[f]
            if day_factors:
                for f in range(F):
                    pe[f] += PT[s, f]
            dot = np.float32(0.0)
            for f in range(F):
                dot += pe[f] * qi[f]
            c = cu[u] + cut[s]
            ib = bi[i] + bit[i, b]
            pred = mu + bu[u] + au[u] * d + but[s] + ib * c + bif[i, fb] + dot
            e = rating[k] - pred
            se += e * e
            bu[u] += lr[0] * (e - reg[0] * bu[u])
            au[u] += lr[1] * (e * d - reg[1] * au[u])
            but[s] += lr[2] * (e - reg[2] * but[s])
            cu[u] += lr[3] * (e * ib - reg[3] * (cu[u] - np.float32(1.0)))
            cut[s] += lr[4] * (e * ib - reg[4] * cut[s])
            bi[i] += lr[5] * (e * c - reg[5] * bi[i])
            bit[i, b] += lr[6] * (e * c - reg[6] * bit[i, b])
            bif[i, fb] += lr[7] * (e - reg[7] * bif[i, fb])
            if day_factors:  # before q_i moves: every update uses the old q_i
                for f in range(F):
                    PT[s, f] += lr[12] * (e * qi[f] - reg[12] * PT[s, f])
            zstep = lr[11] if hi > lo else np.float32(0.0)
            for f in range(F):
                q = qi[f]
                acc[f] = decay * acc[f] + e * q
                z[f] = decay * z[f] + zstep * e * q
                qi[f] = q + lr[10] * (e * pe[f] - reg[10] * q)
                pu[f] += lr[8] * (e * q - reg[8] * pu[f])
                apu[f] += lr[9] * (e * q * d - reg[9] * apu[f])
        n_u = indptr[u + 1] - indptr[u]
        if n_u > 0:
            shrink = np.float32(decay ** n_u)
            for jj in range(lo, hi):
                if jj + PREFETCH < hi:
                    _prefetch_row(Y, nitem[jj + PREFETCH])
                yj = Y[nitem[jj]]
                for f in range(F):
                    yj[f] = shrink * yj[f] + lr[11] * norm * acc[f]
    return se


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def implicit_sums(nptr, nitem, Y, out):
    """out[u] = |N(u)|^-½ Σ_{j∈N(u)} y_j for every user (parallel over users)."""
    F = Y.shape[1]
    for u in prange(nptr.shape[0] - 1):
        lo, hi = nptr[u], nptr[u + 1]
        for f in range(F):
            out[u, f] = 0.0
        if hi == lo:
            continue
        norm = np.float32(1.0 / np.sqrt(hi - lo))
        for jj in range(lo, hi):
            j = nitem[jj]
            for f in range(F):
                out[u, f] += Y[j, f]
        for f in range(F):
            out[u, f] *= norm


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def predict_factors(users, items, base, PU, Q, AP, dev, out):
    """out = base + q_iᵀ(PU_u + AP_u·dev) per pair; the factor term is skipped for an unknown
    user or item (index out of range). ``AP`` with 0 rows means no drift term."""
    F = Q.shape[1]
    drift = AP.shape[0] > 0
    n_users = PU.shape[0]
    n_items = Q.shape[0]
    for k in prange(users.shape[0]):
        u = users[k]
        i = items[k]
        s = base[k]
        if 0 <= u < n_users and 0 <= i < n_items:
            for f in range(F):
                pf = PU[u, f]
                if drift:
                    pf += AP[u, f] * dev[k]
                s += pf * Q[i, f]
        out[k] = s


@njit(cache=True)
def group_by_user(users, items, n_users, n_items):
    """N(u) as CSR: (indptr, items sorted within each user, each pair once).

    Two counting passes and an in-place sort per user, in O(n) int32 memory, whatever the
    input order: at Netflix scale (104M pairs) sorting int64 pair keys would take gigabytes.
    Pairs with a user or item out of range are skipped.
    """
    nptr = np.zeros(n_users + 1, np.int64)
    for k in range(users.shape[0]):
        u = users[k]
        i = items[k]
        if 0 <= u < n_users and 0 <= i < n_items:
            nptr[u + 1] += 1
    for u in range(n_users):
        nptr[u + 1] += nptr[u]
    nitem = np.empty(nptr[n_users], np.int32)
    cursor = nptr[:-1].copy()
    for k in range(users.shape[0]):
        u = users[k]
        i = items[k]
        if 0 <= u < n_users and 0 <= i < n_items:
            nitem[cursor[u]] = i
            cursor[u] += 1
    # Sort each user's items, drop repeats, and close the gaps.
    out = 0
    for u in range(n_users):
        lo, hi = nptr[u], nptr[u + 1]
        seg = np.sort(nitem[lo:hi])
        nptr[u] = out
        for jj in range(seg.shape[0]):
            if jj == 0 or seg[jj] != seg[jj - 1]:
                nitem[out] = seg[jj]
                out += 1
    nptr[n_users] = out
    if out == nitem.shape[0]:
        return nptr, nitem
    return nptr, nitem[:out].copy()
