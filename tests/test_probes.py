"""The probe store: provenance, refusals, concurrent writers and killed writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import constant_predictions as arrays
from conftest import run_prize

from prize.data import Split, open_dataset
from prize.errors import DataError
from prize.probes import ProbeStore, git_commit


def test_write_read_list(toy, home):
    store = ProbeStore(home / "probes")
    m = store.write(toy, "p1", arrays(toy), {"family": "test", "probe_rmse": 1.0})
    assert m.dataset_fingerprint == toy.fingerprint and m.git_commit == git_commit()
    assert {"package_version", "created_at", "files"} <= set(m.to_json())
    assert (store.read(toy, "p1", "probe") == 3.0).all()
    assert [x.name for x in store.list(toy.name)] == ["p1"]
    assert store.matrix(toy, ["p1", "p1"]).shape == (toy.meta["counts"]["probe"], 2)
    # Replacing keeps exactly the new version's files (plus the one it replaced).
    store.write(toy, "p1", arrays(toy, 4.0), {"family": "test"})
    store.write(toy, "p1", arrays(toy, 5.0), {"family": "test"})
    assert (store.read(toy, "p1", "qualifying") == 5.0).all()
    assert len(list((home / "probes" / toy.name / "p1").glob("*.npy"))) == 4


def test_final_round_keeps_probe_and_replaces_qualifying(toy, home):
    store = ProbeStore(home / "probes")
    store.write(toy, "p", arrays(toy, 2.0), {"round": "probe"})
    q = np.full(toy.meta["counts"]["qualifying"], 4.0, np.float32)
    m = store.write(toy, "p", {"qualifying": q}, {"round": "final"}, keep=("probe",))
    assert m.round == "final"
    assert (store.read(toy, "p", "probe") == 2.0).all()
    assert (store.read(toy, "p", "qualifying") == 4.0).all()


def test_refuses_nan_and_wrong_length(toy, home):
    store = ProbeStore(home / "probes")
    bad = arrays(toy)
    bad["probe"][3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        store.write(toy, "p", bad, {})
    with pytest.raises(ValueError, match="shape"):
        store.write(toy, "p", {"probe": np.zeros(5, np.float32)}, {})
    assert store.list(toy.name) == []


def test_reader_refuses_another_dataset_version(toy, home):
    store = ProbeStore(home / "probes")
    store.write(toy, "p", arrays(toy), {"family": "baseline"})
    # Re-split the dataset: rows move between sets, so the fingerprint changes.
    run_prize("data", "split", "toy", "--seed", "7", home=home)
    ds2 = open_dataset(home / "data" / "toy")
    assert ds2.fingerprint != toy.fingerprint
    with pytest.raises(DataError) as e:
        store.read(ds2, "p")
    assert "Retrain it: prize train baseline --data toy --name p" in str(e.value)


def test_reader_refuses_wrong_length_file(toy, home):
    store = ProbeStore(home / "probes")
    m = store.write(toy, "p", arrays(toy), {})
    np.save(home / "probes" / "toy" / "p" / m.files["probe"], np.zeros(3, np.float32))
    with pytest.raises(DataError, match="Retrain 'p'"):
        store.read(toy, "p")


def test_crafted_pickle_is_refused(toy, home, tmp_path):
    store = ProbeStore(home / "probes")
    m = store.write(toy, "p", arrays(toy), {})
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(home / "probes" / "toy" / "p" / m.files["probe"],
            np.array([Evil()] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="refusing to load"):
        store.read(toy, "p")
    assert not marker.exists()


def test_folder_without_meta_is_invisible(toy, home):
    store = ProbeStore(home / "probes")
    (home / "probes" / "toy" / "half").mkdir(parents=True)
    np.save(home / "probes" / "toy" / "half" / "probe-x.npy", np.zeros(3, np.float32))
    assert store.list("toy") == []


def test_concurrent_trainers_never_corrupt_each_other(toy, home):
    """Several real `prize train` processes at once, each writing its own predictor."""
    env = dict(os.environ, PRIZE_HOME=str(home))
    configs = ["global_mean", "movie_mean", "user_mean", "biases"]
    names = [(c, f"{c}-{k}") for c in configs for k in "ab"]
    procs = [subprocess.Popen([sys.executable, "-m", "prize", "-q", "train", "baseline",
                               "--data", "toy", "--config", c, "--name", n], env=env,
                              stderr=subprocess.PIPE, text=True) for c, n in names]
    seen = set()
    store = ProbeStore(home / "probes")
    while any(p.poll() is None for p in procs):
        for m in store.list("toy"):  # the listing is always readable and complete
            assert set(m.files) >= {"probe", "qualifying"}
            store.read(toy, m.name)
            seen.add(m.name)
        time.sleep(0.01)
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    names_made = names
    names = sorted(m.name for m in store.list("toy"))
    assert names == sorted(n for _, n in names_made)
    for n in names:
        assert np.isfinite(store.read(toy, n)).all()


WRITER = """
import sys, numpy as np
from prize.data import open_dataset
from prize.probes import ProbeStore
ds = open_dataset(sys.argv[1]); store = ProbeStore(sys.argv[2])
c = ds.meta["counts"]
k = int(sys.argv[3])
while True:
    k += 1
    store.write(ds, "victim", {"probe": np.full(c["probe"], k, np.float32),
                               "qualifying": np.full(c["qualifying"], k, np.float32)},
                {"value": k})
