"""End to end through the real `prize` CLI in subprocesses, on the synthetic tiny preset."""

from __future__ import annotations

import pytest
from conftest import leftovers, run_prize


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    raw = home / "raw" / "tiny"
    info = run_prize("data", "synth", "--preset", "tiny", "--seed", "0", "--out", str(raw),
                     "--json", home=home, json_out=True)
    run_prize("-q", "data", "import", "netflix", str(raw), "--name", "tiny", home=home)
    return home, info


def test_import_matches_the_generator(tiny):
    home, synth = tiny
    meta = run_prize("data", "info", "tiny", "--json", home=home, json_out=True)
    c = meta["counts"]
    assert c["probe"] == synth["counts"]["probe"]
    assert c["qualifying"] == synth["counts"]["qualifying"]
    assert c["quiz"] + c["test"] == c["qualifying"]
    assert c["train"] + c["probe"] == synth["counts"]["ratings"]
    assert meta["oracle_rmse"] == synth["oracle_rmse"]
    assert meta["has_truth"] and meta["reference"]["kind"] == "predictor"
    assert set(meta["source"]["files"]) >= {"probe.txt", "qualifying.txt",
                                            "qualifying_truth.txt", "movie_titles.txt"}
    text = run_prize("data", "info", "tiny", home=home).stdout
    assert "oracle RMSE" in text and "fingerprint" in text


def test_baselines_leaderboard_and_submission(tiny):
    home, _ = tiny
    for c in ("global_mean", "movie_mean", "user_mean", "biases", "global_effects"):
        run_prize("-q", "train", "baseline", "--data", "tiny", "--config", c, home=home)
    # Not Netflix's data: the reference is the Cinematch proxy, untrained so far; the table
    # says so and gives the command that trains it, which must work as printed.
    board = run_prize("leaderboard", "--data", "tiny", "--json", home=home, json_out=True)
    ref = board["reference"]
    assert ref["name"] == "knn-cinematch-proxy" and not ref["trained"]
    assert all(r["improvement"] is None for r in board["rows"])
    text = run_prize("leaderboard", "--data", "tiny", home=home).stdout
    assert "not trained yet" in text and ref["train_command"] in text
    command = ref["train_command"].split()
    assert command[:2] == ["prize", "train"] and "--config" in command
    run_prize("-q", *command[1:], home=home)
    board = run_prize("leaderboard", "--data", "tiny", "--json", home=home, json_out=True)
    names = [r["name"] for r in board["rows"]]
    assert set(names) == {f"baseline-{c}" for c in ("global_mean", "movie_mean", "user_mean",
                                                     "biases", "global_effects")
                          } | {"knn-cinematch-proxy"}
    assert board["reference"]["name"] == "knn-cinematch-proxy" and board["reference"]["trained"]
    proxy = next(r for r in board["rows"] if r["name"] == "knn-cinematch-proxy")
    assert proxy["improvement"] == pytest.approx(0.0, abs=1e-9)
    assert proxy["family"] == "knn"
    assert board["lines"]["oracle"]["quiz"] < min(r["quiz_rmse"] for r in board["rows"])
    gm = next(r for r in board["rows"] if r["name"] == "baseline-global_mean")
    assert gm["improvement"] < 0
    assert "test_rmse" not in board["rows"][0]
    md = run_prize("leaderboard", "--data", "tiny", "--markdown", home=home).stdout
    assert md.startswith("## Leaderboard") and "| baseline-biases |" in md
    # Final round: qualifying predictions replaced, probe kept, round recorded.
    run_prize("-q", "train", "baseline", "--data", "tiny", "--config", "biases", "--round",
              "final", home=home)
    show = run_prize("probes", "show", "--data", "tiny", "baseline-biases", "--json", home=home,
                     json_out=True)
    assert show["round"] == "final" and "test_rmse" not in show
    out = home / "sub.txt"
    run_prize("submit", "--data", "tiny", "--predictor", "baseline-biases", "--out", str(out),
              home=home)
    check = run_prize("submit", "--data", "tiny", "--check", str(out), "--json", home=home,
                      json_out=True)
    assert check["valid"] and check["quiz_rmse"] == pytest.approx(show["quiz_rmse"], abs=1e-3)
    run_prize("probes", "rm", "--data", "tiny", "baseline-user_mean", home=home)
    listed = run_prize("probes", "list", "--data", "tiny", "--json", home=home, json_out=True)
    assert "baseline-user_mean" not in [p["name"] for p in listed["predictors"]]


def test_resplit_then_stale_predictions_are_refused(tiny, tmp_path):
    home, _ = tiny
    run_prize("-q", "data", "import", "netflix", str(home / "raw" / "tiny"), "--name", "t2",
              home=home)
    run_prize("-q", "train", "baseline", "--data", "t2", "--config", "movie_mean", home=home)
    meta = run_prize("data", "split", "t2", "--protocol", "netflix", "--seed", "1", "--json",
                     home=home, json_out=True)
    assert meta["protocol"] == {"name": "netflix", "seed": 1}
    proc = run_prize("score", "--data", "t2", "baseline-movie_mean", home=home, check=False)
    assert proc.returncode == 2 and "Retrain it" in proc.stderr
    assert [p for p in leftovers(home / "data") if "/." in p or p.startswith(".")] == []


def test_bad_usage_exit_codes(tiny):
    home, _ = tiny
    assert run_prize("train", "nosuchfamily", "--data", "tiny", home=home,
                     check=False).returncode == 2
    p = run_prize("train", "baseline", "--data", "tiny", "--set", "nokey=1", home=home,
                  check=False)
    assert p.returncode == 2 and "allowed keys" in p.stderr
    assert run_prize("data", "info", "nosuchdata", home=home, check=False).returncode == 2
    assert run_prize("leaderboard", home=home, check=False).returncode == 2


def test_synth_under_an_older_law(tmp_path):
    """`prize data synth --law 2` makes a twin preset under law 2 (its sizes kept); the
    preset's own law is the default."""
    from prize.data.synth import LAWS

    new = run_prize("data", "synth", "--preset", "tiny-twin", "--out", str(tmp_path / "a"),
                    "--json", home=tmp_path, json_out=True)
    old = run_prize("data", "synth", "--preset", "tiny-twin", "--law", "2", "--out",
                    str(tmp_path / "b"), "--json", home=tmp_path, json_out=True)
    assert new["law"] == 3 and old["law"] == 2
    assert old["counts"] == new["counts"]
    assert old["params"]["model"]["item_scale_log_sd"] == 0.0
    assert new["params"]["model"]["item_scale_log_sd"] > 0
    text = run_prize("data", "synth", "--preset", "tiny", "--law", "2", "--out",
                     str(tmp_path / "c"), home=tmp_path).stdout
    assert "law 2" in text
    unknown = str(max(LAWS) + 1)  # one past the last law
    bad = run_prize("data", "synth", "--preset", "tiny", "--law", unknown, "--out",
                    str(tmp_path / "d"), home=tmp_path, check=False)
    assert bad.returncode != 0 and "--law" in bad.stderr
