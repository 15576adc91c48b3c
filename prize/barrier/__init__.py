r"""The magic barrier: how low can the RMSE of any predictor go on a data set?

Ratings are noisy: asked twice, people do not give the same stars (Hill et al. 1995). Write
a rating as :math:`r_{ui} = \mu_{ui} + \varepsilon_{ui}` with :math:`\mu_{ui} = E[r_{ui}]`
the best possible prediction; then for any predictor :math:`f` that does not see
:math:`\varepsilon_{ui}`

.. math:: E[(r - f)^2] = E[\varepsilon^2] + E[(\mu - f)^2] \ge E[\varepsilon^2] = B^2,

and :math:`B`, the RMSE of the optimal predictor, is the *magic barrier* (Herlocker et al.
2004; Said et al. 2012). On synthetic data the generator knows :math:`\mu_{ui}` and the
noise law, so :math:`B` is known exactly (``meta["oracle_rmse"]``, the oracle's RMSE on
probe, quiz and test): the estimators below are validated against it.

Estimators (``ESTIMATORS``), each a function ``(context, config) -> dict``:

``ordinal`` (the default)
    a calibrated probabilistic rating model: Bayesian ordinal matrix factorization with
    user-day effects, film-time bins and per-user noise, sampled by Gibbs; :math:`B^2` is
    the posterior expectation of the oracle's squared error on the probe rows. See
    :func:`ordinal`.
``coherence``
    Bellogín, Said & de Vries (2014): the spread of a user's ratings inside groups of
    similar items (genres, else clusters of item factors). An upper-side estimate.
``said``
    Said et al. (2012): the error of the best available predictor bounds :math:`B` from
    above.
``herlocker``
    natural variability as test-retest unreliability (Hill et al. 1995, quoted by Herlocker
    et al. 2004): :math:`B^2 = (1 - \rho)\,\mathrm{Var}(r)` with the published
    :math:`\rho = 0.83`. A literature prior that ignores the data's own noise level.

Every estimate targets the RMSE on the **probe** rows (the oracle's ``probe`` number) and
comes with a standard error from a bootstrap over users (plus, for the ordinal model, the
posterior spread).

References
----------
- W. Hill, L. Stead, M. Rosenstein, G. Furnas (1995). Recommending and evaluating choices in
  a virtual community of use. CHI '95.
- J. Herlocker, J. Konstan, L. Terveen, J. Riedl (2004). Evaluating collaborative filtering
  recommender systems. ACM TOIS 22(1).
- A. Said, B. Jain, S. Narr, T. Plumbaum (2012). Users and noise: the magic barrier of
  recommender systems. UMAP 2012.
- A. Bellogín, A. Said, A. de Vries (2014). The magic barrier of recommender systems – no
  magic, just ratings. UMAP 2014.
- J. Albert, S. Chib (1993). Bayesian analysis of binary and polychotomous response data.
  JASA 88.
- R. Salakhutdinov, A. Mnih (2008). Bayesian probabilistic matrix factorization using
  Markov chain Monte Carlo. ICML 2008.
- U. Paquet, B. Thomson, O. Winther (2012). A hierarchical model for ordinal matrix
  factorisation. Statistics and Computing 22.
- Y. Koren (2010). Collaborative filtering with temporal dynamics. CACM 53(4).

Layout: :mod:`prize.barrier.estimators` holds the model (:class:`BarrierConfig`, the
estimators, ``ESTIMATORS`` and :func:`estimate`), :mod:`prize.barrier._kernels` its numba
kernels and :mod:`prize.barrier.store` the stored estimate the leaderboard reads. The names
below are loaded on first use, so that importing this package (the CLI, the leaderboard)
does not start numba.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

ESTIMATOR_NAMES = ("ordinal", "coherence", "said", "herlocker")
"""The keys of ``ESTIMATORS``, in its order (the CLI's choices), readable without loading the
estimators; ``tests/test_barrier.py`` holds the two equal."""

__all__ = [
    "CITATIONS",
    "DEFAULT_METHOD",
    "ESTIMATORS",
    "ESTIMATOR_NAMES",
    "BarrierConfig",
    "Context",
    "barrier_path",
    "coherence",
    "estimate",
    "herlocker",
    "load_estimate",
    "ordinal",
    "said",
    "save_estimate",
]
_IN_STORE = ("barrier_path", "load_estimate", "save_estimate")  # the rest: in estimators

if TYPE_CHECKING:
    from prize.barrier.estimators import (
        CITATIONS,
        DEFAULT_METHOD,
        ESTIMATORS,
        BarrierConfig,
        Context,
        coherence,
        estimate,
        herlocker,
        ordinal,
        said,
    )
    from prize.barrier.store import barrier_path, load_estimate, save_estimate


def __getattr__(name: str):
    # PEP 562: import the defining submodule on first use (numba comes with the estimators)
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "store" if name in _IN_STORE else "estimators"
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
