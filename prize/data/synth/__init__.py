r"""Synthetic Netflix-shaped ratings, written in the original Netflix Prize file layout.

The real importer reads the output exactly like the 2006 download (``training_set/``,
``probe.txt``, ``qualifying.txt``, ``movie_titles.txt``), plus ``qualifying_truth.txt``
(the answers Netflix kept) and ``synth.json`` (counts, parameters, the oracle RMSE).

The generating model
--------------------
It carries every effect the Prize algorithms exploited (notation of Koren 2009/2010).

*Who rates what* (the implicit signal of SVD++/NSVD, "who rated what is informative"):
user ``u`` takes ``n_u`` distinct films, sequentially without replacement, with weights

.. math:: w_{ui} = \mathrm{pop}_i \exp(\gamma \min(p_u^T q_i, c_u)),
          \qquad c_u = \kappa \, \mathrm{SD}_i(p_u^T q_i)

(law 6: ``w_u^T v_i``, the tastes of the choice; below)
(``kappa = tilt_cap`` caps the tilt so that rejection sampling from ``pop`` accepts
often). ``pop_i`` is calibrated so that the films' expected counts follow Netflix's curve
(the top 6% of the films hold about 61% of the ratings where the size allows); ``n_u`` is
a shifted log-normal, heavy-tailed like Netflix's (median 93, some above 10,000).

*When*: a user is active over ``[start_u, stop_u]`` (joins skewed towards 2004-2005 as
Netflix grew), rates on ``m_u ~ n_u^{0.8}`` distinct session days with Dirichlet
session sizes (a big first session), so the number of ratings per user-day (Koren's
"frequency") varies.

*The latent score* (timeSVD++ without the scaling terms):

.. math:: s_{ui}(t) = \mu + b_u + \alpha_u \mathrm{dev}_u(t) + b_{u,t} + b_i
          + b_{i,\mathrm{Bin}(t)} + p_u^T q_i,
          \qquad \mathrm{dev}_u(t) = \mathrm{sign}(t - t_u) |t - t_u|^{\beta}

with ``t_u`` the user's mean rating day, 30 day bins, ``b_{i,Bin}`` a random walk over
the bins, ``b_{u,t}`` one offset per (user, day) session, ``b_u`` and ``b_i`` skewed to
the left (a few very harsh users, many bad films; ``b_i`` correlates with popularity),
and ``mu`` solved so that the expected mean star is 3.60 (:func:`law._calibrate_mu`).

*Families* (the local item-item structure of real ratings that low-rank models miss and
neighbourhood models catch: sequels, series, one director's films; Bell & Koren 2007,
Koren 2008): ``family_fraction`` of the films form small families ``F`` of 2..8 films of
about equal popularity (:func:`law._families`), and every user has an independent taste for
each family, added to the latent score of its films:

.. math:: s_{ui}(t) \mathrel{+}= g_{u,F(i)}, \qquad g_{u,F} \sim N(0, \sigma_F^2)

(``sigma_family``; 0 outside families). A rank-``f`` model cannot hold one free effect per
(user, family); a neighbour of the same family shows it in the user's own ratings. The
effect is part of ``s``, so the oracle below includes it.

*The stars*: :math:`r = \mathrm{clip}(\lfloor s + \sigma_u \nu \varepsilon + 1/2
\rfloor, 1, 5)`, ``eps ~ N(0, 1)``, ``sigma_u`` log-normal per user and ``nu`` the
``noise_scale``.

*The hold-out* follows Netflix: each user's most recent ``min(9, n_u // 2)`` ratings,
shuffled into probe / quiz / test thirds. Probe stays in ``training_set/`` (probe is a
subset of training, as in 2006); quiz and test form ``qualifying.txt``.

Versions of the law
-------------------
``SynthModel.law`` names the version; ``synth.json`` and the imported data set's
``meta.json`` (``meta["synthetic"]["law"]``) record it, and ``prize data synth --law N``
(:func:`~prize.data.synth.law.under_law`) makes any preset's sizes under law ``N``, so a
data set of an older law can be made again bit for bit. Law 1 (``tiny``, ``small``) is the
model above with its original parameters, kept bit for bit so that old data sets and the
numbers tests measured on them stay reproducible. Law 2
(:data:`~prize.data.synth.law.LAW2`) was the first calibration on the Prize's ladder (issue
17, ``scripts/bench_twin.py``): a long tail of 128 tastes whose variance shares decay like
``k^-1`` (each further factor still helps), families whose taste also steers what a fan
chooses (``family_tilt``: the weight becomes ``pop_i exp(gamma min(p_u^T q_i + family_tilt
g_{u,F(i)}, c_u))``, so who-rated-what carries it), fewer and bigger rating sessions (the
held-out most recent ratings share their day with training ratings, as Netflix's batch
raters' did, which is where timeSVD++'s day biases pay) and a lower noise level. It landed
the rungs above the reference, but a plain item kNN (the reference) beat the biases by
twice what Cinematch did. Law 3 (``tiny-twin``, ``small-twin``;
:data:`~prize.data.synth.law.LAW3`) adds each film's taste scale ``s_i`` (log-normal,
``E[s_i^2] = 1``): the taste term of the score is ``s_i p_u^T q_i``, so some films divide
opinion and others barely move with taste; the choice of films sees ``p_u^T q_i`` without
it. A factor model learns each film's scale; the plain kNN's average of neighbours'
residuals does not, which brings both baselines to their rungs. Its other parameters are
re-balanced around it (a weaker selection tilt, a steeper head of the spectrum). Law 4
(:data:`~prize.data.synth.law.LAW4`) is law 3 with Netflix-sized time effects (a user
drift four times weaker, day offsets and the films' drift a little stronger), which land
Koren's time-aware baselines; law 3 had needed its strong drift to hold back a reference
stronger than Bell & Koren's published correlation kNN. Law 5
(:data:`~prize.data.synth.law.LAW5`) is law 4 without the families (``sigma_family`` 0):
the magic-barrier estimators model no item-local structure and read a user's family
effects as noise, while the ladder barely moves without them. Law 6
(:data:`~prize.data.synth.law.LAW6`) turns the taste that steers the choice
away from the one that moves the stars (``choice_turn``, 90 degrees): the weight becomes
``pop_i exp(gamma min(w_u^T v_i, c_u))`` with ``v_i = T q_i`` (:func:`law._choice_tastes`: each
pair of factors turned a quarter, so that over films ``p_u^T v_i`` is uncorrelated with
``p_u^T q_i`` for every user), ``w_u = sqrt(0.3) p_u + sqrt(0.7) g_u`` (``g_u`` a taste
for watching of the user's own, ``choice_taste_share``), and the tilt grows from 0.4 to
1.5. Who-rated-what then can be learnt as a real one can (EASE ranks the held-out films
about twice as well as popularity does, as on MovieLens 100K; under law 5, no better),
without the films chosen being likelier to please, and tells the stars' tastes in part.
Law 7 (:data:`~prize.data.synth.law.LAW7`) is law 6 with 45% of the choice's user side
from the stars' taste rather than 30%, which brings the conditional RBM, the model that
learns the choice best, up to its rung. Law 8 (``small-twin`` in the demo;
:data:`~prize.data.synth.law.LAW8`) is law 7 with smaller day-specific user offsets
(``sigma_day`` 0.32 rather than 0.37): the law's day offsets are independent of the films,
so no static factor absorbs any of them as on Netflix, and under law 7 timeSVD++ gained
about 2.1 points over SVD++ at every f where Netflix's gained 1.25-1.68. Law 9
(``medium``, ``netflix``; :data:`~prize.data.synth.law.LAW9`) is law 8 with the films'
taste scales rescaled so that their mean, each film weighted by its expected ratings, is
its expectation: as drawn, a few popular films from the log-normal's tails moved it by a
quarter from seed to seed, and the reference's RMSE, with every rung's distance from it,
followed.

The oracle (the data set's magic barrier)
-----------------------------------------
The generator knows ``s`` and ``sigma = sigma_u nu`` of every pair, so the best possible
prediction is :math:`E[r | s, \sigma]`, in closed form from the normal CDF at the
rounding cuts ``j + 1/2`` (:func:`rounded_clipped_moments`). ``oracle_rmse`` is the
RMSE of that prediction against the realised stars; ``expected_oracle_rmse`` is
:math:`\sqrt{\mathrm{mean}\, \mathrm{Var}[r | s, \sigma]}`, what it tends to.

The modules
-----------
:mod:`~prize.data.synth.law` holds the generative law (parameters, presets, simulation,
the oracle maths), :mod:`~prize.data.synth.files` writes the Netflix layout and
``synth.json``, :mod:`~prize.data.synth._kernels` the numba kernels of both. The public
names of both are re-exported here.
"""

