"""The leaderboard's magic-barrier floor: the estimate `prize barrier` stores, its standard
error, each predictor's distance to it, in the table, the text and Markdown renderings, the
CLI and the report; and predictor sets whose blends name blend configs."""

from __future__ import annotations

import json

import pytest
from conftest import make_toy_dataset, run_prize

from prize.barrier import BarrierConfig, barrier_path, estimate, load_estimate, save_estimate
from prize.data.dataset import open_dataset
from prize.leaderboard import render_markdown, render_text, table
from prize.models import make_predictor
from prize.probes import ProbeStore
from prize.runs.sets import load_set
from prize.runs.single import run_training

CHEAP = BarrierConfig(bootstrap=20)  # the cheap estimators only: no sampler in these tests


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    home = tmp_path_factory.mktemp("lbhome")
    make_toy_dataset(home, "toy")
    ds = open_dataset("toy", home)
    store = ProbeStore(home / "probes")
    for config in ("global_mean", "biases"):
        model, _ = make_predictor("baseline", config)
        run_training(ds, model, f"baseline-{config}", store)
    return home, ds, store


def test_table_shows_the_barrier_as_a_floor_with_distances(toy):
    home, ds, store = toy
    b = estimate(ds, store, "said", config=CHEAP, estimators=["said", "herlocker"])
    t = table(ds, store, barrier=b)
    line = t["lines"]["barrier"]
    assert line["probe"] == b["rmse"] and line["stderr"] == b["stderr"] > 0
    assert line["method"] == "said" and "±" in line["label"]
    for r in t["rows"]:
        assert r["above_barrier"] == pytest.approx(r["probe_rmse"] - b["rmse"])
    # said's estimate is the best predictor's error bound: the biases sit on it, the mean
    # well above it
    gm = next(r for r in t["rows"] if r["name"] == "baseline-global_mean")
    assert gm["above_barrier"] > 0.05
    text = render_text(t)
    assert "magic barrier" in text and "to barrier" in text and f"{b['rmse']:.4f}" in text
    assert f"{gm['above_barrier']:+.4f}" in text
    md = render_markdown(t)
    assert "| to barrier |" in md.replace("to barrier | seconds", "to barrier |")
    assert "[magic barrier (said" in md
    # every Markdown row has as many cells as the header
    rows = [x for x in md.splitlines() if x.startswith("| ")]
    assert len({x.count("|") for x in rows}) == 1


def test_no_barrier_no_column(toy):
    _, ds, store = toy
    t = table(ds, store)
    assert "barrier" not in t["lines"] and all(r["above_barrier"] is None for r in t["rows"])
    assert "to barrier" not in render_text(t)


def test_stored_estimate_is_tied_to_the_fingerprint(toy, tmp_path):
    home, ds, store = toy
    b = estimate(ds, store, "herlocker", config=CHEAP, estimators=["herlocker"])
    save_estimate(tmp_path, ds, b)
    got = load_estimate(tmp_path, ds)
    assert got["rmse"] == pytest.approx(b["rmse"]) and got["fingerprint"] == ds.fingerprint
    path = barrier_path(tmp_path, ds.name)
    stale = json.loads(path.read_text())
    stale["fingerprint"] = "0" * 16
    path.write_text(json.dumps(stale))
    assert load_estimate(tmp_path, ds) is None
    assert load_estimate(tmp_path / "nowhere", ds) is None


def test_cli_barrier_then_leaderboard_and_report(toy, tmp_path):
    home, ds, store = toy
    board = run_prize("leaderboard", "--data", "toy", "--json", home=home, json_out=True)
    if "barrier" in board["lines"]:  # another test of this module stored one: start afresh
        barrier_path(home, "toy").unlink()
        board = run_prize("leaderboard", "--data", "toy", "--json", home=home, json_out=True)
    assert "barrier" not in board["lines"]
    est = run_prize("barrier", "--data", "toy", "--only", "said", "--json", home=home,
                    json_out=True)
    board = run_prize("leaderboard", "--data", "toy", "--json", home=home, json_out=True)
    assert board["lines"]["barrier"]["probe"] == pytest.approx(est["rmse"])
    for r in board["rows"]:
        assert r["above_barrier"] == pytest.approx(r["probe_rmse"] - est["rmse"])
    assert "to barrier" in run_prize("leaderboard", "--data", "toy", home=home).stdout
    out = tmp_path / "rep"
    rep = run_prize("leaderboard", "report", "--data", "toy", "--out", str(out), "--json",
                    home=home, json_out=True)
    assert rep["barrier"]["rmse"] == pytest.approx(est["rmse"])  # the stored one, reused
    assert "magic barrier" in (out / "leaderboard.md").read_text()
    saved = json.loads((out / "leaderboard.json").read_text())
    assert saved["table"]["lines"]["barrier"]["probe"] == pytest.approx(est["rmse"])
    # No blend was built with --select forward: the report computes the curve itself, one
    # step per stored predictor, the better predictor first, at about its own probe RMSE
    # (a one-predictor linear blend rescales it: never much worse).
    assert rep["blend_curve"] is True
    steps = rep["selection"]["steps"]
    assert [s["n"] for s in steps] == [1, 2]
    assert [s["added"] for s in steps] == ["baseline-biases", "baseline-global_mean"]
    single = {r["name"]: r["probe_rmse"] for r in rep["table"]["rows"]}
    assert steps[0]["rmse"] <= single["baseline-biases"] + 0.005, (steps, single)
    assert steps[0]["rmse"] < single["baseline-global_mean"] - 0.01, (steps, single)


def test_shipped_sets_name_blend_configs_that_exist():
    from prize.blend.run import make_blender

    for name in ("demo", "progress2007", "ml100k"):
        pset = load_set(name)
        for entry in pset.blends:
            blender, method, path = make_blender(None, entry)
            assert path is not None and path.stem == entry and method in ("linear", "gbdt",
                                                                           "fwls", "nn")


def test_ml100k_set_reads_no_test_pairs():
    """A test-file protocol (MovieLens u1) must not learn from the test pairs: every model
    that reads "who rated what" is restricted to the training pairs, and the blends leave
    out the frequency meta-feature (it counts qualifying pairs)."""
    from prize.blend.run import make_blender

    pset = load_set("ml100k")
    for s in pset.predictors:
        model, _ = make_predictor(s.family, s.config, s.set)
        cfg = model.config
        assert getattr(cfg, "implicit", "train") == "train", s.name
        if getattr(cfg, "conditional", False):
            assert cfg.conditional_on == "train", s.name
        assert not (s.family == "knn" and model.name == "global"), s.name
    for entry in pset.blends:
        blender, _, _ = make_blender(None, entry)
        assert "frequency" not in getattr(blender.config, "meta", ()), entry
