"""The calibrated generative laws (laws 2 and 3, issue 17): the version is recorded, laws 1
and 2 are left bit for bit as they were, and the ingredients of law 2 (the long-tailed
taste spectrum, item neighbourhoods, selection on the family taste) and of law 3 (each
film's taste scale) are there on a small instance. The ladder itself (slow) runs
scripts/bench_twin.py on ``small-twin``."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prize.data import synth

REPO = Path(__file__).resolve().parents[1]
# sha256 over the data files of `tiny` seed 0 (every file but synth.json, by sorted path:
# path, NUL, the file's sha256), as law 1 wrote them before law 2 existed (commit
# 800bcd0). synth.json is left out: it gained the "law" fields.
TINY_LAW1_DIGEST = "48363fc94e93a208f2a7c99e5f42116ac43598bc51e07ac6983819639536c695"
# The same over `tiny-twin` seed 0 as law 2 wrote it before law 3 existed (commit 024f851).
TINY_TWIN_LAW2_DIGEST = "2454c1535d91852e9d3d4cd3b04d60ddafe173dbe70c9d905a1b27d46fce5cd2"
# And `tiny-twin` seed 0 under law 3, as commit e8f94ca wrote it: a later law must leave
# law 3's data sets as they are.
TINY_TWIN_LAW3_DIGEST = "cbcb3688d8194331e95e3a82995e2b69cdd3c391975635e337546a6dcceb7fee"
# `tiny-twin`'s sizes under law 4, as the commit that added it wrote them.
TINY_TWIN_LAW4_DIGEST = "385d31779ee1fc6c4f4a8d79cc2c18f66d47bcda92564c1d15a9e989683f9f58"
# And under law 5, as the commit that added it wrote them.
TINY_TWIN_LAW5_DIGEST = "41635f50aff220c956e871f2466854267dfd5923b2064ed6c9c343ee6e3d13e3"
# And under law 6.
TINY_TWIN_LAW6_DIGEST = "614db7e546d11c72b28f03d7ab2b4389d6d9e97c37b2739e734be14e225463ea"
# And under law 7.
TINY_TWIN_LAW7_DIGEST = "b864b7bdf996d86d9c3713181932eb3f65a55b24907367444adfa1e140bcdb1a"
# And under law 8.
TINY_TWIN_LAW8_DIGEST = "65d9512ac8f9d97605f06ea7a15a609290f4ce81d65f0982854a64b6030e9121"
# And under law 9.
TINY_TWIN_LAW9_DIGEST = "698877c3a34cec5531f7279fb063d2508dbeb2965ab8a3161cf1fa9e898f5b96"


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(x.relative_to(folder) for x in folder.rglob("*")
                    if x.is_file() and x.name != "synth.json"):
        h.update(str(p).encode() + b"\0" + hashlib.sha256((folder / p).read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module")
def twin() -> synth.Synthesis:
    """``tiny-twin`` under law 2, whose ingredients law 3 keeps."""
    return synth.simulate(synth.under_law("tiny-twin", 2), seed=0)


@pytest.fixture(scope="module")
def twin3() -> synth.Synthesis:
    return synth.simulate("tiny-twin", seed=0)


def test_presets_name_their_law():
    assert synth.PRESETS["tiny"].law == 1 and synth.PRESETS["small"].law == 1
    for name in ("tiny-twin", "small-twin", "medium", "netflix"):
        assert synth.PRESETS[name].law == (9 if name in ("medium", "netflix") else 3), name
        assert synth.under_law(name, 2).model == synth.LAW_MODELS[2]
        assert synth.under_law(name, 2).n_ratings == synth.PRESETS[name].n_ratings


def test_law2_files_unchanged_under_law_3(tmp_path):
    """`prize data synth --law 2` writes law 2's data sets as law 2 wrote them."""
    info = synth.generate(tmp_path / "tt", preset="tiny-twin", seed=0, law=2)
    assert info["law"] == 2 and info["params"]["model"]["law"] == 2
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW2_DIGEST


def test_law3_files_pinned(tmp_path):
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 3), seed=0)
    assert info["law"] == 3
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW3_DIGEST


def test_law4_files_pinned(tmp_path):
    """Law 4 is law 3 with other time effects: its files are pinned too, and differ."""
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 4), seed=0)
    assert info["law"] == 4 and info["params"]["model"]["sd_alpha"] < synth.LAW_MODELS[3].sd_alpha
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW4_DIGEST != TINY_TWIN_LAW3_DIGEST


def test_law5_is_law4_without_families(tmp_path):
    """Law 5 changes nothing but the families' effect (and its number); its files are
    pinned, and differ from law 4's."""
    four, five = (dataclasses.asdict(synth.LAW_MODELS[n]) for n in (4, 5))
    assert {k for k in four if four[k] != five[k]} == {"law", "sigma_family"}
    assert five["sigma_family"] == 0 < four["sigma_family"]
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 5), seed=0)
    assert info["law"] == 5
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW5_DIGEST != TINY_TWIN_LAW4_DIGEST


def test_law6_is_law5_with_the_choice_turned(tmp_path):
    """Law 6 changes nothing but the choice: its turn, its tilt and the share of it the
    stars' taste steers. Its files are pinned, and differ from law 5's."""
    five, six = (dataclasses.asdict(synth.LAW_MODELS[n]) for n in (5, 6))
    assert {k for k in five if five[k] != six[k]} == {"law", "choice_turn", "gamma",
                                                      "choice_taste_share"}
    assert six["choice_turn"] == 90 and five["choice_turn"] == 0
    assert 0 < six["choice_taste_share"] < 1 == five["choice_taste_share"]
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 6), seed=0)
    assert info["law"] == 6 and info["params"]["model"]["choice_turn"] == 90
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW6_DIGEST != TINY_TWIN_LAW5_DIGEST


def test_law7_is_law6_with_more_of_the_choice_from_the_stars(tmp_path):
    """Law 7 changes nothing but the share of the choice the stars' taste steers, which
    grows. Its files are pinned, and differ from law 6's."""
    six, seven = (dataclasses.asdict(synth.LAW_MODELS[n]) for n in (6, 7))
    assert {k for k in six if six[k] != seven[k]} == {"law", "choice_taste_share"}
    assert six["choice_taste_share"] < seven["choice_taste_share"] < 1
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 7), seed=0)
    assert info["law"] == 7
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW7_DIGEST != TINY_TWIN_LAW6_DIGEST