from prize.data.synth.files import describe, generate, write_netflix_layout
from prize.data.synth.law import (
    FIRST_DAY,
    HOLDOUT_PER_USER,
    LAST_DAY,
    LAW_MODELS,
    LAWS,
    N_DAYS,
    NETFLIX_MAX_CUSTOMER_ID,
    PRESETS,
    PROBE,
    QUIZ,
    SET_CODES,
    TEST,
    TRAIN,
    Preset,
    Synthesis,
    SynthModel,
    oracle_rmse,
    rounded_clipped_moments,
    rounded_clipped_pmf,
    sample_ratings,
    simulate,
    under_law,
)

__all__ = [
    "FIRST_DAY",
    "HOLDOUT_PER_USER",
    "LAST_DAY",
    "LAWS",
    "LAW_MODELS",
    "N_DAYS",
    "NETFLIX_MAX_CUSTOMER_ID",
    "PRESETS",
    "PROBE",
    "QUIZ",
    "SET_CODES",
    "TEST",
    "TRAIN",
    "Preset",
    "SynthModel",
    "Synthesis",
    "describe",
    "generate",
    "oracle_rmse",
    "rounded_clipped_moments",
    "rounded_clipped_pmf",
    "sample_ratings",
    "simulate",
    "under_law",
    "write_netflix_layout",
]
