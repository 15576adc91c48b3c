"""Tests of the synthetic Netflix generator (prize.data.synth) and its numba kernels.

The tiny preset is generated once per module (about 100k ratings, a second or two once
the kernels are compiled); the files are read back with small independent parsers.
"""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from prize.data import synth
from prize.data.synth import _kernels as K

TINY = synth.PRESETS["tiny"]
# For the tests of plumbing (determinism, atomic writes, noise_scale): 12k ratings keep
# them quick, also under NUMBA_DISABLE_JIT=1 where the kernels run as plain Python.
MICRO = dataclasses.replace(TINY, name="micro", n_users=300, n_movies=120, n_ratings=12_000)


# ---------------------------------------------------------------- fixtures and parsers
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    synth.generate(out, preset="tiny", seed=0)
    return out


@pytest.fixture(scope="module")
def tiny() -> synth.Synthesis:
    return synth.simulate("tiny", seed=0)


def _blocks(path: Path):
    """Yield ``(movie_id, line)`` for every non-header line of a Netflix block file."""
    movie = None
    for line in path.read_bytes().decode("ascii").split("\n"):
        if not line:
            continue
        if line.endswith(":"):
            movie = int(line[:-1])
        else:
            yield movie, line


@pytest.fixture(scope="module")
def files(tiny_dir):
    """The tiny data set read back from its files with plain Python."""
    training = {}
    for path in sorted((tiny_dir / "training_set").iterdir()):
        lines = path.read_bytes().decode("ascii").split("\n")
        assert lines[-1] == "" and all(lines[:-1]), f"{path.name}: blank line or no final LF"
        assert lines[0] == f"{int(path.stem[3:])}:"
        assert len(lines) >= 3, f"{path.name} has no rating"
        for line in lines[1:-1]:
            cid, r, date = line.split(",")
            key = (int(cid), int(path.stem[3:]))
            assert key not in training, f"duplicate pair {key}"
            training[key] = (int(r), date)
    probe = [(int(c), m) for m, c in _blocks(tiny_dir / "probe.txt")]
    qualifying = [(m, *line.split(",")) for m, line in _blocks(tiny_dir / "qualifying.txt")]
    truth = [(m, *line.split(",")) for m, line in _blocks(tiny_dir / "qualifying_truth.txt")]
    return {"training": training, "probe": probe, "qualifying": qualifying, "truth": truth,
            "json": json.loads((tiny_dir / "synth.json").read_text())}


def _sha256_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- files and formats
def test_layout(tiny_dir):
    names = sorted(p.name for p in (tiny_dir / "training_set").iterdir())
    assert names == [f"mv_{i:07d}.txt" for i in range(1, TINY.n_movies + 1)]
    for name in ("probe.txt", "qualifying.txt", "qualifying_truth.txt", "movie_titles.txt",
                 "synth.json"):
        assert (tiny_dir / name).is_file()
    assert not list(tiny_dir.parent.glob(".tiny.tmp-*")), "temporary folder left behind"
    for name in ("probe.txt", "qualifying.txt", "qualifying_truth.txt"):
        assert b"\r" not in (tiny_dir / name).read_bytes()


def test_training_lines(files):
    ratings = np.array([r for r, _ in files["training"].values()])
    assert set(np.unique(ratings)) == {1, 2, 3, 4, 5}
    dates = np.array([d for _, d in files["training"].values()], dtype="datetime64[D]")
    assert dates.min() >= np.datetime64("1999-12-31")
    assert dates.max() <= np.datetime64("2005-12-31")
    cids = {c for c, _ in files["training"]}
    assert len(cids) == TINY.n_users
    assert min(cids) >= 1 and max(cids) <= synth.NETFLIX_MAX_CUSTOMER_ID


def test_probe_inside_training_qualifying_outside(files):
    training = files["training"]
    assert all(pair in training for pair in files["probe"])
    assert len(set(files["probe"])) == len(files["probe"])
    qual = [(int(c), m) for m, c, _ in files["qualifying"]]
    assert not any(pair in training for pair in qual)
    assert len(set(qual)) == len(qual)


def test_truth_aligned_with_qualifying(files):
    qual, truth = files["qualifying"], files["truth"]
    assert len(qual) == len(truth)
    for (m, c, d), (tm, tc, td, r, s) in zip(qual, truth, strict=True):
        assert (m, c, d) == (tm, tc, td)
        assert r in "12345" and len(r) == 1
        assert s in ("quiz", "test")


def test_counts_in_json(files):
    meta = files["json"]
    assert meta["format"] == "prize-synth" and meta["version"] == 1
    assert meta["preset"] == "tiny" and meta["seed"] == 0 and meta["noise_scale"] == 1.0
    n_quiz = sum(t[4] == "quiz" for t in files["truth"])
    assert meta["counts"] == {
        "ratings": len(files["training"]), "users": TINY.n_users, "movies": TINY.n_movies,
        "probe": len(files["probe"]), "qualifying": len(files["qualifying"]),
        "quiz": n_quiz, "test": len(files["truth"]) - n_quiz}
    for key in ("oracle_rmse", "expected_oracle_rmse"):
        assert set(meta[key]) == {"probe", "quiz", "test"}
    assert meta["params"]["n_users"] == TINY.n_users and "model" in meta["params"]