def test_law8_is_law7_with_smaller_day_offsets(tmp_path):
    """Law 8 changes nothing but the SD of the day-specific user offsets, which shrinks.
    Its files are pinned, and differ from law 7's (which presets use it:
    test_presets_name_their_law)."""
    seven, eight = (dataclasses.asdict(synth.LAW_MODELS[n]) for n in (7, 8))
    assert {k for k in seven if seven[k] != eight[k]} == {"law", "sigma_day"}
    assert 0 < eight["sigma_day"] < seven["sigma_day"]
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 8), seed=0)
    assert info["law"] == 8 and info["params"]["model"]["sigma_day"] == eight["sigma_day"]
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW8_DIGEST != TINY_TWIN_LAW7_DIGEST


def test_law9_is_law8_with_the_films_weighted_mean_scale_pinned(tmp_path):
    """Law 9 changes nothing but ``item_scale_weighted``. The films' mean taste scale over
    the ratings then stays at its expectation, exp(-sd^2 / 2), from seed to seed, where law
    8's wanders with the few popular films that draw from the log-normal's tails (on
    `medium` the reference's quiz RMSE followed it). Its files are pinned, and differ from
    law 8's."""
    eight, nine = (dataclasses.asdict(synth.LAW_MODELS[n]) for n in (8, 9))
    assert {k for k in eight if eight[k] != nine[k]} == {"law", "item_scale_weighted"}
    expected = math.exp(-nine["item_scale_log_sd"] ** 2 / 2)
    means = {}
    for law in (8, 9):
        sims = (synth.simulate(synth.under_law("tiny-twin", law), seed=s) for s in range(4))
        means[law] = np.array([sim.state.item_scale[sim.item].mean() for sim in sims])
    # Law 8 at tiny-twin's 500 films: 0.52-0.64 over seeds 0-5 (SD 0.039), law 9 0.60-0.62
    # (0.005); the selection moves the ratings' mean a little off the expected counts'.
    assert np.abs(means[9] - expected).max() < 0.02, means
    assert means[9].std() < means[8].std() / 3, means
    info = synth.generate(tmp_path / "tt", preset=synth.under_law("tiny-twin", 9), seed=0)
    assert info["law"] == 9 and info["params"]["model"]["item_scale_weighted"] is True
    assert _digest(tmp_path / "tt") == TINY_TWIN_LAW9_DIGEST != TINY_TWIN_LAW8_DIGEST


def test_choice_turn_needs_law6():
    bad = dataclasses.replace(synth.LAW_MODELS[5], choice_turn=90.0)
    preset = dataclasses.replace(synth.PRESETS["tiny-twin"], model=bad)
    with pytest.raises(ValueError, match="choice_turn and choice_taste_share are law-6"):
        synth.simulate(preset, seed=0)
    over = dataclasses.replace(synth.LAW_MODELS[6], choice_taste_share=1.5)
    with pytest.raises(ValueError, match=r"choice_taste_share must be in \[0, 1\]"):
        synth.simulate(dataclasses.replace(preset, model=over), seed=0)


def test_law1_tiny_files_unchanged(tmp_path):
    info = synth.generate(tmp_path / "tiny", preset="tiny", seed=0)
    assert info["law"] == 1 and info["params"]["model"]["law"] == 1
    assert _digest(tmp_path / "tiny") == TINY_LAW1_DIGEST


def test_law_recorded_through_import(tmp_path):
    from prize.data.netflix import import_netflix

    raw = tmp_path / "raw"
    info = synth.generate(raw, preset="tiny-twin", seed=1)
    assert json.loads((raw / "synth.json").read_text())["law"] == 3 == info["law"]
    import_netflix(raw, tmp_path / "data" / "tw", name="tw")
    meta = json.loads((tmp_path / "data" / "tw" / "meta.json").read_text())
    assert meta["synthetic"]["law"] == 3
    assert meta["oracle_rmse"] == info["oracle_rmse"]


def test_unknown_law_and_misplaced_parameter_refused():
    p = synth.PRESETS["tiny"]
    unknown = max(synth.LAWS) + 1
    with pytest.raises(ValueError, match="unknown law"):
        synth.simulate(dataclasses.replace(p, model=dataclasses.replace(p.model, law=unknown)))
    with pytest.raises(ValueError, match="law-2 parameter"):
        synth.simulate(dataclasses.replace(p, model=dataclasses.replace(p.model,
                                                                        family_tilt=1.0)))
    with pytest.raises(ValueError, match="law-3 parameter"):
        synth.simulate(dataclasses.replace(synth.under_law("tiny-twin", 2), model=dataclasses
                                           .replace(synth.LAW_MODELS[2], item_scale_log_sd=0.5)))
    with pytest.raises(ValueError, match="unknown law"):
        synth.under_law("tiny", unknown)


def test_film_taste_scale(twin3):
    """Law 3's film scale s_i: log-normal with the law's SD and E[s^2] = 1, and it shows in
    the stars: among a film's raters, the spread of the stars around each rater's mean
    grows with s_i (tastes move them more on a polarising film)."""
    m = twin3.preset.model
    s = twin3.state.item_scale
    assert m.law == 3 and m.item_scale_log_sd > 0 and len(s) == twin3.n_movies
    # 500 films: the SD of log s_i is good to about 4%, the mean of s_i^2 (log-normal with
    # a heavy right tail) to about 30% at a log-SD near 1; slacks 0.15 and 0.6
    assert abs(np.log(s).std() - m.item_scale_log_sd) < 0.15 * m.item_scale_log_sd
    assert abs(np.mean(s ** 2) - 1) < 0.6
    train = np.flatnonzero(twin3.split == synth.TRAIN)
    u, i = twin3.user[train], twin3.item[train].astype(np.int64)
    r = twin3.rating[train].astype(np.float64)
    dev = r - (np.bincount(u, r, twin3.n_users) / np.maximum(np.bincount(u, None,
                                                                         twin3.n_users), 1))[u]
    n_i = np.bincount(i, None, twin3.n_movies)
    spread = np.sqrt(np.bincount(i, dev ** 2, twin3.n_movies) / np.maximum(n_i, 1))
    rated = n_i >= 30
    rho = np.corrcoef(np.log(s[rated]), np.log(spread[rated]))[0, 1]
    # measured 0.71 on tiny-twin seed 0 (346 films with 30 ratings or more); asked: above 0.3
    assert rho > 0.3, rho


