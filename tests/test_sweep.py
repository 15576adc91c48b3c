"""`prize sweep`: grid and random search whose trials are ordinary predictors in the probe
store; end to end through the real CLI on the tiny synthetic preset."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import leftovers, run_prize

from prize.config import CONFIG_ROOT, parse_value
from prize.data.netflix import import_netflix
from prize.data.synth import generate
from prize.errors import ConfigError
from prize.runs.sweep import Range, load_sweep, toml_value, trials

GRID = """
name = "{name}"
family = "mf"
[grid]
n_factors = {factors}
reg = [0.02, 0.2]
n_epochs = [2]
"""


def _tiny(home: Path) -> Path:
    generate(home / "raw", preset="tiny", seed=0)
    import_netflix(home / "raw", home / "data" / "tiny", name="tiny")
    return home


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The tiny preset, imported once; tests use distinct sweep names, so distinct trials."""
    return _tiny(tmp_path_factory.mktemp("sweephome"))


def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / f"{name}.toml"
    p.write_text(text)
    return p


def _sweep(home: Path, grid: Path, *args: str, check: bool = True):
    return run_prize("sweep", "mf", "--data", "tiny", "--grid", str(grid), *args, home=home,
                     check=check)


def _probe_column(text: str) -> list[float]:
    """The probe RMSEs of the printed table, top to bottom (the 5th column from the right)."""
    lines = text.strip().splitlines()
    head = lines.index(next(x for x in lines if x.startswith("rank")))
    return [float(x.split()[-5]) for x in lines[head + 1:] if x.split()[-5] != "—"]


def test_grid_sweep_end_to_end_resumes_and_feeds_the_store(home, tmp_path):
    grid = _write(tmp_path, "g", GRID.format(name="grid", factors="[2, 4]"))
    proc = _sweep(home, grid, "--json")
    r = json.loads(proc.stdout)
    names = [t["name"] for t in r["trials"]]
    assert len(names) == len(set(names)) == 4
    assert all(re.fullmatch(r"mf-grid-[0-9a-f]{8}", n) for n in names)
    assert sorted(r["trained"]) == sorted(names) and r["stored"] == [] and r["failed"] == []
    probes = [t["probe_rmse"] for t in r["trials"]]
    assert probes == sorted(probes) and [t["rank"] for t in r["trials"]] == [1, 2, 3, 4]
    assert {(t["values"]["n_factors"], t["values"]["reg"]) for t in r["trials"]} == {
        (2, 0.02), (2, 0.2), (4, 0.02), (4, 0.2)}
    # Every trial is an ordinary predictor of the store, with its settings and score.
    stored = {m["name"]: m for m in json.loads(run_prize(
        "probes", "list", "--data", "tiny", "--json", home=home).stdout)["predictors"]}
    for t in r["trials"]:
        meta = json.loads((home / "probes" / "tiny" / t["name"] / "meta.json").read_text())
        assert meta["family"] == "mf" and meta["round"] == "probe"
        assert {k: meta["config"][k] for k in t["values"]} == t["values"]
        assert stored[t["name"]]["probe_rmse"] == pytest.approx(t["probe_rmse"])
    # The text table is sorted too.
    text = _sweep(home, grid).stdout
    assert _probe_column(text) == sorted(_probe_column(text)) and len(_probe_column(text)) == 4

    # A rerun trains nothing: the store is left exactly as it was.
    before = {n: (home / "probes" / "tiny" / n / "meta.json").read_bytes() for n in names}
    again = json.loads(_sweep(home, grid, "--json").stdout)
    assert again["trained"] == [] and sorted(again["stored"]) == sorted(names)
    assert {t["status"] for t in again["trials"]} == {"stored"}
    assert {n: (home / "probes" / "tiny" / n / "meta.json").read_bytes() for n in names} == before
    # A larger grid trains only its new trials; the old ones keep their names.
    bigger = _write(tmp_path, "g", GRID.format(name="grid", factors="[2, 4, 6]"))
    more = json.loads(_sweep(home, bigger, "--json").stdout)
    assert len(more["trained"]) == 2 and not set(more["trained"]) & set(names)
    assert sorted(more["stored"]) == sorted(names)