def test_holdout_is_most_recent_and_sized_like_netflix(files):
    """Each user's hold-out (probe + qualifying) is its min(9, n // 2) latest ratings."""
    probe = set(files["probe"])
    train_days, hold_days = {}, {}
    for (c, m), (_, d) in files["training"].items():
        (hold_days if (c, m) in probe else train_days).setdefault(c, []).append(d)
    for _, c, d in files["qualifying"]:
        hold_days.setdefault(int(c), []).append(d)
    assert set(hold_days) <= set(train_days), "a user with no training-only rating"
    for c, days in train_days.items():
        held = hold_days.get(c, [])
        n = len(days) + len(held)
        assert len(held) == min(synth.HOLDOUT_PER_USER, n // 2)
        if held:  # ISO dates compare as strings
            assert min(held) >= max(days), f"customer {c}: a hold-out rating is not recent"


def test_holdout_thirds(files):
    n_probe = len(files["probe"])
    n_quiz = sum(t[4] == "quiz" for t in files["truth"])
    n_test = len(files["truth"]) - n_quiz
    total = n_probe + n_quiz + n_test
    for n in (n_probe, n_quiz, n_test):
        assert abs(n - total / 3) <= 1


def test_movie_titles(tiny_dir):
    text = (tiny_dir / "movie_titles.txt").read_bytes().decode("latin-1")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == TINY.n_movies + 1
    rows = [line.split(",", 2) for line in lines[:-1]]
    assert [int(r[0]) for r in rows] == list(range(1, TINY.n_movies + 1))
    years = [r[1] for r in rows]
    assert "NULL" in years
    assert all(y == "NULL" or 1890 <= int(y) <= 2005 for y in years)
    assert any("," in r[2] for r in rows), "no title with a comma"
    assert any(max(map(ord, r[2])) > 127 for r in rows), "no latin-1 letter"
    with pytest.raises(UnicodeDecodeError):
        (tiny_dir / "movie_titles.txt").read_bytes().decode("utf-8")


def test_files_match_the_simulation(files, tiny):
    """The in-memory Synthesis (used for the oracle checks) is what the files hold."""
    cid = tiny.customer_id
    probe = tiny.rows("probe")
    assert sorted(files["probe"]) == sorted(zip((cid[tiny.user[probe]]).tolist(),
                                                (tiny.item[probe] + 1).tolist(), strict=True))
    for r in probe[:200]:
        assert files["training"][(int(cid[tiny.user[r]]), int(tiny.item[r]) + 1)][0] == \
            tiny.rating[r]
    got, expected = tiny.oracle()
    assert files["json"]["oracle_rmse"] == pytest.approx(got, rel=1e-12)
    assert files["json"]["expected_oracle_rmse"] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- determinism, atomicity
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    synth.generate(tmp_path / "first", preset=MICRO, seed=0)
    synth.generate(tmp_path / "again", preset=MICRO, seed=0)
    first = _sha256_tree(tmp_path / "first")
    assert _sha256_tree(tmp_path / "again") == first
    synth.generate(tmp_path / "other", preset=MICRO, seed=1)
    other = _sha256_tree(tmp_path / "other")
    assert other.keys() == first.keys()
    assert other["probe.txt"] != first["probe.txt"]
    assert other["training_set/mv_0000001.txt"] != first["training_set/mv_0000001.txt"]


def test_existing_output_and_overwrite(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="exists"):
        synth.generate(out, preset=MICRO)
    assert (out / "keep.txt").read_text() == "old"
    info = synth.generate(out, preset=MICRO, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert json.loads((out / "synth.json").read_text()) == info
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(syn, folder, **kwargs):
        (Path(folder) / "probe.txt").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(synth.files, "write_netflix_layout", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        synth.generate(tmp_path / "data", preset=MICRO)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        synth.generate(tmp_path / "data", preset=MICRO, overwrite=True)
    assert (tmp_path / "data" / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown preset"):
        synth.simulate("huge")
    with pytest.raises(ValueError, match="noise_scale"):
        synth.simulate("tiny", noise_scale=-1.0)
    with pytest.raises(ValueError, match="seed"):
        synth.simulate("tiny", seed=-3)


# ---------------------------------------------------------------- shape of the data
def test_shape_statistics(tiny):
    training = tiny.split <= synth.PROBE
    u, i = tiny.user[training], tiny.item[training].astype(np.int64)
    r = tiny.rating[training].astype(np.float64)
    assert abs(r.mean() - 3.60) < 0.10
    n_u = np.bincount(u, minlength=tiny.n_users)
    n_i = np.bincount(i, minlength=tiny.n_movies)
    user_means = np.bincount(u, r, minlength=tiny.n_users) / np.maximum(n_u, 1)
    movie_means = np.bincount(i, r, minlength=tiny.n_movies) / np.maximum(n_i, 1)
    # Netflix: 0.48 and 0.53 on users / films with enough ratings; 50 ratings leave a
    # sampling SD of about 1.1 / sqrt(50) = 0.16 per mean, which inflates the spread by
    # about 0.025, so +-0.06 covers that and seed-to-seed variation.
    assert abs(user_means[n_u >= 50].std() - 0.48) < 0.06
    assert abs(movie_means[n_i >= 50].std() - 0.53) < 0.06
    assert n_u.max() > 5 * np.median(n_u)
    assert n_i.min() >= 1
    top = np.sort(n_i)[::-1][: round(0.06 * tiny.n_movies)]
    assert top.sum() > 0.2 * n_i.sum()  # the head of the curve (saturated at tiny size)
    # several ratings per user-day: "frequency" varies
    per_day = np.unique(u.astype(np.int64) * synth.N_DAYS + tiny.day[training],
                        return_counts=True)[1]
    assert per_day.mean() > 2 and per_day.max() > 50


def test_rows_sorted_by_user_and_day(tiny):
    key = tiny.user.astype(np.int64) * synth.N_DAYS + tiny.day
    assert np.all(np.diff(key) >= 0)


def test_implicit_signal(tiny):
    """Users pick films that suit their tastes, so who-rated-what is informative: over the
    rated pairs p_u^T q_i is well above its mean over all pairs (zero)."""
    P, Q = tiny.state.P, tiny.state.Q
    x_rated = np.einsum("nf,nf->n", P[tiny.user], Q[tiny.item])
    x_all = P @ Q.T
    assert abs(x_all.mean()) < 0.02
    assert x_rated.mean() > 0.05 + x_all.mean()
    # and the films a user did not rate suit them less than the ones they did
    assert x_rated.mean() > 5 * x_rated.std() / math.sqrt(len(x_rated))


# ---------------------------------------------------------------- the oracle
@pytest.mark.parametrize("which", ["probe", "quiz", "test"])
def test_oracle_matches_closed_form(tiny, which):
    """The realised MSE of E[r|s,sigma] is the mean of n independent (r_i - E_i)^2 with
    mean Var_i and variance m4_i - Var_i^2, so its sampling SD is sqrt(sum(m4 - var^2))/n;
    allow 4 SD."""
    s, sigma, r = tiny.latent(which)
    pmf = synth.rounded_clipped_pmf(s, sigma)
    k = np.arange(1, 6)
    mean, var = synth.rounded_clipped_moments(s, sigma)
    m4 = np.sum(pmf * (k - mean[:, None]) ** 4, axis=1)
    sd = math.sqrt(np.sum(m4 - var ** 2)) / len(s)
    got, expected = synth.oracle_rmse(r, s, sigma)
    assert abs(got ** 2 - expected ** 2) < 4 * sd
    assert 0.6 < expected < 1.0


def test_oracle_monte_carlo(tiny):
    """Resample the noise 200 times for the same latent scores of the probe pairs."""
    s, sigma, _ = tiny.latent("probe")
    mean, var = synth.rounded_clipped_moments(s, sigma)
    rng = np.random.default_rng(7)
    R = 200
    draws = np.stack([synth.sample_ratings(s, sigma, rng) for _ in range(R)]).astype(float)
    mc_mean = draws.mean(axis=0)
    n = len(s)
    # the average of (mc_mean - E) over pairs has SD sqrt(mean(var) / (R n))
    assert abs(np.mean(mc_mean - mean)) < 4 * math.sqrt(var.mean() / (R * n))
    # per pair the error has variance var_i / R; on average:
    assert np.mean((mc_mean - mean) ** 2) == pytest.approx(var.mean() / R, rel=0.05)
    mc_rmse = math.sqrt(np.mean((draws - mean) ** 2))
    expected = math.sqrt(var.mean())
    assert mc_rmse == pytest.approx(expected, rel=0.005)


@pytest.mark.parametrize("s, sigma", [
    (3.2, 0.8), (1.1, 1.5), (4.9, 0.3), (-4.0, 0.5), (12.0, 2.0), (2.5, 1e-9), (3.7, 1e-4),
    (0.0, 6.0), (4.5, 0.05),
])
def test_moments_against_brute_force(s, sigma):
    rng = np.random.default_rng(11)
    n = 400_000
    r = np.clip(np.floor(s + sigma * rng.standard_normal(n) + 0.5), 1, 5)
    mean, var = synth.rounded_clipped_moments(s, sigma)
    pmf = synth.rounded_clipped_pmf(s, sigma)
    m4 = float(np.sum(pmf * (np.arange(1, 6) - mean) ** 4))
    # sampling SDs of the mean and of the variance of n draws
    assert abs(r.mean() - mean) < 4 * math.sqrt(var / n) + 1e-12
    # (+ 4 / n: the O(1/n^2) variance term, all there is for a 50/50 two-point law)
    assert abs(r.var() - var) < 4 * math.sqrt(max(m4 - var ** 2, 0.0) / n) + 4 / n
    assert pmf.sum() == pytest.approx(1.0)
    freq = np.bincount(r.astype(int), minlength=6)[1:] / n
    assert np.all(np.abs(freq - pmf) < 4 * np.sqrt(pmf * (1 - pmf) / n) + 1e-9)


def test_moments_limits():
    # sigma = 0: plain rounding and clipping, half-way values round up
    s = np.array([-3.0, 1.49, 1.5, 2.2, 4.5, 9.0])
    mean, var = synth.rounded_clipped_moments(s, 0.0)
    assert mean.tolist() == [1.0, 1.0, 2.0, 2.0, 5.0, 5.0]
    assert var.tolist() == [0.0] * 6
    # far outside the scale the rating is pinned to 1 or 5
    mean, var = synth.rounded_clipped_moments(np.array([-50.0, 60.0]), 1.0)
    assert mean.tolist() == [1.0, 5.0] and np.all(var < 1e-300)
    # huge noise: the two ends split the mass
    mean, _ = synth.rounded_clipped_moments(3.0, 1e6)
    assert mean == pytest.approx(3.0, abs=1e-5)
    with pytest.raises(ValueError):
        synth.rounded_clipped_moments(3.0, -1.0)


def test_no_simple_predictor_beats_the_oracle(tiny):
    train = tiny.split == synth.TRAIN
    probe = tiny.split == synth.PROBE
    u, i, r = tiny.user[train], tiny.item[train].astype(np.int64), tiny.rating[train] * 1.0
    pu, pi, pr = tiny.user[probe], tiny.item[probe].astype(np.int64), tiny.rating[probe] * 1.0
    nu = np.bincount(u, minlength=tiny.n_users)
    ni = np.bincount(i, minlength=tiny.n_movies)
    mu = r.mean()

    def rmse(pred):
        return math.sqrt(np.mean((pr - np.clip(pred, 1, 5)) ** 2))

    user_mean = np.bincount(u, r, tiny.n_users) / np.maximum(nu, 1)
    movie_mean = np.bincount(i, r, tiny.n_movies) / np.maximum(ni, 1)
    bu, bi = np.zeros(tiny.n_users), np.zeros(tiny.n_movies)
    for _ in range(10):  # alternating ridge fits of r = mu + b_u + b_i
        bi = np.bincount(i, r - mu - bu[u], tiny.n_movies) / (ni + 25.0)
        bu = np.bincount(u, r - mu - bi[i], tiny.n_users) / (nu + 10.0)
    scores = {
        "global mean": rmse(np.full(len(pr), mu)),
        "user mean": rmse(np.where(nu[pu] > 0, user_mean[pu], mu)),
        "movie mean": rmse(np.where(ni[pi] > 0, movie_mean[pi], mu)),
        "biases": rmse(mu + bu[pu] + bi[pi]),
    }
    oracle = tiny.oracle()[0]["probe"]
    assert scores["biases"] < scores["global mean"]
    for name, value in scores.items():
        assert value > oracle, f"{name} ({value:.4f}) beats the oracle ({oracle:.4f})"


def test_noise_scale():
    quiet, base, loud = (synth.simulate(MICRO, seed=0, noise_scale=x) for x in (0.5, 1.0, 2.0))
    # only the noise changes: same films, days and latent scores
    for name in ("item", "day", "score", "split"):
        assert np.array_equal(getattr(quiet, name), getattr(base, name))
        assert np.array_equal(getattr(loud, name), getattr(base, name))
    assert not np.array_equal(quiet.rating, loud.rating)
    for which in ("probe", "quiz", "test"):
        got = [x.oracle()[0][which] for x in (quiet, base, loud)]
        expected = [x.oracle()[1][which] for x in (quiet, base, loud)]
        assert got[0] < got[1] < got[2]
        assert expected[0] < expected[1] < expected[2]


# ---------------------------------------------------------------- netflix sizes (cheap part)
def test_netflix_preset_sizes_add_up():
    p = synth.PRESETS["netflix"]
    assert p.n_users == 480_189 and p.n_movies == 17_770
    assert p.n_training == 100_480_507
    assert p.n_quiz + p.n_test == 2_817_131
    rng = np.random.default_rng(0)
    n = synth.law._activity(rng, p)
    assert n.sum() == 100_480_507 + 2_817_131
    assert 80 <= np.median(n) <= 110 and n.max() > 10_000 and n.min() >= 1
    h, sizes = synth.law._holdout(rng, p, n)
    assert sizes == (1_408_395, 1_408_342, 1_408_789)
    assert h.sum() == sum(sizes)
    assert np.all(h <= np.minimum(9, n // 2))


@pytest.mark.slow
def test_netflix_preset_generates_exact_counts(tmp_path):
    info = synth.generate(tmp_path / "netflix", preset="netflix", seed=0)
    assert info["counts"] == {"ratings": 100_480_507, "users": 480_189, "movies": 17_770,
                              "probe": 1_408_395, "qualifying": 2_817_131, "quiz": 1_408_342,
                              "test": 1_408_789}
    lines = sum(p.read_bytes().count(b"\n") - 1
                for p in (tmp_path / "netflix" / "training_set").iterdir())
    assert lines == 100_480_507


# ---------------------------------------------------------------- kernels vs twins
_MASK = (1 << 64) - 1


def _mix64_py(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _stream_py(seed, u, n):
    """splitmix64 uniforms of user u, with Python integers."""
    golden = 0x9E3779B97F4A7C15
    state = _mix64_py(seed ^ _mix64_py(((u + 1) * golden) & _MASK))
    out = []
    for _ in range(n):
        state = (state + golden) & _MASK
        out.append(((_mix64_py(state) >> 11) + 0.5) / 2.0 ** 53)
    return out


@pytest.mark.parametrize("seed, u", [(0, 0), (12345, 7), ((1 << 64) - 1, 480_188)])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NUMBA_DISABLE_JIT
def test_random_stream_matches_python_twin(seed, u):
    # a state that comes back to Python is a Python int: hand it back as uint64
    state = K.user_stream(np.uint64(seed), u)
    got = []
    for _ in range(5):
        state, v = K.next_uniform(np.uint64(state))
        got.append(v)
    assert got == _stream_py(seed, u, 5)
    assert all(0.0 < v < 1.0 for v in got)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NUMBA_DISABLE_JIT
def test_normals_are_standard():
    state = K.user_stream(np.uint64(3), 0)
    z = np.empty(100_000)
    for k in range(len(z)):
        state, z[k] = K.next_normal(np.uint64(state))
    assert abs(z.mean()) < 4 / math.sqrt(len(z))
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / len(z))


@pytest.mark.parametrize("p", [
    np.array([1.0, 2.0, 3.0, 4.0]), np.full(7, 0.5), np.array([1e-6, 1.0, 1e-6, 5.0, 0.25]),
    np.random.default_rng(1).lognormal(0, 2, 500),
])
def test_alias_table_encodes_the_distribution(p):
    prob, alias = K.build_alias(p)
    n = len(p)
    implied = prob.copy()
    np.add.at(implied, alias, 1.0 - prob)
    assert np.allclose(implied / n, p / p.sum(), rtol=1e-9, atol=1e-15)
    assert np.all((prob >= 0) & (prob <= 1 + 1e-12))


def test_group_by_key_matches_stable_argsort():
    rng = np.random.default_rng(2)
    key = rng.integers(0, 9, 60).astype(np.int16)
    mask = rng.random(60) < 0.7
    perm, starts = K.group_by_key(key, mask, 10)
    rows = np.flatnonzero(mask)
    assert perm.tolist() == rows[np.argsort(key[rows], kind="stable")].tolist()
    assert starts.tolist() == [0, *np.cumsum(np.bincount(key[rows], minlength=10)).tolist()]
    perm, starts = K.group_by_key(key, np.zeros(60, bool), 10)
    assert len(perm) == 0 and starts.tolist() == [0] * 11


def _format_py(perm, starts, user, cid, rating, day, split, mode):
    dates = [str(synth.FIRST_DAY + d) for d in range(synth.N_DAYS)]
    out = []
    for m in range(len(starts) - 1):
        rows = perm[starts[m]:starts[m + 1]]
        if len(rows):
            out.append(f"{m + 1}:\n")
        for r in rows:
            c, d, s = cid[user[r]], dates[day[r]], "quiz" if split[r] == synth.QUIZ else "test"
            out.append([f"{c},{rating[r]},{d}\n", f"{c}\n", f"{c},{d}\n",
                        f"{c},{d},{rating[r]},{s}\n"][mode])
    return "".join(out).encode("ascii")


@pytest.mark.parametrize("mode", [K.MODE_TRAINING, K.MODE_PROBE, K.MODE_QUALIFYING,
                                  K.MODE_TRUTH])
def test_format_blocks_matches_python_twin(mode):
    rng = np.random.default_rng(mode)
    n = 30
    user = rng.integers(0, 5, n).astype(np.int32)
    cid = np.array([1, 9, 10, 2_649_429, 100_000], np.int32)
    item = rng.integers(0, 12, n).astype(np.int16)
    item[0] = 11
    rating = rng.integers(1, 6, n).astype(np.int8)
    day = rng.integers(0, synth.N_DAYS, n).astype(np.int16)
    day[:2] = [0, synth.N_DAYS - 1]
    split = rng.choice([synth.QUIZ, synth.TEST], n).astype(np.uint8)
    perm, starts = K.group_by_key(item, np.ones(n, bool), 12)
    buf = np.zeros(n * 40 + 12 * 5, np.uint8)
    ends = np.zeros(12, np.int64)
    used = K.format_blocks(perm, starts, 0, 12, user, cid, rating, day, split,
                           synth.files._date_table(), mode, buf, ends)
    expected = _format_py(perm, starts, user, cid, rating, day, split, mode)
    assert bytes(buf[:used]) == expected
    assert ends[-1] == used
    # chunked calls give the same bytes
    a = K.format_blocks(perm, starts, 0, 5, user, cid, rating, day, split,
                        synth.files._date_table(), mode, buf, ends)
    first = bytes(buf[:a])
    b = K.format_blocks(perm, starts, 5, 12, user, cid, rating, day, split,
                        synth.files._date_table(), mode, buf, ends)
    assert first + bytes(buf[:b]) == expected


def test_normal_cdf_matches_math_erf():
    z = np.array([-40.0, -8.5, -1.0, -1e-9, 0.0, 0.3, 2.0, 7.9, 40.0, -np.inf, np.inf])
    expected = [0.5 * math.erfc(-x / math.sqrt(2)) for x in z]
    assert K.normal_cdf(z).tolist() == pytest.approx(expected, rel=1e-15, abs=0)
    assert K.normal_cdf(z.reshape(11, 1)).shape == (11, 1)
    scipy_special = pytest.importorskip("scipy.special")
    assert np.allclose(K.normal_cdf(z[2:9]), scipy_special.ndtr(z[2:9]), rtol=1e-13)


def test_inclusion_probabilities_match_bisection_twin():
    rng = np.random.default_rng(3)
    A = rng.lognormal(0, 0.7, (4, 30))
    w = rng.lognormal(0, 1.5, 30)
    n = np.array([1.0, 5.0, 17.0, 29.0])
    t = np.zeros(4)
    pi = np.empty_like(A)
    K.inclusion_probabilities(A, w, n, t, pi)
    for u in range(4):  # twin: bisection in log t
        lo, hi = -50.0, 50.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.sum(1 - np.exp(-np.exp(mid) * w * A[u])) < n[u]:
                lo = mid
            else:
                hi = mid
        assert t[u] == pytest.approx(math.exp(lo), rel=1e-6)
        assert pi[u].sum() == pytest.approx(n[u], rel=1e-8)


def _small_latent(n_users=3, per_user=10, n_items=40, exact_above=32, seed=0):
    rng = np.random.default_rng(seed)
    f = 3
    offsets = np.arange(n_users + 1, dtype=np.int64) * per_user
    pop = rng.lognormal(0, 1, n_items)
    prob, alias = K.build_alias(pop)
    return synth.law._Latent(
        offsets=offsets, P=rng.normal(0, 0.5, (n_users, f)), cap=np.full(n_users, 0.8),
        start=np.full(n_users, 100, np.int64), stop=np.full(n_users, 400, np.int64),
        n_sess=np.full(n_users, 4, np.int64), b_u=rng.normal(0, 0.5, n_users),
        alpha_u=rng.normal(0, 0.01, n_users), sigma_u=np.full(n_users, 0.8),
        Q=rng.normal(0, 0.5, (n_items, f)), log_pop=np.log(pop), alias_prob=prob,
        alias_idx=alias, b_i=rng.normal(0, 0.5, n_items), b_i_bin=rng.normal(0, 0.1, (n_items, 30)),
        bin_width=74, exact_above=exact_above,
        # families of 4 over the first half of the films (the rest in none)
        family=np.where(np.arange(n_items) < n_items // 2, np.arange(n_items) // 4,
                        -1).astype(np.int32),
        family_seed=np.uint64(7), sigma_family=0.4)


def _run_simulate_users(fn, lat, m, family_tilt, item_scale, Qc=None, Pc=None):
    N = int(lat.offsets[-1])
    item, day = np.empty(N, np.int16), np.empty(N, np.int16)
    score, eps = np.empty(N, np.float32), np.empty(N, np.float32)
    turned = Qc is not None or Pc is not None
    Qc = lat.Q if Qc is None else Qc
    Pc = lat.P if Pc is None else Pc
    with np.errstate(over="ignore"):
        fn(0, 3, np.uint64(99), lat.offsets, lat.P, lat.Q, Pc, Qc, turned, lat.alias_prob,
           lat.alias_idx, lat.log_pop, lat.cap, m.gamma, lat.exact_above, lat.start,
           lat.stop, lat.n_sess, m.first_session_weight, lat.b_u, lat.alpha_u, lat.b_i,
           lat.b_i_bin, lat.bin_width, m.beta, m.sigma_day, lat.family, lat.family_seed,
           lat.sigma_family, family_tilt, item_scale, item, day, score, eps)
    return item, day, score, eps


@pytest.mark.parametrize("exact_above", [32, 0])
@pytest.mark.parametrize("family_tilt", [0.0, 1.5])
@pytest.mark.parametrize("scaled", [False, True])
def test_simulate_users_jit_matches_python(exact_above, family_tilt, scaled):
    """The compiled kernel against its own Python function (NUMBA_DISABLE_JIT semantics:
    uint64 wrap-around, integer division, casts) on 30 ratings from the same start, under
    law 1 (no family tilt), law 2 (the family taste steers the choice) and law 3 (each
    film's taste scale s_i, which the choice does not see)."""
    lat = _small_latent(exact_above=exact_above)
    m = synth.SynthModel()
    scale = (np.exp(0.8 * np.random.default_rng(5).standard_normal(lat.Q.shape[0]))
             if scaled else np.zeros(0))
    # (under NUMBA_DISABLE_JIT=1 there is no py_func: the kernel is Python already)
    outs = [_run_simulate_users(fn, lat, m, family_tilt, scale)
            for fn in (K.simulate_users, getattr(K.simulate_users, "py_func",
                                                 K.simulate_users))]
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)
    item, day, score, eps = outs[0]
    for u in range(3):
        rows = slice(lat.offsets[u], lat.offsets[u + 1])
        assert len(set(item[rows].tolist())) == 10  # distinct films
        assert np.all(np.diff(day[rows]) >= 0)  # sorted by day
        assert np.all((day[rows] >= 100) & (day[rows] <= 400))
        assert len(np.unique(day[rows])) <= 4
    assert np.all(np.isfinite(score)) and np.all(np.isfinite(eps))
    if scaled:
        # the same films, days and noise as without the scale; only the taste term moves,
        # by (s_i - 1) p_u^T q_i
        item0, day0, score0, eps0 = _run_simulate_users(K.simulate_users, lat, m,
                                                        family_tilt, np.zeros(0))
        assert np.array_equal(item, item0) and np.array_equal(day, day0)
        assert np.array_equal(eps, eps0)
        u = np.repeat(np.arange(3), np.diff(lat.offsets[:4]))
        taste = np.einsum("rf,rf->r", lat.P[u], lat.Q[item])
        assert np.allclose(score - score0, (scale[item] - 1) * taste, atol=1e-5)
        assert not np.allclose(score, score0, atol=1e-3)


def test_finish_ratings_matches_numpy_twin():
    rng = np.random.default_rng(4)
    offsets = np.array([0, 7, 7, 20, 31])
    s0 = rng.normal(0, 2, 31).astype(np.float32)
    eps = rng.standard_normal(31).astype(np.float32)
    sigma_u = np.array([0.5, 0.9, 0.0, 1.3])
    score, rating = s0.copy(), np.zeros(31, np.int8)
    K.finish_ratings(offsets, score, eps, sigma_u, 3.4, 1.5, rating)
    s = (s0.astype(np.float64) + 3.4).astype(np.float32)  # the sum in float64, then rounded
    sigma = np.repeat(sigma_u, np.diff(offsets)) * 1.5
    assert np.array_equal(score, s)
    expected = np.clip(np.floor(s.astype(np.float64) + sigma * eps + 0.5), 1, 5)
    assert np.array_equal(rating, expected.astype(np.int8))


@pytest.mark.parametrize("exact_above", [32, 0])
def test_item_sampling_law(exact_above):
    """Inclusion frequencies of 2 films out of 5 against exact successive sampling with
    weights pop_i exp(gamma min(p^T q_i, c)), enumerated; both samplers (rejection and keys)."""
    n_users, k, n_items = 20_000, 2, 5
    lat = _small_latent(n_users=n_users, per_user=k, n_items=n_items, exact_above=exact_above)
    P = np.tile(lat.P[:1], (n_users, 1))
    lat = dataclasses.replace(lat, P=P, n_sess=np.ones(n_users, np.int64))
    m = synth.SynthModel()
    item, _, _, _ = lat.run(m, np.uint64(5))
    w = np.exp(lat.log_pop + m.gamma * np.minimum(lat.Q @ P[0], lat.cap[0]))
    W = w.sum()
    incl = np.zeros(n_items)
    for i in range(n_items):
        for j in range(n_items):
            if i != j:
                pr = w[i] / W * w[j] / (W - w[i])
                incl[i] += pr
                incl[j] += pr
    freq = np.bincount(item.astype(np.int64), minlength=n_items) / n_users
    se = np.sqrt(incl * (1 - incl) / n_users)
    assert np.all(np.abs(freq - incl) < 4 * se), (freq, incl)


# ---------------------------------------------------------------- families
def _without_families(p: synth.Preset) -> synth.Preset:
    return dataclasses.replace(p, model=dataclasses.replace(p.model, sigma_family=0.0))


def test_families_partition_a_share_of_the_films(tiny):
    m = TINY.model
    fam = tiny.state.family
    members = fam >= 0
    assert members.sum() == round(m.family_fraction * TINY.n_movies)
    sizes = np.bincount(fam[members])
    assert sizes.min() >= m.family_min_size
    # the last run takes the remainder, fewer than family_max_size more films
    assert np.all(sizes[:-1] <= m.family_max_size)
    assert sizes[-1] < m.family_max_size + m.family_min_size
    # families are runs of the popularity ranking: within a family the expected counts
    # (pop, calibrated to them) span a narrower range than over random groups
    lp = tiny.state.log_pop
    within = np.mean([np.ptp(lp[fam == f]) for f in range(len(sizes))])
    rng = np.random.default_rng(0)
    random = np.mean([np.ptp(lp[rng.choice(TINY.n_movies, k, replace=False)]) for k in sizes])
    assert within < 0.5 * random


def test_family_effect_is_added_to_the_latent_score_and_nothing_else():
    """With sigma_family = 0 the same seed gives the same films, days and noise; the scores
    (less mu) differ by exactly g_{u,F(i)} = sigma_family z_{u,F}, one draw per (user,
    family), zero outside families."""
    with_f = synth.simulate(MICRO, seed=3)
    without = synth.simulate(_without_families(MICRO), seed=3)
    for name in ("item", "day", "split", "user"):
        assert np.array_equal(getattr(with_f, name), getattr(without, name))
    lat = with_f.state
    assert np.all(without.state.families() == -1)
    g = (with_f.score.astype(np.float64) - with_f.mu) - (without.score - without.mu)
    fam = lat.family[with_f.item]
    assert np.all(np.abs(g[fam < 0]) < 1e-5)
    expected = np.array([lat.g(int(u), int(i)) for u, i in zip(with_f.user, with_f.item,
                                                                strict=True)])
    np.testing.assert_allclose(g, expected, atol=1e-5)
    # one value per (user, family) pair
    key = with_f.user[fam >= 0].astype(np.int64) * (fam.max() + 1) + fam[fam >= 0]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    np.testing.assert_allclose(g[fam >= 0], g[fam >= 0][first][inverse], atol=2e-5)


def test_family_draws_are_standard_normal():
    with np.errstate(over="ignore"):
        z = np.array([K.family_effect(np.uint64(11), u, f) for u in range(400)
                      for f in range(50)])
    assert abs(z.mean()) < 4 / math.sqrt(len(z))
    assert abs(z.std() - 1) < 4 / math.sqrt(2 * len(z))
    # draws of one user across families, and of one family across users, are uncorrelated
    zz = z.reshape(400, 50)
    assert abs(np.corrcoef(zz[:, 0], zz[:, 1])[0, 1]) < 4 / math.sqrt(400)
    assert abs(np.corrcoef(zz[0], zz[1])[0, 1]) < 4 / math.sqrt(50) + 0.05


def test_the_oracle_includes_the_family_effect(tiny):
    """The oracle is E[r | the true latent state]: dropping g_{u,F} from s must cost
    accuracy on every set, by about sigma_family^2 times the share of family ratings."""
    lat = tiny.state
    for which in ("probe", "quiz"):
        rows = tiny.rows(which)
        s, sigma, r = tiny.latent(which)
        g = np.array([lat.g(int(u), int(i)) for u, i in zip(tiny.user[rows],
                                                              tiny.item[rows], strict=True)])
        assert np.std(g[lat.family[tiny.item[rows]] >= 0]) > 0.5 * TINY.model.sigma_family
        with_g, _ = synth.oracle_rmse(r, s, sigma)
        without_g, _ = synth.oracle_rmse(r, s - g, sigma)
        assert with_g < without_g, which


@pytest.mark.parametrize("own_user_taste", [False, True])
def test_turned_choice_picks_by_w_and_v_and_scores_by_p_and_q(own_user_taste):
    """Law 6: the kernel chooses the films by ``w_u^T v_i`` (``Pc``, ``Qc``) and scores them
    by ``p_u^T q_i``: the same films, days and noise as an unturned run whose ``P`` and
    ``Q`` are ``Pc`` and ``Qc``, with the taste term of ``P`` and ``Q`` in the scores; the
    compiled kernel against its Python."""
    lat = _small_latent()
    m = synth.SynthModel()
    rng = np.random.default_rng(3)
    Qc = rng.normal(0, 0.5, lat.Q.shape)
    Pc = rng.normal(0, 0.5, lat.P.shape) if own_user_taste else None
    outs = [_run_simulate_users(fn, lat, m, 0.0, np.zeros(0), Qc=Qc, Pc=Pc)
            for fn in (K.simulate_users, getattr(K.simulate_users, "py_func",
                                                 K.simulate_users))]
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)
    item, day, score, eps = outs[0]
    as_choice = dataclasses.replace(lat, Q=Qc, P=lat.P if Pc is None else Pc)
    item0, day0, score0, eps0 = _run_simulate_users(K.simulate_users, as_choice, m, 0.0,
                                                    np.zeros(0))
    assert np.array_equal(item, item0) and np.array_equal(day, day0)
    assert np.array_equal(eps, eps0)
    u = np.repeat(np.arange(3), np.diff(lat.offsets[:4]))
    diff = (np.einsum("rf,rf->r", lat.P[u], lat.Q[item])
            - np.einsum("rf,rf->r", as_choice.P[u], Qc[item]))
    assert np.allclose(score - score0, diff, atol=1e-5)
    assert not np.allclose(score, score0, atol=1e-3)


@pytest.mark.parametrize("turn", [0.0, 90.0, 40.0])
def test_choice_tastes_keep_the_spread_and_drop_the_correlation(turn):
    """``_choice_tastes``: each factor keeps its variance, and over films ``p^T v_i`` is
    uncorrelated with ``p^T q_i`` at 90 degrees and correlated by ``cos(theta)`` otherwise,
    for every user (here 200 random ones, 200,000 films of law 5's 128-factor spectrum)."""
    a = synth.law._factor_scales(synth.law.LAW5)
    rng = np.random.default_rng(1)
    Q = rng.standard_normal((200_000, len(a))) * a
    C = synth.law._choice_tastes(Q, a, turn)
    if turn == 0.0:
        assert C is Q
    assert np.allclose(C.std(axis=0) / a, 1, atol=0.01)
    P = rng.standard_normal((200, len(a))) * a
    x, y = P @ Q.T, P @ C.T
    xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    r = (xc * yc).sum(1) / np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    # SE of a correlation over 200,000 films: about 0.002; slack 0.01
    assert np.all(np.abs(r - math.cos(math.radians(turn))) < 0.01)
    assert np.allclose(y.std(1) / x.std(1), 1, atol=0.02)
