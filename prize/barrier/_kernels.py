r"""Numba kernels of the magic-barrier estimators (:mod:`prize.barrier.estimators`): the
Gibbs sampler's blocks of the ordinal model and the moments of rounded, clipped stars.

They take plain arrays and scalars and import nothing from the rest of the package. Each
is checked against an independent implementation in ``tests/test_barrier.py``.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def _sample_rows(starts, order, other, target, w, F, prior, z, out):
    r"""Gaussian conditional of one side's ``[b, p]`` given the other side, for every entity.

    Entity ``e`` owns rows ``order[starts[e]:starts[e + 1]]``; row ``r`` has design
    :math:`x_r = (1, F_{other[r]})`, target :math:`t_r` and precision weight :math:`w_r`:

    .. math:: \Lambda_e = \Lambda_0 + \sum_r w_r x_r x_r^T, \qquad
              \theta_e = \Lambda_e^{-1} \sum_r w_r t_r x_r + L_e^{-T} z_e,

    with :math:`\Lambda_e = L_e L_e^T` (Cholesky). ``z = 0`` gives the posterior mean (a
    ridge/ALS step). ``out`` (entities × (1 + f)) is overwritten.
    """
    n_e, k = out.shape
    G = np.empty((k, k))
    L = np.empty((k, k))
    b = np.empty(k)
    x = np.empty(k)
    v = np.empty(k)
    for e in range(n_e):
        G[:, :] = prior
        b[:] = 0.0
        for p in range(starts[e], starts[e + 1]):
            r = order[p]
            o = other[r]
            x[0] = 1.0
            for a in range(1, k):
                x[a] = F[o, a - 1]
            wr = w[r]
            t = target[r] * wr
            for a in range(k):  # the full square: contiguous, so it vectorizes
                xa = x[a] * wr
                b[a] += x[a] * t
                for c in range(k):
                    G[a, c] += xa * x[c]
        L[:, :] = 0.0
        for a in range(k):
            for c in range(a + 1):
                s = G[a, c]
                for m in range(c):
                    s -= L[a, m] * L[c, m]
                if a == c:
                    L[a, a] = math.sqrt(s)
                else:
                    L[a, c] = s / L[c, c]
        for a in range(k):  # forward: L v = b
            s = b[a]
            for m in range(a):
                s -= L[a, m] * v[m]
            v[a] = s / L[a, a]
        for a in range(k):
            v[a] += z[e, a]
        for a in range(k - 1, -1, -1):  # back: L^T theta = v + z
            s = v[a]
            for m in range(a + 1, k):
                s -= L[m, a] * out[e, m]
            out[e, a] = s / L[a, a]


@njit(cache=True, nogil=True)
def _dot_rows(u, i, P, Q):
    """p_u^T q_i for every row."""
    out = np.empty(len(u))
    for r in range(len(u)):
        s = 0.0
        for k in range(P.shape[1]):
            s += P[u[r], k] * Q[i[r], k]
        out[r] = s
    return out


@njit(cache=True, nogil=True)
def _ordinal_moments(s, sigma, cuts, values):
    r"""Mean and variance of :math:`r = v_k` when :math:`s + \sigma\varepsilon` falls
    between ``cuts[k-1]`` and ``cuts[k]`` (:math:`\varepsilon \sim N(0, 1)`, outer cuts
    infinite): the rounding and clipping of the stars."""
    n, K = len(s), len(values)
    mean = np.empty(n)
    var = np.empty(n)
    for r in range(n):
        prev = 1.0  # P(latent > lower cut of the current value)
        m1 = 0.0
        m2 = 0.0
        for k in range(K):
            if k < K - 1:
                nxt = 0.5 * math.erfc(-(s[r] - cuts[k]) / (sigma[r] * math.sqrt(2.0)))
            else:
                nxt = 0.0
            p = prev - nxt
            m1 += p * values[k]
            m2 += p * values[k] * values[k]
            prev = nxt
        mean[r] = m1
        var[r] = max(m2 - m1 * m1, 0.0)
    return mean, var


@njit(cache=True, nogil=True)
def _phi_inv(p):
    """The standard normal quantile: Acklam's rational approximation (relative error
    1.2e-9), polished by one Halley step on ``erfc`` to double precision."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = ((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                 - 2.400758277161838) * q - 2.549732539343734) * q + 4.374664141464968) * q
              + 2.938163982698783)
             / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
                  + 2.445134137142996) * q + 3.754408661907416) * q + 1.0))
    elif p > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                  - 2.400758277161838) * q - 2.549732539343734) * q + 4.374664141464968) * q
               + 2.938163982698783)
              / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
                   + 2.445134137142996) * q + 3.754408661907416) * q + 1.0))
    else:
        q = p - 0.5
        r = q * q
        x = ((((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
                 - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
               - 3.066479806614716e+01) * r + 2.506628277459239) * q
             / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
                   - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
                 - 1.328068155288572e+01) * r + 1.0))
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True, nogil=True)
def _truncated_normal_kernel(mean, sd, lo, hi, u01, out):
    r"""Draws of :math:`N(m, s^2)` restricted to :math:`[lo, hi]` by the inverse CDF,
    :math:`x = m + s\,\Phi^{-1}(\Phi(a) + U (\Phi(b) - \Phi(a)))`, worked on the side of the
    interval nearer the mode (an interval above the mean is mirrored below it), so that
    the tails keep their precision."""
    for r in range(len(mean)):
        a = (lo[r] - mean[r]) / sd[r]
        b = (hi[r] - mean[r]) / sd[r]
        flip = a > 0.0
        if flip:
            a, b = -b, -a
        pa = 0.5 * math.erfc(-a / math.sqrt(2.0))
        pb = 0.5 * math.erfc(-b / math.sqrt(2.0))
        z = _phi_inv(pa + u01[r] * (pb - pa))
        z = min(max(z, a), b)
        out[r] = mean[r] + sd[r] * (-z if flip else z)
    return out


def _truncated_normal(mean, sd, lo, hi, rng):
    """Draws of N(mean, sd²) restricted to [lo, hi] (see :func:`_truncated_normal_kernel`)."""
    mean = np.ascontiguousarray(mean, np.float64)
    n = len(mean)
    return _truncated_normal_kernel(mean, np.broadcast_to(np.asarray(sd, np.float64), n),
                                    np.broadcast_to(np.asarray(lo, np.float64), n),
                                    np.broadcast_to(np.asarray(hi, np.float64), n),
                                    rng.random(n), np.empty(n))