def test_a_failing_trial_is_reported_by_name_and_the_others_finish(home, tmp_path):
    grid = _write(tmp_path, "f", 'name = "fail"\n[grid]\nn_factors = [2]\nn_epochs = [2]\n'
                  "lr = [0.005, 100.0]\n")  # lr = 100 diverges at once
    proc = _sweep(home, grid, "--json", check=False)
    assert proc.returncode == 1
    r = json.loads(proc.stdout)
    (bad,) = [t for t in r["trials"] if t["values"]["lr"] == 100.0]
    (good,) = [t for t in r["trials"] if t["values"]["lr"] == 0.005]
    assert bad["status"] == "failed" and bad["probe_rmse"] is None
    assert good["status"] == "trained" and r["trained"] == [good["name"]]
    assert r["trials"][-1]["name"] == bad["name"]  # failed trials sort last
    assert f"FAILED {bad['name']}" in proc.stderr and "Traceback" in proc.stderr
    assert "diverged" in proc.stderr
    assert (home / "probes" / "tiny" / good["name"] / "meta.json").is_file()
    # Nothing half-written: no folder, or an empty one, for the failed trial.
    assert leftovers(home / "probes" / "tiny" / bad["name"]) == []


RANDOM = """
name = "rnd"
[grid]
lr = {low = 0.001, high = 0.1, log = true}
n_factors = {low = 2, high = 64}
reg = [0.01, 0.02, 0.05]
n_epochs = [2]
"""


def test_random_search_is_deterministic_for_a_seed(home, tmp_path):
    grid = _write(tmp_path, "r", RANDOM)

    def draw(seed):
        out = _sweep(home, grid, "--random", "6", "--seed", str(seed), "--dry-run", "--json")
        r = json.loads(out.stdout)
        assert r["mode"] == "random" and r["seed"] == seed and r["trained"] == []
        return [(t["name"], t["values"]) for t in r["trials"]]

    a, b, c = draw(7), draw(7), draw(8)
    assert a == b and len(a) == 6 and {n for n, _ in a} != {n for n, _ in c}
    for _, v in a + c:
        assert 0.001 <= v["lr"] <= 0.1 and isinstance(v["n_factors"], int)
        assert 2 <= v["n_factors"] <= 64 and v["reg"] in (0.01, 0.02, 0.05)
    # Nothing was trained by a dry run.
    assert not any((home / "probes" / "tiny").glob("mf-rnd-*"))


def test_random_draws_spread_over_the_range_and_stop_at_a_small_space(tmp_path):
    lr = Range(0.001, 0.1, log=True)
    xs = [lr.draw(np.random.default_rng(s)) for s in range(400)]
    logs = np.log10(xs)
    assert min(xs) >= 0.001 and max(xs) <= 0.1
    # Log-uniform: about a third of the draws per decade-and-a-half third of [-3, -1].
    assert 0.25 < np.mean(logs < -3 + 2 / 3) < 0.42 and 0.25 < np.mean(logs > -1 - 2 / 3) < 0.42
    small = load_sweep(_write(tmp_path, "s", '[grid]\nn_factors = [2, 4]\nreg = [0.1]\n'), "mf")
    ts = trials(small, random=10, seed=0)
    assert sorted(t.values["n_factors"] for t in ts) == [2, 4]  # each distinct config once


def test_grid_ranges_give_evenly_spaced_points(tmp_path):
    s = load_sweep(_write(tmp_path, "p", "[grid]\nreg = {low = 0.01, high = 0.04, log = true, "
                          "num = 3}\nn_factors = {low = 10, high = 20, num = 3}\n"), "mf")
    got = [(t.values["reg"], t.values["n_factors"]) for t in trials(s)]
    assert got == [(r, f) for r in (0.01, 0.02, 0.04) for f in (10, 15, 20)]
    assert all(t.config["reg"] == t.values["reg"] for t in trials(s))
    # Same config, same name: a trial's name depends on its settings only.
    assert [t.name for t in trials(s)] == [t.name for t in trials(s)]
    assert len({t.name for t in trials(s)}) == 9