def test_oracle_stays_exact_under_law3(twin3):
    """The oracle of law 3 is still E[r | s, sigma] of the generator: its RMSE matches the
    closed form."""
    s, sigma, r = twin3.latent("quiz")
    got, expected = synth.oracle_rmse(r, s, sigma)
    assert abs(got - expected) < 4 * expected / math.sqrt(len(r))
    assert twin3.oracle()[0]["quiz"] == got


def test_power_law_spectrum(twin):
    """The variance of p_uk q_ik, factor by factor, decays like k^-alpha (the long tail
    that lets more factors keep helping): a log-log fit of the drawn factors gives back
    alpha, and the factors past 10 still hold a real share."""
    m = twin.preset.model
    P, Q = twin.state.P, twin.state.Q
    var_k = P.var(axis=0) * Q.var(axis=0)  # Var(p_uk q_ik) for independent zero-mean draws
    k = np.arange(1, m.n_factors + 1)
    slope = np.polyfit(np.log(k), np.log(var_k), 1)[0]
    # 500 films per factor: each var_k carries ~9% noise; the fit over 128 factors is good
    # to a few hundredths (measured -0.999 at alpha 1.0); slack 0.15.
    assert abs(slope + m.factor_decay) < 0.15, slope
    # the factors past 10 hold a real share of the taste (measured 0.46; slack: half of it)
    tail = var_k[10:].sum() / var_k.sum()
    share = np.arange(1, m.n_factors + 1) ** -m.factor_decay
    assert tail > 0.5 * share[10:].sum() / share.sum() > 0.1, tail


def _family_residual_correlations(syn, pairs, min_common=15):
    """Pearson correlation, over the common raters of each film pair, of the training stars
    less the latent score without its family term (what is left: the family taste, the
    noise and the rounding); pairs with fewer than ``min_common`` common raters dropped."""
    lat = syn.state
    train = np.flatnonzero(syn.split == synth.TRAIN)
    u, i = syn.user[train], syn.item[train].astype(np.int64)
    g = np.array([lat.g(int(a), int(b)) for a, b in zip(u, i, strict=True)])
    res = syn.rating[train] - (syn.score[train].astype(np.float64) - g)
    M = np.full((syn.n_users, syn.n_movies), np.nan)
    M[u, i] = res
    out = []
    for a, b in pairs:
        both = ~np.isnan(M[:, a]) & ~np.isnan(M[:, b])
        if both.sum() >= min_common:
            out.append(np.corrcoef(M[both, a], M[both, b])[0, 1])
    return np.array(out)


def test_item_neighbourhoods(twin):
    """In the realised stars, films of one family (a series) move together beyond the
    tastes p^T q: their residuals from the latent score without the family term correlate
    across users, random pairs' do not. This is the local structure item kNN feeds on."""
    fam = twin.state.family
    within = [(a, b) for f in range(fam.max() + 1)
              for a, b in itertools.combinations(np.flatnonzero(fam == f).tolist(), 2)]
    rng = np.random.default_rng(0)
    random = [tuple(rng.choice(twin.n_movies, 2, replace=False)) for _ in range(len(within))]
    cw = _family_residual_correlations(twin, within)
    cr = _family_residual_correlations(twin, random)
    assert len(cw) > 100 and len(cr) > 100
    # measured on tiny-twin seed 0: within 0.072 (527 pairs), random 0.029 (484 pairs; the
    # day effects b_{u,t} of films rated the same day are shared too), standard errors
    # 0.006 and 0.008; asked: a margin of 0.02, half the measured 0.043 (2 SEs of the
    # difference above zero)
    assert cw.mean() > cr.mean() + 0.02, (cw.mean(), cr.mean())


def test_selection_follows_the_family_taste():
    """Law 2's family tilt: the films of its families a user chose carry a positive family
    taste g_{u,F} on average (missing not at random); without the tilt they do not. A
    strong family taste (sigma_F 0.6) makes the mechanism plain at tiny size."""
    def mean_g(tilt):
        p = synth.PRESETS["tiny-twin"]
        syn = synth.simulate(dataclasses.replace(p, model=dataclasses.replace(
            p.model, sigma_family=0.6, family_tilt=tilt)), seed=0)
        lat = syn.state
        rows = np.flatnonzero(lat.families()[syn.item] >= 0)[:20_000]
        return np.mean([lat.g(int(syn.user[r]), int(syn.item[r])) for r in rows])

    m = synth.PRESETS["tiny-twin"].model
    # the tilt exp(gamma g) shifts the chosen g by up to gamma sigma_F^2 = 0.29; the cap
    # c_u and the heavy users, who take most of the catalogue, shrink it: measured 0.085
    # with the tilt and 0.017 without, each with an SE near 0.01 (20,000 rows, correlated
    # within (user, family)). Asked: above 0.05 with it, below 0.04 without.
    assert m.family_tilt > 0
    assert mean_g(m.family_tilt) > 0.05
    assert abs(mean_g(0.0)) < 0.04


def test_oracle_stays_exact_under_law2(twin):
    """The oracle is E[r | s, sigma] of the generator: its RMSE on quiz matches the closed
    form and beats a prediction that drops the family effects."""
    s, sigma, r = twin.latent("quiz")
    got, expected = synth.oracle_rmse(r, s, sigma)
    assert abs(got - expected) < 4 * expected / math.sqrt(len(r))
    assert twin.oracle()[0]["quiz"] == got
    rows = twin.rows("quiz")
    g = np.array([twin.state.g(int(u), int(i))
                  for u, i in zip(twin.user[rows], twin.item[rows], strict=True)])
    # measured 0.6253 against 0.6360 without g (the MSE gap 0.0135, SE 0.0022)
    without, _ = synth.oracle_rmse(r, s - g, sigma)
    assert got < without, (got, without)


