"""numba kernels of the RBM family: what torch does slowly on a CPU.

``Tensor.index_add_`` on a CPU pays about a microsecond per index, which on Netflix (two
scatters of ~200,000 rows per mini-batch of 1,000 users, 100 hidden units wide) would cost
more than the rest of an epoch together; and torch's momentum update takes four passes over
the weights where one will do. These kernels take plain arrays (the tensors' memory,
shared without a copy) and import nothing from the rest of the package. Their slow,
obvious twins are in ``tests/test_rbm.py``.

One thread each: on two cores a second one gains little against the torch threads beside
it, and a fixed order of additions keeps runs reproducible.
"""

from __future__ import annotations

from numba import njit

_OPTS = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)


@njit(**_OPTS)
def scatter_rows(G, rows, seg, src, alpha):
    """``G[rows[n], :] += alpha * src[seg[n], :]`` for every n, in order.

    The gradient of a weight matrix indexed by (movie, rating) rows: ``src`` holds one row
    per user of the mini-batch (hidden probabilities), ``seg[n]`` says whose rating n is,
    ``alpha`` is +1 for the data statistics and -1 for the reconstruction's.
    """
    n_cols = G.shape[1]
    for n in range(rows.shape[0]):
        g = G[rows[n]]
        s = src[seg[n]]
        for f in range(n_cols):
            g[f] += alpha * s[f]


@njit(**_OPTS)
def scatter_rows_weighted(G, rows, seg, src, weight, alpha):
    """``G[rows[n], :] += alpha * weight[n] * src[seg[n], :]`` for every n, in order (the
    mean-field reconstruction, whose visible units count with their probabilities)."""
    n_cols = G.shape[1]
    for n in range(rows.shape[0]):
        g = G[rows[n]]
        s = src[seg[n]]
        w = alpha * weight[n]
        for f in range(n_cols):
            g[f] += w * s[f]


@njit(**_OPTS)
def momentum_step(theta, velocity, grad, momentum, step, decay):
    """One pass of Δθ ← μ Δθ + step · ∇θ − decay · θ,  θ ← θ + Δθ,  ∇θ ← 0 over flat
    arrays (step = ε / batch size, decay = ε λ); the gradient is cleared for the next
    mini-batch's scatters."""
    for n in range(theta.shape[0]):
        v = momentum * velocity[n] + step * grad[n] - decay * theta[n]
        velocity[n] = v
        theta[n] += v
        grad[n] = 0.0
