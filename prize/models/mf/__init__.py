"""Matrix factorization by SGD in numba: ``mf`` (biased SVD / Funk RSVD), ``svdpp``
(SVD++), ``timesvdpp`` (timeSVD++ with frequencies) and ``nsvd`` (NSVD1 / asymmetric).

Each is a family of its own for `prize train FAMILY`; the modules below are their registry
entries (``MODELS``, ``DEFAULT_CONFIG``).
"""