@pytest.mark.parametrize("exact_above", [32, 0])
def test_item_sampling_law_with_the_family_tilt(exact_above):
    """The law-2 selection kernel (``_family_tilt`` inside both samplers: rejection and
    keys) against its pure-Python twin: inclusion frequencies of 2 films out of 5 match
    exact successive sampling with weights ``pop_i exp(gamma min(p^T q_i + family_tilt
    g_{u,F(i)}, c))``, enumerated user by user (each user has their own family tastes)."""
    from prize.data.synth import _kernels as K

    n_users, k, n_items, f = 20_000, 2, 5, 3
    rng = np.random.default_rng(0)
    pop = rng.lognormal(0, 1, n_items)
    prob, alias = K.build_alias(pop)
    P = np.tile(rng.normal(0, 0.5, (1, f)), (n_users, 1))
    ones = np.ones(n_users)
    lat = synth.law._Latent(
        offsets=np.arange(n_users + 1, dtype=np.int64) * k, P=P, cap=np.full(n_users, 2.0),
        start=np.full(n_users, 100, np.int64), stop=np.full(n_users, 400, np.int64),
        n_sess=np.ones(n_users, np.int64), b_u=0 * ones, alpha_u=0 * ones, sigma_u=ones,
        Q=rng.normal(0, 0.5, (n_items, f)), log_pop=np.log(pop), alias_prob=prob,
        alias_idx=alias, b_i=np.zeros(n_items), b_i_bin=np.zeros((n_items, 30)),
        bin_width=74, exact_above=exact_above,
        family=np.array([0, 0, 1, 1, -1], np.int32), family_seed=np.uint64(7),
        sigma_family=0.8, family_tilt=1.5)
    m = synth.SynthModel()
    item, _, _, _ = lat.run(m, np.uint64(5))

    def inclusion(x):
        """Per user and film, P(film among 2 successive draws), tastes x (users x films)."""
        w = np.exp(lat.log_pop[None, :] + m.gamma * np.minimum(x, lat.cap[:, None]))
        first = w / w.sum(1, keepdims=True)
        # P(i second) = sum_{j != i} P(j first) w_i / (W - w_j)
        rest = first / (w.sum(1, keepdims=True) - w)
        return first + w * (rest.sum(1, keepdims=True) - rest)

    # the twin: each user's weights, with their own family tastes g_{u,F(i)}
    g = np.array([[lat.g(u, i) for i in range(n_items)] for u in range(n_users)])
    x = np.tile(lat.Q @ P[0], (n_users, 1))
    incl = inclusion(x + lat.family_tilt * g)
    assert np.allclose(incl.sum(1), k)
    want = incl.mean(0)
    freq = np.bincount(item.astype(np.int64), minlength=n_items) / n_users
    se = np.sqrt((incl * (1 - incl)).sum(0)) / n_users
    assert np.all(np.abs(freq - want) < 4 * se), (freq, want)
    # the tilt matters here: the law without it lies more than 10 SEs away
    assert np.abs(inclusion(x).mean(0) - want).max() > 10 * se.max()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 17: law 3 does not yet land every rung "
                                       "within 1 point (see docs/twin.md)")
def test_small_twin_ladder(tmp_path):
    """The ladder on small-twin (scripts/bench_twin.py, every rung): each rung within 1
    percentage point of the published one, and every ordering of the issue."""
    out = tmp_path / "ladder.md"
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_twin.py"),
                          "--preset", "small-twin", "--home", str(tmp_path / "home"),
                          "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    text = out.read_text()
    print(text)
    assert "✗" not in text and "—" not in text.split("| ordering |")[1]


@pytest.mark.slow
@pytest.mark.parametrize("law", [5, 6, 7, 8, 9])
@pytest.mark.parametrize("noise", [0.6, 1.0, 1.4])
def test_barrier_default_within_tolerance_on_the_twin(tmp_path, noise, law):
    """tests/test_barrier.py's validation of the default magic-barrier estimate, on the
    calibrated twin (tiny-twin's sizes under laws 5 to 9): within 0.02 of the probe
    oracle at three noise levels. Measured +0.0051, +0.0009, -0.0092 (rank 64; law 4, with the
    families, +0.0175, +0.0130, +0.0086, and +0.027 / +0.020 / +0.021 at `medium`'s
    sizes, where law 5 gives +0.007 / +0.011 / +0.009); law 6 +0.0024, -0.0032, -0.0063
    (+0.012 / +0.014 / +0.016 at `medium`'s sizes with the whole choice steered by the
    stars' taste); law 7 +0.0107, +0.0024, -0.0056 (`medium`: +0.009 / +0.004 / +0.002);
    law 8 +0.0080, +0.0027, -0.0042 (`medium`: +0.008 / +0.004 / +0.001); law 9 +0.0129,
    +0.0063, -0.0031.
    Seeded, so a change that moves it shows here."""
    from prize.barrier.estimators import estimate
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix

    home, name = tmp_path / "home", f"tiny-twin-{noise}"
    synth.generate(home / "raw" / name, preset="tiny-twin", seed=0, noise_scale=noise,
                   law=law)
    import_netflix(home / "raw" / name, home / "data" / name, name=name)
    ds = open_dataset(name, home)
    assert ds.meta["synthetic"]["law"] == law
    r = estimate(ds, None, estimators=["ordinal"])
    oracle = ds.meta["oracle_rmse"]["probe"]
    print(f"law {law}, noise {noise}: estimate {r['rmse']:.4f}, oracle {oracle:.4f}")
    assert abs(r["rmse"] - oracle) <= 0.02, (noise, r["rmse"], oracle)


# ---------------------------------------------------------------- the ladder in the report
def test_ladder_rows_from_records():
    from prize.leaderboard.report import CINEMATCH_QUIZ, ladder
    from prize.probes import PredictorRecord

    recs = [PredictorRecord("knn-cinematch-proxy", family="knn", quiz_rmse=1.0),
            PredictorRecord("baseline-biases", family="baseline", quiz_rmse=1.03),
            PredictorRecord("mf-f100", family="mf", quiz_rmse=0.95),
            PredictorRecord("blend-a", family="blend", quiz_rmse=0.93),
            PredictorRecord("blend-b", family="blend", quiz_rmse=0.91)]
    rows = {r["rung"]: r for r in ladder(recs)}
    b = rows["user + movie biases"]
    assert b["twin_pct"] == pytest.approx(-3.0)
    assert b["netflix_pct"] == pytest.approx(100 * (CINEMATCH_QUIZ - 0.9799) / CINEMATCH_QUIZ)
    assert b["within_1pp"] and b["distance"] == pytest.approx(b["twin_pct"] - b["netflix_pct"])
    assert rows["SVD f=100"]["twin_pct"] == pytest.approx(5.0)
    # the 2007 blend's rung is the rungs' blend the caller gives, not the best stored one
    assert rows["the 2007 blend"]["predictor"] is None
    rows = {r["rung"]: r for r in ladder(recs, blend=("rungs", 0.92))}
    assert rows["the 2007 blend"]["predictor"] == "rungs"
    assert rows["the 2007 blend"]["twin_pct"] == pytest.approx(8.0)
    assert rows["SVD++ f=100"]["twin_pct"] is None  # not trained: a dash in the table
    assert ladder(recs[1:]) is None  # no reference, no ladder
    # another predictor playing Cinematch (the twin's, from law 4 on)
    plain = recs + [PredictorRecord("knn-cinematch-plain", family="knn", quiz_rmse=1.05)]
    rows = {r["rung"]: r for r in ladder(plain, "knn-cinematch-plain")}
    assert rows["SVD f=100"]["twin_pct"] == pytest.approx(100 * (1.05 - 0.95) / 1.05)
    assert rows["SVD f=100"]["reference_quiz_rmse"] == 1.05
    assert ladder(recs, "knn-cinematch-plain") is None