@pytest.mark.parametrize("text, key", [
    ("[grid]\nn_factorz = [2, 4]\n", "n_factorz"),
    ('[grid]\nn_factors = ["many"]\n', "n_factors"),
])
def test_bad_grid_file_exits_2_naming_file_and_key(home, tmp_path, text, key):
    grid = _write(tmp_path, "bad", text)
    proc = _sweep(home, grid, check=False)
    assert proc.returncode == 2, proc.stderr
    assert str(grid) in proc.stderr and key in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text, needle", [
    ("[grid]\nlr = {low = 0.1, high = 0.01}\n", "lr: low"),
    ("[grid]\nlr = {low = 0.001, high = 0.01}\n", "lr: a range needs num"),
    ("[grid]\nlr = {low = -1.0, high = 0.01, log = true, num = 2}\n", "lr: a log range"),
    ("[grid]\nlr = {low = 0.001, high = 0.01, step = 2}\n", "unknown range key 'step'"),
    ("[grid]\nlr = []\n", "lr = []"),
    ("[grid]\nmodel = [\"svd\"]\n", "model"),
    ("[grid]\nn_factors = [0]\n", "the trial n_factors=0"),
    ("[grid]\nfeature_at_a_time = [true]\n", "feature_at_a_time=true"),
    ("grids = 1\n[grid]\nlr = [0.01]\n", "unknown key 'grids'"),
    ('family = "rbm"\n[grid]\nlr = [0.01]\n', "family = 'rbm'"),
    ("[grid]\n", "needs a [grid] table"),
    ('name = "a b"\n[grid]\nlr = [0.01]\n', "name = 'a b'"),
    ('config = "nosuch"\n[grid]\nlr = [0.01]\n', "no config 'nosuch'"),
])
def test_bad_grid_files_are_refused_with_the_file_and_key(tmp_path, text, needle):
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ConfigError) as e:
        trials(load_sweep(path, "mf"))
    assert str(path) in str(e.value) and needle in str(e.value)


def test_open_scheduler_ports_are_refused_as_for_a_leaderboard(home, tmp_path):
    grid = _write(tmp_path, "o", GRID.format(name="open", factors="[2]"))
    proc = _sweep(home, grid, "--cluster", "tcp://10.0.0.5:8786", check=False)
    assert proc.returncode == 2 and "--insecure" in proc.stderr
    assert not any((home / "probes" / "tiny").glob("mf-open-*"))


def test_unknown_sweep_file_lists_the_shipped_ones(home):
    proc = run_prize("sweep", "mf", "--data", "tiny", "--grid", "nosuch", home=home, check=False)
    assert proc.returncode == 2 and "nosuch" in proc.stderr and "timesvdpp" in proc.stderr


@pytest.mark.parametrize("value", [0.005, 1e-05, 3.0, 50, True, False, "train", [1, 3, 5],
                                   -0.25, 1e22, math.inf])
def test_settings_round_trip_through_set(value):
    assert parse_value(toml_value(value), None) == value


def test_shipped_sweep_files_are_valid():
    files = sorted((CONFIG_ROOT / "sweeps").glob("*.toml"))
    assert {f.stem for f in files} >= {"mf", "timesvdpp", "rbm"}
    for f in files:
        family = tomllib.loads(f.read_text())["family"]
        ts = trials(load_sweep(f, family))
        assert 2 <= len(ts) <= 12 and len({t.name for t in ts}) == len(ts)
        assert len(trials(load_sweep(f, family), random=3, seed=0)) == 3


@pytest.mark.slow
def test_sweep_on_a_local_cluster_matches_in_process(home, tmp_path):
    pytest.importorskip("distributed")
    other = _tiny(tmp_path / "clusterhome")
    grid = _write(tmp_path, "c", GRID.format(name="cl", factors="[2, 4]"))
    a = json.loads(_sweep(home, grid, "--json").stdout)
    b = json.loads(_sweep(other, grid, "--json", "--cluster", "local:2").stdout)
    assert b["executor"]["kind"] == "dask" and b["executor"]["workers"] == 2
    assert sorted(b["trained"]) == sorted(a["trained"]) and len(a["trained"]) == 4
    for t in a["trials"]:
        for kind in ("probe", "qualifying"):
            x, y = (np.load(next((h / "probes" / "tiny" / t["name"]).glob(f"{kind}-*.npy")))
                    for h in (home, other))
            np.testing.assert_allclose(x, y, atol=1e-5)
    # Resumable on the cluster too.
    again = json.loads(_sweep(other, grid, "--json", "--cluster", "local:2").stdout)
    assert again["trained"] == [] and len(again["stored"]) == 4
