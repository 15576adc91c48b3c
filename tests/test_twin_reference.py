"""The calibrated twin's reference (issue 17): a synthetic data set of law 4 or later is
measured against Bell & Koren's correlation kNN as published (``knn-cinematch-plain``), the
laws before it and every other data set against the shipped proxy. The import records it,
``prize leaderboard run`` trains it whatever the set, and the report's ladder reads it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from prize.data import synth
from prize.data.dataset import (
    DEFAULT_REFERENCE,
    TWIN_REFERENCE,
    TWIN_REFERENCE_LAW,
    open_dataset,
    synthetic_reference,
)
from prize.models import make_predictor


@pytest.fixture(scope="module")
def law4(tmp_path_factory):
    """tiny-twin under law 4, imported: (home, dataset)."""
    from prize.data.netflix import import_netflix

    home = tmp_path_factory.mktemp("law4") / "home"
    synth.generate(home / "raw" / "tw4", preset=synth.under_law("tiny-twin", 4), seed=0)
    import_netflix(home / "raw" / "tw4", home / "data" / "tw4", name="tw4")
    return home, open_dataset("tw4", home)


def test_the_reference_follows_the_law():
    assert TWIN_REFERENCE_LAW == 4 and max(synth.LAWS) >= TWIN_REFERENCE_LAW
    for law in (None, 1, 2, 3):
        assert synthetic_reference(law) == DEFAULT_REFERENCE, law
    for law in range(TWIN_REFERENCE_LAW, max(synth.LAWS) + 1):
        assert synthetic_reference(law) == TWIN_REFERENCE, law
    got = synthetic_reference(4)
    got["name"] = "changed"  # a copy: the caller may edit it
    assert TWIN_REFERENCE["name"] == "knn-cinematch-plain"


def test_the_twin_reference_is_the_proxy_without_its_weight_shrinkage():
    plain, _ = make_predictor("knn", TWIN_REFERENCE["config"])
    proxy, _ = make_predictor("knn", DEFAULT_REFERENCE["config"])
    assert plain.name == proxy.name == "item"
    assert plain.config.weight_shrinkage == 0.0 < proxy.config.weight_shrinkage
    assert dataclasses.replace(plain.config, weight_shrinkage=proxy.config.weight_shrinkage) \
        == proxy.config


def test_import_records_the_twins_reference(law4, tmp_path):
    from prize.data.netflix import import_netflix

    _, ds = law4
    assert ds.meta["synthetic"]["law"] == 4 and ds.meta["reference"] == TWIN_REFERENCE
    # a law-3 data set keeps the proxy it was calibrated against
    synth.generate(tmp_path / "raw3", preset="tiny-twin", seed=0)
    import_netflix(tmp_path / "raw3", tmp_path / "data" / "tw3", name="tw3")
    assert open_dataset("tw3", tmp_path).meta["reference"] == DEFAULT_REFERENCE


def test_a_leaderboard_set_gains_the_data_sets_reference(law4):
    from prize.leaderboard.pipeline import with_reference
    from prize.runs.sets import load_set

    _, ds = law4
    demo = load_set("demo")
    assert TWIN_REFERENCE["name"] not in {s.name for s in demo.predictors}
    got = with_reference(demo, ds)
    assert got.predictors[:-1] == demo.predictors and got.blends == demo.blends
    ref = got.predictors[-1]
    assert (ref.name, ref.family, ref.config, ref.set, ref.residuals_of) == (
        "knn-cinematch-plain", "knn", "cinematch-plain", (), None)
    assert with_reference(got, ds) == got  # once only
    # a set that has it already, and Cinematch's official figures, are left alone
    # (it reads the meta alone)
    proxy = SimpleNamespace(meta={**ds.meta, "reference": dict(DEFAULT_REFERENCE)})
    assert with_reference(demo, proxy) == demo
    official = SimpleNamespace(meta={**ds.meta, "reference": {
        "name": "Cinematch", "kind": "official", "quiz": 0.9514, "test": 0.9525}})
    assert with_reference(demo, official) == demo


def test_the_report_measures_the_ladder_against_the_data_sets_reference(law4, tmp_path):
    from prize.leaderboard.report import write_report
    from prize.probes import ProbeStore
    from prize.runs.single import train

    home, ds = law4
    store = ProbeStore(home / "probes")
    biases = train(ds, store, "baseline", config="biases", name="baseline-biases")
    plain = train(ds, store, "knn", config="cinematch-plain", name="knn-cinematch-plain")
    proxy = train(ds, store, "knn", config="cinematch-proxy", name="knn-cinematch-proxy")
    assert plain.quiz_rmse != proxy.quiz_rmse
    rep = write_report(ds, store, tmp_path / "report")
    row = next(r for r in rep["ladder"] if r["predictor"] == "baseline-biases")
    assert row["reference"] == "knn-cinematch-plain"
    assert row["twin_pct"] == pytest.approx(100 * (plain.quiz_rmse - biases.quiz_rmse)
                                            / plain.quiz_rmse)
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "over `knn-cinematch-plain`" in md and f"{row['twin_pct']:+.2f}" in md


def test_leaderboard_run_trains_the_twins_reference_through_the_cli(tmp_path):
    """End to end on the real CLI: `prize data synth --law 4`, import, and `prize leaderboard
    run` with a set that names only the biases: the table's reference is then trained."""
    from conftest import run_prize

    home, raw = tmp_path / "home", tmp_path / "raw"
    run_prize("-q", "data", "synth", "--preset", "tiny-twin", "--law", "4", "--seed", "1",
              "--out", str(raw), home=home)
    run_prize("-q", "data", "import", "netflix", str(raw), "--name", "tw", home=home)
    info = run_prize("data", "info", "tw", "--json", home=home, json_out=True)
    assert info["reference"]["name"] == "knn-cinematch-plain"
    one = tmp_path / "one.toml"
    one.write_text('name = "one"\n\n[[predictor]]\nname = "baseline-biases"\n'
                   'family = "baseline"\nconfig = "biases"\n')
    out = run_prize("leaderboard", "run", "--predictor-set", str(one), "--data", "tw",
                    "--no-blend", "--json", home=home, json_out=True)
    assert sorted(r["name"] for r in out["trained"]) == ["baseline-biases",
                                                         "knn-cinematch-plain"]
    board = out["table"]
    assert board["reference"]["name"] == "knn-cinematch-plain" and board["reference"]["trained"]
    biases = next(r for r in board["rows"] if r["name"] == "baseline-biases")
    assert biases["improvement"] is not None  # measured against the trained reference