def test_report_shows_the_ladder_on_synthetic_data(tmp_path):
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix
    from prize.leaderboard.report import write_report
    from prize.probes import ProbeStore
    from prize.runs.single import train

    home = tmp_path / "home"
    synth.generate(home / "raw" / "tw", preset="tiny-twin", seed=0)
    import_netflix(home / "raw" / "tw", home / "data" / "tw", name="tw")
    ds = open_dataset("tw", home)
    store = ProbeStore(home / "probes")
    biases = train(ds, store, "baseline", config="biases", name="baseline-biases")
    ref = train(ds, store, "knn", config="cinematch-proxy", name="knn-cinematch-proxy")
    rep = write_report(ds, store, tmp_path / "report")
    assert (tmp_path / "report" / "ladder.png").stat().st_size > 0
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "The Prize's ladder on the twin" in md and "ladder.png" in md
    row = next(r for r in rep["ladder"] if r["predictor"] == "baseline-biases")
    assert row["twin_pct"] == pytest.approx(100 * (ref.quiz_rmse - biases.quiz_rmse)
                                            / ref.quiz_rmse)
    assert f"{row['twin_pct']:+.2f}" in md
    # the orderings below it: the first lacks most of its rungs, so it is not judged
    assert "| ordering | holds |" in md
    assert rep["ladder_orderings"][0]["holds"] is None
    assert len(rep["ladder_orderings"]) == 7
    # no stored blend: the whole set's floor is not judged; the rungs' blend is computed
    assert rep["ladder_orderings"][-1]["holds"] is None
    row = next(r for r in rep["ladder"] if r["rung"] == "the 2007 blend")
    assert row["predictor"] == "the rungs' linear blend (2 inputs)" and row["twin_pct"] is not None
    # the MF + RBM check's blend, fitted on probe and scored on quiz without storing it
    from prize.blend.run import blend_quiz

    pair = blend_quiz(ds, store, ["baseline-biases", "knn-cinematch-proxy"])
    assert pair <= min(biases.quiz_rmse, ref.quiz_rmse) + 0.002  # slack: fitted on probe
    assert blend_quiz(ds, store, ["baseline-biases", "mf-f100"]) is None
    assert {m.name for m in store.list(ds.name)} == {"baseline-biases", "knn-cinematch-proxy"}


def test_rung_blend_takes_one_predictor_per_rung_and_the_references():
    from prize.leaderboard.report import rung_blend_names

    quiz = dict.fromkeys(["knn-interp", "knn-interp-ge", "mf-f100", "knn-cinematch-proxy",
                          "knn-cinematch-plain", "mf-f50", "blend-gbdt"], 0.9)
    # knn-interp-ge is the item kNN rung's first choice; mf-f50 and the blend are no rung
    assert rung_blend_names(quiz) == ["knn-interp-ge", "mf-f100", "knn-cinematch-plain",
                                      "knn-cinematch-proxy"]
    del quiz["knn-interp-ge"]
    assert rung_blend_names(quiz)[0] == "knn-interp"


def test_ladder_orderings_judge_each_chain_and_the_blend_gain():
    from prize.leaderboard.report import ladder_orderings

    quiz = {"baseline-biases": 0.98, "knn-cinematch-plain": 0.95, "knn-interp-ge": 0.91,
            "mf-f100": 0.90, "svdpp-f100": 0.89, "timesvdpp-f100": 0.88,
            "mf-f10": 0.91, "mf-f200": 0.899, "svdpp-f10": 0.90, "svdpp-f200": 0.891,
            "rbm-conditional": 0.905, "knn-interp-on-rbm": 0.89}
    got = dict(ladder_orderings(quiz, "knn-cinematch-plain", mf_rbm=0.894, set_blend=0.873))
    assert list(got.values()) == [True, True, False, None, True, True, True]
    assert "by 0.0060" in list(got)[-2] and "by 8.11%" in list(got)[-1]
    # the shipped proxy is missing: the first chain is not judged; a gain under 0.005 fails
    got = ladder_orderings(quiz, "knn-cinematch-proxy", mf_rbm=0.897, set_blend=0.873)
    assert got[0][1] is None and got[-2][1] is False and got[-1][1] is None
    # no blend: neither is judged; the whole set's blend short of 8% fails
    assert [ok for _, ok in ladder_orderings(quiz, "knn-cinematch-plain")[-2:]] == [None, None]
    assert ladder_orderings(quiz, "knn-cinematch-plain", set_blend=0.875)[-1][1] is False
    # item kNN as the ladder finds it: the set's knn-interp where knn-interp-ge is missing
    quiz["knn-interp"] = quiz.pop("knn-interp-ge")
    assert ladder_orderings(quiz, "knn-cinematch-plain")[0][1] is True
    quiz["knn-interp"] = 0.899  # better than SVD f=100: the chain breaks
    assert ladder_orderings(quiz, "knn-cinematch-plain")[0][1] is False