"""


def test_killed_writer_leaves_the_previous_version_whole(toy, home):
    store = ProbeStore(home / "probes")
    store.write(toy, "victim", arrays(toy, 1.0), {"value": 1})
    rng = np.random.default_rng(0)
    folder = home / "probes" / "toy" / "victim"
    for attempt in range(8):
        before = store.meta("toy", "victim").extra["value"]
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(toy.path),
                              str(home / "probes"), str(before + 1000 * (attempt + 1))])
        time.sleep(1.0 + rng.random() * 0.5)  # interpreter start-up, then some writes
        p.send_signal(signal.SIGKILL)
        p.wait()
        m = json.loads((folder / "meta.json").read_text())
        for kind in ("probe", "qualifying"):
            a = store.read(toy, "victim", kind, mmap=False)
            assert (a == m["value"]).all(), "meta.json and its arrays disagree"
        # No visible partial file: every non-hidden array in the folder loads whole.
        for f in folder.glob("[!.]*.npy"):
            np.load(f, allow_pickle=False)
    assert store.meta("toy", "victim").extra["value"] > 1


def test_score_and_leaderboard_hide_test_unless_revealed(toy, home):
    run_prize("-q", "train", "baseline", "--data", "toy", "--config", "biases", home=home)
    s = run_prize("score", "--data", "toy", "baseline-biases", "--json", home=home,
                  json_out=True)
    assert "test_rmse" not in s and s["quiz_rmse"] is not None
    s = run_prize("score", "--data", "toy", "baseline-biases", "--json", "--reveal", home=home,
                  json_out=True)
    assert s["test_rmse"] is not None
    probe_rows = toy.rows(Split.PROBE)
    assert s["probe_rmse"] > 0 and len(probe_rows) > 0


def test_a_store_written_before_the_typed_record_reads_the_same(toy, home):
    """meta.json as the store wrote it before PredictorRecord: the config's fields repeated
    at the top level, a blend's own keys beside the common ones. It reads, lists, scores
    and blends as before, and the repeated config fields do not turn into extras."""
    folder = home / "probes" / "toy" / "old-mf"
    folder.mkdir(parents=True)
    a = arrays(toy, 3.5)
    for kind in ("probe", "qualifying"):
        np.save(folder / f"{kind}-1-abc.npy", a[kind])
    config = {"n_factors": 20, "lr": 0.005, "seed": 0}
    old = {"name": "old-mf", "dataset": "toy", "dataset_fingerprint": toy.fingerprint,
           "family": "mf", "model": "svd", **config, "config": config, "round": "probe",
           "residuals_of": None, "probe_rmse": 1.1, "quiz_rmse": 1.2, "test_rmse": 1.3,
           "epochs": 7, "epochs_run": 9, "history": [], "seconds": 0.5,
           "files": {"probe": "probe-1-abc.npy", "qualifying": "qualifying-1-abc.npy"},
           "package_version": "0.1.0", "git_commit": None, "created_at": "2026-01-01",
           "weights": {"x": 1.0}}
    (folder / "meta.json").write_text(json.dumps(old))
    store = ProbeStore(home / "probes")
    m = store.meta("toy", "old-mf")
    assert (m.family, m.model, m.config, m.epochs, m.test_rmse) == ("mf", "svd", config, 7, 1.3)
    assert m.extra == {"weights": {"x": 1.0}}
    assert m.to_json()["weights"] == {"x": 1.0} and "n_factors" not in m.to_json()
    assert (store.read(toy, "old-mf", "qualifying") == 3.5).all()
    listed = run_prize("probes", "list", "--data", "toy", "--json", home=home, json_out=True)
    assert [p["name"] for p in listed["predictors"]] == ["old-mf"]
    assert "test_rmse" not in run_prize("probes", "show", "--data", "toy", "old-mf", "--json",
                                        home=home, json_out=True)