@pytest.fixture
def twin_levers(monkeypatch):
    """scripts/twin_levers.py as a module (its folder on sys.path, as when run)."""
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("twin_levers",
                                                  REPO / "scripts" / "twin_levers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_twin_levers_reads_law_fields_with_their_types(twin_levers):
    """scripts/twin_levers.py overrides law 2's fields by name, typed as the field."""
    mod = twin_levers
    got = mod.parse_overrides(["factor_decay=0.5", "n_factors=64"])
    assert got == {"factor_decay": 0.5, "n_factors": 64}
    assert isinstance(got["n_factors"], int)
    # Values read as TOML, as `prize train --set` reads them: a switch is true or false
    # (bool("false") would be True), and a value of the wrong type is refused.
    assert mod.parse_overrides(["item_scale_weighted=false"]) == {"item_scale_weighted": False}
    assert mod.parse_overrides(["item_scale_weighted=true"]) == {"item_scale_weighted": True}
    assert isinstance(mod.parse_overrides(["gamma=1"])["gamma"], float)
    for bad in (["item_scale_weighted=yes please"], ["n_factors=1.5"]):
        with pytest.raises(SystemExit, match="SynthModel"):
            mod.parse_overrides(bad)
    for bad in (["law=3"], ["no_such_field=1"], ["gamma"]):
        with pytest.raises(SystemExit, match="FIELD=VALUE"):
            mod.parse_overrides(bad)


def test_twin_levers_trains_the_residual_rung_after_its_base(twin_levers):
    """``--residual`` adds kNN on the residuals of MF f = 100, after that MF, which then
    keeps its training predictions (as bench_twin.py pins it); without it, no MF keeps them.
    ``--f200`` adds the f = 200 rungs, each after its f = 100."""
    mod = twin_levers
    lower = {*mod.LOWER_RUNGS, "knn-cinematch-proxy"}  # with the default reference
    plain = mod.chosen_specs()
    assert [s.name for s in plain] == [n for n in [s.name for s in mod.chosen_specs(
        upper=True)] if n in lower]
    assert set(s.name for s in plain) == lower
    twin = {s.name for s in mod.chosen_specs(reference="knn-cinematch-plain")}
    assert twin == set(mod.LOWER_RUNGS) | {"knn-cinematch-plain"}
    assert not any(s.keep_train or s.residuals_of for s in plain)
    res = mod.chosen_specs(residual=True)
    names = [s.name for s in res]
    knn = res[names.index("knn-interp-on-mf-f100")]
    assert knn.residuals_of == "mf-f100" and names.index("mf-f100") < names.index(knn.name)
    assert [s.name for s in res if s.keep_train] == ["mf-f100"]
    assert set(names) == lower | set(mod.RESIDUAL_RUNGS)
    # --f200 adds the f = 200 rungs of the families trained, each after its f = 100.
    assert {s.name for s in mod.chosen_specs(f200=True)} == lower | set(mod.F200_RUNGS)
    both = [s.name for s in mod.chosen_specs(upper=True, f200=True)]
    assert set(both) >= {"mf-f200", "svdpp-f200", "timesvdpp-f200"}
    assert all(both.index(n.replace("200", "100")) < both.index(n) for n in both
               if n.endswith("-f200"))


def test_twin_ladder_pins_the_threads_of_its_mf_rungs(twin_levers):
    """Every SVD rung of bench_twin.py pins its DSGD blocks: the default (one per core)
    sets the order SGD visits a user's ratings in, so the ladder would depend on the
    machine (docs/twin.md: +5.25/+4.46/+3.40 points at T = 1/2/8 on medium-lite)."""
    from prize.models import make_predictor

    mf = [s for s in twin_levers.chosen_specs(upper=True, residual=True) if s.family == "mf"]
    assert {s.name for s in mf} >= {"mf-f10", "mf-f100"}
    for s in mf:
        model, _ = make_predictor(s.family, s.config, s.set)
        assert model.config.threads == 2, (s.name, s.config, s.set)


def test_progress2007_holds_the_rungs_bench_twin_measures(twin_levers):
    """Issue 17 is checked with bench_twin.py and with the progress2007 set: the set holds a
    predictor for every rung of the report's ladder, under the name the ladder looks up
    first, and bench_twin.py trains those same entries (its only additions: the RBM's
    device, and the training predictions of the two bases of a residual rung)."""
    import bench_twin  # on sys.path through the twin_levers fixture

    from prize.config import to_dict
    from prize.leaderboard.report import LADDER
    from prize.models import make_predictor
    from prize.runs.sets import load_set

    held = {s.name: s for s in load_set("progress2007").predictors}
    for rung, names, *_ in LADDER:
        assert names == ("blend",) or names[0] in held, rung
        # pinned: a rung never follows its family's default, which gets retuned (issue 15)
        assert names == ("blend",) or held[names[0]].config not in (None, "default"), rung

    def resolved(s):
        model, _ = make_predictor(s.family, s.config, s.set)
        return s.family, model.name, to_dict(model.config), s.residuals_of

    rungs = [s for s in bench_twin.specs("cpu", None) if s.name not in bench_twin.REFERENCES]
    assert {s.name for s in rungs} == set(bench_twin.RUNGS)
    for s in rungs:
        assert resolved(s) == resolved(held[s.name]), s.name
        assert not s.keep_train or held[s.name].keep_train, s.name
    assert {s.name for s in rungs if s.keep_train} == {"mf-f100", "rbm-conditional"}


def test_ladder_factor_entries_start_with_the_same_initial_interaction():
    """progress2007's factor entries on the ``ladder`` configs start their tastes at an SD
    that shrinks like f^(-1/4), so that the initial p_u^T q_i (variance f SD^4) is as large
    at every f as at f = 10 (docs/twin.md, "The tastes' initial scale"): at a fixed SD the
    factors a light user never trains stay noise, more of it the larger f, and the f = 100
    -> 200 steps tied or went back."""
    from prize.models import make_predictor
    from prize.runs.sets import load_set

    by_family: dict[str, dict[int, float]] = {}
    for s in load_set("progress2007").predictors:
        if s.config != "ladder" or s.family not in ("mf", "svdpp", "timesvdpp"):
            continue
        c = make_predictor(s.family, s.config, s.set)[0].config
        if c.n_factors > 0:
            by_family.setdefault(s.family, {})[c.n_factors] = c.n_factors * c.init_std ** 4
    assert set(by_family) == {"mf", "svdpp", "timesvdpp"}
    for family, var in by_family.items():
        assert set(var) >= {10, 100, 200}, family
        for f, v in var.items():
            assert v == pytest.approx(var[10], rel=0.01), (family, f)


def test_the_time_aware_rung_is_korens_baseline(twin_levers):
    """The rung whose published figure is Koren's time-aware baseline (0.9555, with
    c_u(t)) is that model: timeSVD++ with no factors and no frequency biases, every time
    term of his baseline learning (twin_levers.TIME_RATES: the films' bins, the users'
    drift, the day offsets and both parts of c_u(t)); Bell & Koren's global effects are
    only the fallback."""
    from prize.leaderboard.report import LADDER
    from prize.models import make_predictor
    from prize.runs.sets import load_set

    names = {rung: names for rung, names, *_ in LADDER}["time-aware baseline"]
    assert names[-1] == "baseline-global_effects"
    spec = {s.name: s for s in load_set("progress2007").predictors}[names[0]]
    model, _ = make_predictor(spec.family, spec.config, spec.set)
    c = model.config
    assert spec.family == "timesvdpp" and c.n_factors == 0 and not c.frequency
    for rate in ("lr_bias", *twin_levers.TIME_RATES):
        assert getattr(c, rate) > 0, rate


def test_twin_ladder_summary_counts_the_rungs_within_a_point(twin_levers):
    """bench_twin.py's ``--json`` table (both references use it): the rungs as given, the
    orderings as records, and how many rungs lie within a point."""
    import bench_twin  # on sys.path through the twin_levers fixture

    rows = [{"rung": "a", "within_1pp": True}, {"rung": "b", "within_1pp": False},
            {"rung": "c", "within_1pp": True}]
    got = bench_twin.summary(rows, [("x > y", True), ("y > z", None)])
    assert got["rungs"] is rows and got["within_1pp"] == 2
    assert got["orderings"] == [{"ordering": "x > y", "holds": True},
                                {"ordering": "y > z", "holds": None}]


def test_factor_head_flattens_the_first_tastes():
    """``factor_head = h``: the first h tastes carry equal shares of Var(pᵀq), then the
    decay; the shares still sum to sd_interaction²; h = 1 is the plain decay."""
    import dataclasses

    import numpy as np

    from prize.data.synth.law import LAW2, _factor_scales

    flat = _factor_scales(dataclasses.replace(LAW2, factor_head=10)) ** 4
    assert np.allclose(flat[:10], flat[0]) and np.all(np.diff(flat[9:]) < 0)
    assert np.isclose(flat.sum(), LAW2.sd_interaction ** 2)
    plain = _factor_scales(LAW2) ** 4
    k = np.arange(1, LAW2.n_factors + 1)
    assert np.allclose(plain / plain[0], k ** -LAW2.factor_decay)


def test_twin_levers_time_ladders_find_the_planted_time_effects(twin_levers, tmp_path):
    """``--time-ladders``: on ``tiny-twin`` the steps of Koren's time-aware baselines and
    Bell & Koren's user x time(user) effect show the planted drift and day effects; on the
    same data set generated without time effects (no drift, day offsets or film-time walk)
    those steps vanish. Measured: user x time(user) +2.21%, drift +1.02%, day +1.50%
    against +0.00%, -0.04%, +0.25% (b_{u,t} still refines the shrunk user bias on the
    probe's days); the bounds leave a factor of two or more either way."""
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix
    from prize.probes import ProbeStore

    still = dataclasses.replace(synth.PRESETS["tiny-twin"], name="tiny-twin-still",
                                model=dataclasses.replace(synth.PRESETS["tiny-twin"].model,
                                                          sd_alpha=0.0, sigma_day=0.0,
                                                          sd_bin_step=0.0))
    steps = {}
    for preset in ("tiny-twin", still):
        name = getattr(preset, "name", preset)
        home = tmp_path / "home"
        synth.generate(home / "raw" / name, preset=preset, seed=0)
        import_netflix(home / "raw" / name, home / "data" / name, name=name)
        out = twin_levers.time_ladders(open_dataset(name, home), ProbeStore(home / "probes"))
        assert len(out["global_effects"]) == len(twin_levers.GE_NETFLIX)
        assert len(out["koren"]) == len(twin_levers.KOREN_NETFLIX)
        ge, kor = out["global_effects"], out["koren"]
        steps[name] = {"user_time": 1 - ge[3] / ge[2], "drift": 1 - kor[2] / kor[1],
                       "day": 1 - kor[3] / kor[2]}
        print(name, {k: f"{100 * v:+.2f}%" for k, v in steps[name].items()})
    moving, still_ = steps["tiny-twin"], steps["tiny-twin-still"]
    assert moving["user_time"] > 0.01 and moving["drift"] > 0.004 and moving["day"] > 0.0075
    assert still_["user_time"] < 0.001 and still_["drift"] < 0.001 and still_["day"] < 0.005


def test_twin_levers_implicit_check_compares_like_with_like(twin_levers, tmp_path):
    """``--implicit``: SVD (T = 1) and SVD++ (N(u) every known pair, then the training pairs
    only) at f = 100 with the same settings on ``tiny-twin``; the gain is SVD++ less SVD, in
    points of the reference's RMSE, and each fit records the shared settings."""
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix
    from prize.probes import ProbeStore

    home, name = tmp_path / "home", "tiny-twin"
    synth.generate(home / "raw" / name, preset=name, seed=0)
    import_netflix(home / "raw" / name, home / "data" / name, name=name)
    ds, store = open_dataset(name, home), ProbeStore(home / "probes")
    out = twin_levers.implicit_check(ds, store, reference=1.0)
    assert set(out) == {"implicit-svd", "implicit-svdpp-all", "implicit-svdpp-train", "gain"}
    assert all(np.isfinite(v) for v in out.values())
    assert out["gain"] == out["implicit-svdpp-all"] - out["implicit-svd"]
    for n in ("implicit-svd", "implicit-svdpp-all", "implicit-svdpp-train"):
        m = store.meta(name, n)
        assert 100 * (1 - m.quiz_rmse) == pytest.approx(out[n])
        cfg = m.config
        assert (cfg["n_factors"], cfg["lr"], cfg["reg"], cfg["n_epochs"]) == (100, 0.01, 0.05, 40)
    assert store.meta(name, "implicit-svd").config["threads"] == 1
    assert store.meta(name, "implicit-svdpp-train").config["implicit"] == "train"


def _little(model, activity_min=3):
    """A preset small enough for a test (2,000 users, 500 films, 100,000 ratings)."""
    from prize.data.synth.law import Preset

    return Preset("little", n_users=2_000, n_movies=500, n_ratings=100_000,
                  activity_sigma=1.3, activity_min=activity_min, model=model)


def test_choice_signal_grows_with_the_selection_tilt(twin_levers):
    """``choice_signal`` reads the taste in the choice of films with the generator's q's:
    nothing when the choice ignores taste (``gamma`` 0), more as the tilt grows, the first
    (strongest) factor read best. At tiny-twin's sizes under law 5 measured r2 0.000 /
    0.048 / 0.213 at gamma 0 / 0.4 / 1.5, the first factor's 0.12 / 0.45 at 0.4 / 1.5."""
    from prize.data.synth.law import LAW5

    def signal(gamma):
        preset = _little(dataclasses.replace(LAW5, gamma=gamma))
        return twin_levers.choice_signal(preset, seed=0)

    none, weak, strong = signal(0.0), signal(0.4), signal(1.5)
    assert none["r2"] < 0.01 and max(none["r2_factors"]) < 0.01  # slack: sampling noise
    assert none["r2"] < weak["r2"] - 0.02 < strong["r2"] - 0.1
    assert strong["r2_factors"][0] > 0.3 and strong["r2_factors"][0] == max(
        strong["r2_factors"])
    assert len(strong["r2_factors"]) == 5


def test_law6_choice_informs_without_concentrating(twin_levers):
    """Law 6 turns the taste that steers the choice away from the one that moves the stars:
    at law 6's tilt the choice still tells the tastes (``choice_signal`` reads them with the
    generator's v's), but the films a user picks are no likelier to please them. The same
    tilt on the stars' own tastes (``choice_turn`` 0, law 5's way) puts the mean taste term
    of the chosen films well above 0; turned, it stays near 0. Measured: +0.328 against
    -0.009 SDs (per-rating SE 0.003), and r2 0.213 against 0.215. With law 6's own share
    of the choice from the stars' taste (0.3): -0.003 SDs and r2 0.054."""
    from prize.data.synth.law import LAW6, simulate

    def run(turn, share=1.0):
        preset = _little(dataclasses.replace(LAW6, choice_turn=turn, choice_taste_share=share))
        syn = simulate(preset, seed=0)
        P, Q = syn.state.P, syn.state.Q
        x = np.einsum("nk,nk->n", P[syn.user], Q[syn.item])
        sd = float(np.mean(np.sqrt((P * P) @ (Q * Q).mean(axis=0))))
        return float(x.mean()) / sd, twin_levers.choice_signal(preset, seed=0)["r2"]

    straight, turned = run(0.0), run(LAW6.choice_turn)
    # the mean taste of what was chosen, in SDs of p_u^T q_i over films
    assert straight[0] > 0.2
    assert abs(turned[0]) < 0.05
    # the choice carries the tastes either way (law 5's tilt, 0.4, read 0.048 here)
    assert turned[1] > 0.15 and straight[1] > 0.15
    # law 6 itself: a taste of its own steers most of the choice, which then tells less
    law6 = run(LAW6.choice_turn, LAW6.choice_taste_share)
    assert abs(law6[0]) < 0.05
    assert 0.01 < law6[1] < turned[1] - 0.05


def test_choice_ranking_lifts_only_where_the_choice_carries_taste(twin_levers, tmp_path):
    """``twin_levers.choice_ranking``: EASE, learning who-rated-what, ranks each user's
    held-out films no better than popularity when the choice ignores taste (``gamma`` 0),
    and clearly better at law 6's tilt. Measured at these sizes: x0.98 against x1.35 (law 5:
    x1.01; law 6 with the whole choice steered by the stars' taste: x1.36)."""
    from prize.data.dataset import open_dataset
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate
    from prize.data.synth.law import LAW6

    def lift(gamma):
        name = f"g{gamma:g}"
        preset = _little(dataclasses.replace(LAW6, gamma=gamma), activity_min=8)
        generate(tmp_path / "raw" / name, preset=preset, seed=0)
        import_netflix(tmp_path / "raw" / name, tmp_path / "data" / name, name=name)
        return twin_levers.choice_ranking(open_dataset(tmp_path / "data" / name))["lift"]

    none, law6 = lift(0.0), lift(LAW6.gamma)
    # 2,000 users: an NDCG@20 is known to a few per cent (slack 0.1 on the ratio)
    assert abs(none - 1) < 0.1
    assert law6 > none + 0.3


def _bench_table(title, within, pcts, ref):
    """A ``bench_twin.py --json`` table with two rungs (Netflix +4.50 and +5.59)."""
    rungs = [{"rung": rung, "netflix_pct": net, "twin_pct": twin, "distance": twin - net,
              "within_1pp": abs(twin - net) <= 1.0}
             for (rung, net), twin in zip((("item kNN", 4.50), ("kNN on MF residuals", 5.59)),
                                          pcts, strict=True)]
    return {"title": title, "reference": "knn-cinematch-plain", "reference_quiz_rmse": ref,
            "oracle_quiz_rmse": 0.64, "rungs": rungs, "within_1pp": within,
            "orderings": [{"ordering": "a", "holds": True}, {"ordering": "b", "holds": False}],
            "seconds": {"total": 1800.0}}


def test_bench_twin_summarize_puts_runs_side_by_side(twin_levers, tmp_path):
    """``bench_twin.py --summarize A.json B.json``: one column per run (labelled by the seed
    in its title), each rung's mean, mean distance from Netflix's and spread; a run more
    than a point away is marked; nothing is trained."""
    import bench_twin  # on sys.path through the twin_levers fixture

    a = _bench_table("medium (law 9, seed 3, noise 1.0), 2026-12-07", 2, (4.90, 5.10), 0.92)
    b = _bench_table("medium (law 9, seed 4, noise 1.0), 2026-12-07", 1, (5.30, 4.40), 0.91)
    lines, out = bench_twin.summarize([a, b], [bench_twin.run_label(a, "x.json"),
                                               bench_twin.run_label(b, "y.json")])
    assert lines[0].startswith("| rung | Netflix | seed 3 | seed 4 | mean")
    knn, mf = out["rungs"]
    assert knn["mean"] == pytest.approx(5.10) and knn["spread"] == pytest.approx(0.40)
    assert knn["mean_distance"] == pytest.approx(0.60) and knn["within_1pp"] == 2
    assert mf["within_1pp"] == 1 and mf["spread"] == pytest.approx(0.70)
    row = next(line for line in lines if line.startswith("| kNN on MF residuals"))
    assert "+4.40 ✗" in row and "+5.10 |" in row
    assert [r["within_1pp"] for r in out["runs"]] == [2, 1]
    assert any(line.startswith("| rungs within a point | | 2/2 | 1/2 | 3/4") for line in lines)
    assert bench_twin.run_label({"title": "no seed"}, "/x/run7.json") == "run7"
    # the same seed twice (under two laws, say): the files tell the columns apart
    assert bench_twin.run_labels([a, a], ["l8.json", "l9.json"]) == ["seed 3 (l8.json)",
                                                                      "seed 3 (l9.json)"]
    # from the command line, on files, as JSON
    paths = []
    for name, t in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(t))
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_twin.py"),
                          "--summarize", *map(str, paths), "--json",
                          "--out", str(tmp_path / "t.md")],
                         capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert [r["label"] for r in got["runs"]] == ["seed 3", "seed 4"]
    assert (tmp_path / "t.md").read_text().splitlines()[0] == lines[0]
