"""Hardening (issue 16): containment of every write and delete, concurrent writers,
atomic replacement, readers that mark broken predictors, refusals up front, an honest
protocol and clean interrupts. Each test plants the hostile or careless case and checks
the outcome on the file system, not only the message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import constant_predictions as arrays
from conftest import run_prize

from prize.data import open_dataset
from prize.errors import DataError
from prize.paths import MAX_NAME, check_name, inside
from prize.probes import ProbeStore


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under ``root`` (outside ``skip``) with its kind, size and mtime."""
    out = {}
    for p in root.rglob("*"):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        st = p.lstat()
        out[str(p.relative_to(root))] = (p.is_symlink(), p.is_dir(), st.st_size,
                                         st.st_mtime_ns)
    return out


# ------------------------------------------------------------------------- 1. containment
@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "..", "x" * (MAX_NAME + 1),
                                  "a b", "a\x00b", "-rf"])
def test_check_name_refuses(name):
    with pytest.raises(DataError):
        check_name(name)


def test_check_name_accepts_and_long_names_say_so():
    assert check_name("mf-n_factors=20+x.1") == "mf-n_factors=20+x.1"
    with pytest.raises(DataError, match="300 characters long"):
        check_name("a" * 300)


def test_inside_refuses_escapes_through_dots_and_links(tmp_path):
    root = tmp_path / "root"
    (root / "ok").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    assert inside(root, "ok", "new") == root / "ok" / "new"
    for parts in (("..", "outside"), ("link",), ("link", "x"), ("ok", "..", "..", "x")):
        with pytest.raises(DataError, match="outside its folder"):
            inside(root, *parts)


def test_hostile_dataset_meta_name_writes_and_deletes_nothing(toy, home, tmp_path):
    # A dataset folder whose meta.json names a path: every command refuses it up front.
    evil = tmp_path / "elsewhere" / "evil"
    shutil.copytree(toy.path, evil)
    meta = json.loads((evil / "meta.json").read_text())
    meta["name"] = "../../x"
    (evil / "meta.json").write_text(json.dumps(meta))
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "keep.npy").write_bytes(b"precious")
    before = snapshot(tmp_path, skip=home)
    for args in (["train", "baseline", "--data", str(evil)],
                 ["probes", "rm", "--data", str(evil), "baseline"],
                 ["leaderboard", "--data", str(evil)]):
        proc = run_prize(*args, home=home, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "dataset name" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(tmp_path, skip=home) == before
    assert not (home / "probes").exists() or not any((home / "probes").rglob("*.npy"))


def test_dataset_folder_must_bear_its_name(toy, tmp_path):
    moved = tmp_path / "renamed"
    shutil.copytree(toy.path, moved)
    with pytest.raises(DataError, match="folder is named 'renamed'"):
        open_dataset(moved)


def test_hostile_predictor_name_refused_before_training(toy, home, tmp_path):
    before = snapshot(tmp_path, skip=home)
    proc = run_prize("train", "mf", "--data", "toy", "--name", "../../../victim",
                     "--set", "n_epochs=50", home=home, check=False)
    assert proc.returncode == 2 and "bad predictor name" in proc.stderr, proc.stderr
    assert not (home / "checkpoints").exists() and not (home / "probes").exists()
    assert snapshot(tmp_path, skip=home) == before
    proc = run_prize("train", "baseline", "--data", "toy", "--name", "a" * 300, home=home,
                     check=False)
    assert proc.returncode == 2 and "300 characters long" in proc.stderr, proc.stderr


def test_symlinked_store_folders_are_refused(toy, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "meta.json").write_text("{}")
    (outside / "old.npy").write_bytes(b"x")
    (home / "probes").mkdir()
    (home / "probes" / "toy").symlink_to(outside)
    before = snapshot(tmp_path, skip=home)
    store = ProbeStore(home / "probes")
    with pytest.raises(DataError, match="outside its folder"):
        store.write(toy, "p", arrays(toy), {})
    with pytest.raises(DataError, match="outside its folder"):
        store.remove("toy", "p")
    (home / "probes" / "toy").unlink()
    (home / "probes" / "toy").mkdir()
    (home / "probes" / "toy" / "p").symlink_to(outside)
    with pytest.raises(DataError, match="outside its folder"):
        store.remove("toy", "p")
    proc = run_prize("probes", "rm", "--data", "toy", "p", home=home, check=False)
    assert proc.returncode == 2
    assert snapshot(tmp_path, skip=home) == before


def test_symlinked_dataset_and_checkpoint_folders_are_refused(toy, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "data" / "linked").symlink_to(outside)
    (home / "checkpoints").mkdir()
    (home / "checkpoints" / "toy").symlink_to(outside)
    before = snapshot(tmp_path, skip=home)
    src = home / "toy.csv"
    proc = run_prize("data", "import", "csv", str(src), "--name", "linked", "--force",
                     home=home, check=False)
    assert proc.returncode == 2, proc.stderr
    proc = run_prize("train", "mf", "--data", "toy", "--set", "n_epochs=1", home=home,
                     check=False)
    assert proc.returncode == 2 and "outside its folder" in proc.stderr, proc.stderr
    assert snapshot(tmp_path, skip=home) == before


def test_set_with_a_hostile_predictor_name_is_refused(tmp_path):
    from prize.errors import ConfigError
    from prize.runs.sets import load_set

    bad = tmp_path / "bad.toml"
    bad.write_text('[[predictor]]\nname = "../x"\nfamily = "baseline"\n')
    with pytest.raises(ConfigError, match="bad predictor name"):
        load_set(bad)
    bad.write_bytes(b"\x00\xff\xfe binary")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_set(bad)


# -------------------------------------------------------------------- 2. concurrent writers
_WRITER = """
import sys
import numpy as np
from prize.data import open_dataset
from prize.probes import ProbeStore
home, k = sys.argv[1], int(sys.argv[2])
ds = open_dataset(home + "/data/toy")
store = ProbeStore(home + "/probes")
c = ds.meta["counts"]
for j in range(3):
    v = np.float32(1 + (k * 3 + j) / 100)
    store.write(ds, "race", {"probe": np.full(c["probe"], v, np.float32),
                             "qualifying": np.full(c["qualifying"], v, np.float32)},
                {"family": "test", "extra_writer": k})
"""


def test_twenty_racing_writers_leave_one_whole_version(toy, home):
    # 20 processes writing one predictor 3 times each; without the lock each one's clean-up
    # deleted files of the version another had just committed.
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(home), str(k)], env=env,
                              stderr=subprocess.PIPE, text=True) for k in range(20)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = ProbeStore(home / "probes")
    m = store.meta("toy", "race")
    probe = np.asarray(store.read(toy, "race", "probe"))
    qual = np.asarray(store.read(toy, "race", "qualifying"))
    # One writer's version, whole: both arrays hold its value.
    assert len(np.unique(probe)) == 1 and probe[0] == qual[0]
    folder = home / "probes" / "toy" / "race"
    files = {p.name for p in folder.iterdir()}
    assert set(m.files.values()) <= files
    assert {f for f in files if f.startswith(".")} <= {".lock"}
    # The current version and at most the one it replaced.
    assert len([f for f in files if f.endswith(".npy")]) <= 4
    assert store.problem(toy, m) == ("ok", None)


def test_remove_while_a_writer_waits(toy, home):
    import threading

    store = ProbeStore(home / "probes")
    store.write(toy, "p", arrays(toy), {})
    removed = threading.Event()
    remover = threading.Thread(target=lambda: store.remove("toy", "p") and removed.set())
    with store.locked("toy", "p"):  # a writer holds the lock: the removal waits for it
        remover.start()
        assert not removed.wait(0.3)
        assert store.meta("toy", "p") is not None
    remover.join(timeout=30)
    assert removed.is_set()
    assert store.meta("toy", "p") is None
    store.write(toy, "p", arrays(toy, 2.0), {})
    assert (np.asarray(store.read(toy, "p")) == 2.0).all()


def test_resplit_during_training_stores_nothing(toy, home):
    # The dataset is re-split between opening and the store write: refused, not misaligned.
    from prize.data.split import resplit

    ds = open_dataset(home / "data" / "toy")
    resplit(open_dataset(home / "data" / "toy"), ds.path, protocol="netflix", seed=7)
    store = ProbeStore(home / "probes")
    with pytest.raises(DataError, match="changed while this job ran"):
        store.write(ds, "p", arrays(ds), {})
    assert store.meta("toy", "p") is None


# --------------------------------------------------------------- 3. atomic replacement
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_forced_reimport_swaps_in_one_step_and_leaves_nothing(toy, home):
    before = toy.fingerprint
    run_prize("data", "import", "csv", str(home / "toy.csv"), "--name", "toy", "--force",
              "--seed", "3", home=home)
    assert open_dataset(home / "data" / "toy").fingerprint != before
    assert [p.name for p in (home / "data").iterdir()] == ["toy"]


def test_replacement_without_exchange_and_interrupted_blocks(tmp_path, monkeypatch):
    from prize import _atomic

    target = tmp_path / "d"
    with _atomic.atomic_dir(target) as t:
        (t / "f").write_text("1")
    monkeypatch.setattr(_atomic, "_exchange", lambda a, b: False)  # the two-rename path
    with _atomic.atomic_dir(target, overwrite=True) as t:
        (t / "f").write_text("2")
    assert (target / "f").read_text() == "2"
    with pytest.raises(KeyboardInterrupt), _atomic.atomic_dir(target, overwrite=True) as t:
        (t / "f").write_text("3")
        raise KeyboardInterrupt
    assert (target / "f").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_leftovers_of_dead_writers_are_cleaned_at_the_next_start(toy, home):
    from prize._atomic import _HOST

    data = home / "data"
    dead = _dead_pid()
    # A dataset set aside for a replacement that never came (killed between two renames).
    aside = data / f".toy.old-{_HOST}-{dead}-0123abcd"
    os.replace(data / "toy", aside)
    half = data / f".toy.tmp-{_HOST}-{dead}-89abcdef"  # a half-built import
    half.mkdir()
    live = data / f".other.tmp-{_HOST}-{os.getpid()}-00000000"  # a running writer's
    live.mkdir()
    ckpt = home / "checkpoints" / "toy" / "mf"
    ckpt.mkdir(parents=True)
    stale_ckpt = ckpt / f".probe.npz.tmp-{_HOST}-{dead}-11111111"
    stale_ckpt.write_bytes(b"half")
    proc = run_prize("-v", "data", "list", home=home)
    assert "restored" in proc.stderr
    assert (data / "toy" / "meta.json").is_file()
    assert not aside.exists() and not half.exists() and not stale_ckpt.exists()
    assert live.exists()
    assert open_dataset(data / "toy").fingerprint == toy.fingerprint


def test_data_list_shows_a_broken_dataset_beside_the_good_ones(toy, home):
    broken = home / "data" / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text('{"name": "broken", "counts": ')  # cut short
    out = run_prize("data", "list", home=home).stdout
    assert "toy" in out and "broken" in out and "BROKEN" in out and "--force" in out
    listed = run_prize("data", "list", "--json", home=home, json_out=True)["datasets"]
    by_name = {d["name"]: d for d in listed}
    assert by_name["toy"]["rows"] == len(toy) and "error" in by_name["broken"]


# ----------------------------------------------------------------------------- 4. readers
def test_readers_mark_stale_and_broken_predictors(toy, home):
    store = ProbeStore(home / "probes")
    for name in ("good", "stale", "truncated", "nan", "deleted", "corrupt",
                 "knn-cinematch-proxy"):
        store.write(toy, name, arrays(toy, 3.5), {"family": "test", "quiz_rmse": 0.9,
                                                   "probe_rmse": 0.9, "test_rmse": 0.9})
    folder = home / "probes" / "toy"

    def files(name):
        return json.loads((folder / name / "meta.json").read_text())["files"]

    for name in ("stale", "knn-cinematch-proxy"):  # made on another version of the data
        meta = json.loads((folder / name / "meta.json").read_text())
        meta["dataset_fingerprint"] = "0" * 16
        (folder / name / "meta.json").write_text(json.dumps(meta))
    p = folder / "truncated" / files("truncated")["probe"]
    p.write_bytes(p.read_bytes()[:-40])
    q = folder / "nan" / files("nan")["qualifying"]
    a = np.load(q)
    a[0] = np.nan
    np.save(q, a)
    (folder / "deleted" / files("deleted")["probe"]).unlink()
    (folder / "corrupt" / "meta.json").write_text('{"name": "corrupt", ')
    lb = run_prize("leaderboard", "--data", "toy", "--json", home=home, json_out=True)
    status = {r["name"]: r["status"] for r in lb["rows"]}
    assert status == {"good": "ok", "stale": "stale", "truncated": "broken", "nan": "broken",
                      "deleted": "broken", "corrupt": "broken",
                      "knn-cinematch-proxy": "stale"}
    assert lb["rows"][0]["name"] == "good" and lb["rows"][0]["rank"] == 1
    assert all(r["rank"] is None and r["improvement"] is None and r["problem"]
               for r in lb["rows"][1:])
    assert lb["reference"]["status"] == "stale" and lb["reference"]["quiz"] is None
    text = run_prize("leaderboard", "--data", "toy", home=home).stdout
    assert "not ranked" in text and "corrupt: broken: predictor 'corrupt': unreadable" in text
    listed = run_prize("probes", "list", "--data", "toy", "--json", home=home, json_out=True)
    assert {p["name"]: p["status"] for p in listed["predictors"]} == status
    proc = run_prize("score", "--data", "toy", "corrupt", home=home, check=False)
    assert proc.returncode == 2 and "corrupt/meta.json" in proc.stderr, proc.stderr


# -------------------------------------------------------------------------- 5. submissions
def _valid_submission(ds) -> list[str]:
    from prize.submission import format_submission

    pred = np.full(ds.count("qualifying"), 3.25, np.float32)
    return format_submission(ds, pred).decode().splitlines()


def test_submission_writer_refuses_damaged_predictions(toy, tmp_path):
    from prize.submission import write_submission

    for bad in (np.nan, np.inf, 7.5, 0.2):
        pred = np.full(toy.count("qualifying"), 3.0, np.float32)
        pred[5] = bad
        with pytest.raises(DataError, match="not numbers from 1 to 5"):
            write_submission(toy, pred, tmp_path / "s.txt", ["x"])
    assert not (tmp_path / "s.txt").exists()


@pytest.mark.parametrize("edit, line, problem", [
    (lambda ls: [x if x.endswith(":") else f"junk,{x}" for x in ls], 2, "not a number"),
    (lambda ls: ls[:2] + ["3.1 junk"] + ls[3:], 3, "not a number"),
    (lambda ls: ls[:2] + ["nan"] + ls[3:], 3, "not a number"),
    (lambda ls: ls[:3] + ["9.5"] + ls[4:], 4, "out of range"),
    (lambda ls: ls[:2] + [""] + ls[3:], 3, "not a number"),
    (lambda ls: ls[:2] + ["1.2.3"] + ls[3:], 3, "not a number"),
    (lambda ls: ["garbage"] + ls[1:], 1, "not a movie header"),
    (lambda ls: ls[:1] + ["99999:"] + ls[2:], 2, "fewer than"),
])
def test_submission_checker_names_the_bad_line(toy, tmp_path, edit, line, problem):
    from prize.submission import read_submission

    lines = _valid_submission(toy)
    f = tmp_path / "s.txt"
    f.write_text("\n".join(lines) + "\n")
    assert len(read_submission(toy, f)) == toy.count("qualifying")
    f.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(DataError, match=problem) as e:
        read_submission(toy, f)
    assert e.value.line == line
    assert e.value.text == edit(lines)[line - 1]


# ----------------------------------------------------------------- 9. cluster addresses
@pytest.mark.parametrize("address", ["tcp://10.0.0.1@127.0.0.1:8786", "tcp://u:p@127.0.0.1:1",
                                     "tcp://127.0.0.1:8786/x", "tcp://127.0.0.1:99999",
                                     "tcp://127.0.0.1:8786?x=1", "tcp://127.0.0.1:port",
                                     "tls://a@host:1", "tcp:// 127.0.0.1:1"])
def test_cluster_address_parsed_strictly(address):
    from prize.errors import ConfigError
    from prize.runs.executors import check_address

    with pytest.raises(ConfigError):
        check_address(address, insecure=False)


def test_cluster_address_loopback_still_passes():
    from prize.runs.executors import check_address

    for ok in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "tcp://[::1]:8786", "tls://h:8786"):
        check_address(ok, insecure=False)


def test_too_many_local_workers_refused_at_once():
    from prize.errors import ConfigError
    from prize.runs.executors import make_executor, max_workers

    for spec in ("local:100000", "pool:100000", f"local:{max_workers() + 1}", "local:0"):
        with pytest.raises(ConfigError, match="N from 1 to"):
            make_executor(spec)


# ------------------------------------------------------------------- 11. honest protocol
def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_no_test_score_without_reveal_and_retrain_needs_force(toy, home):
    r = run_prize("train", "baseline", "--data", "toy", "--json", "--name", "b", home=home,
                  json_out=True)
    assert not any(k.startswith("test") for k in _keys(r)) and r["quiz_rmse"] is not None
    r = run_prize("train", "baseline", "--data", "toy", "--json", "--reveal", "--name", "b",
                  home=home, json_out=True)
    assert "test_rmse" in r
    # The same settings again: fine. Other settings under the same name: --force.
    proc = run_prize("train", "baseline", "--data", "toy", "--config", "global_mean",
                     "--name", "b", home=home, check=False)
    assert proc.returncode == 2 and "--force" in proc.stderr, proc.stderr
    run_prize("train", "baseline", "--data", "toy", "--config", "global_mean", "--name", "b",
              "--force", home=home)
    # The leaderboard: no test figure, of a predictor or of the reference, without --reveal.
    meta_path = home / "data" / "toy" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["reference"] = {"name": "Cinematch", "kind": "official", "quiz": 0.9514,
                         "test": 0.9525}
    meta_path.write_text(json.dumps(meta))
    lb = run_prize("leaderboard", "--data", "toy", "--json", home=home, json_out=True)
    assert not any(k.startswith("test") for k in _keys(lb)), lb
    assert "0.9525" not in run_prize("leaderboard", "--data", "toy", home=home).stdout
    lb = run_prize("leaderboard", "--data", "toy", "--json", "--reveal", home=home,
                   json_out=True)
    assert lb["reference"]["test"] == 0.9525


def test_rounds_are_ranked_apart(toy, home):
    from prize.leaderboard import table

    store = ProbeStore(home / "probes")
    store.write(toy, "fin", arrays(toy), {"round": "final", "probe_rmse": 0.80})
    store.write(toy, "pr", arrays(toy), {"round": "probe", "probe_rmse": 0.85})
    t = table(toy, store)
    assert [(r["name"], r["round"], r["rank"]) for r in t["rows"]] == [
        ("pr", "probe", 1), ("fin", "final", 1)]


# --------------------------------------------------------------------------- 12. interrupts
def test_quiet_hides_progress_not_results(toy, home):
    proc = run_prize("-q", "train", "baseline", "--data", "toy", "--name", "b", home=home)
    assert "probe RMSE" in proc.stdout
    proc = run_prize("-q", "score", "--data", "toy", "b", home=home)
    assert "probe" in proc.stdout and "quiz" in proc.stdout


def test_ctrl_c_exits_130_with_the_resume_command(toy, home):
    import signal
    import time

    env = dict(os.environ, PRIZE_HOME=str(home))
    args = ["train", "mf", "--data", "toy", "--set", "n_epochs=100000", "--set", "threads=1",
            "--set", "early_stopping=false"]  # the default stops early: train on until Ctrl-C
    # A suite started in the background (`make test &`) inherits SIGINT ignored, and so
    # would the child: give it the default disposition, as an interactive shell does.
    proc = subprocess.Popen([sys.executable, "-m", "prize", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ckpt = home / "checkpoints" / "toy" / "mf" / "probe.npz"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists()
    time.sleep(0.5)  # well inside the epochs, past every first-call compilation
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert ("prize train mf --data toy --set n_epochs=100000 --set threads=1 --set "
            "early_stopping=false --resume") in err
    assert "Aborted" not in err and "Traceback" not in err
    assert not [p for p in (home / "checkpoints").rglob(".*")]
    assert not [p for p in (home / "probes").rglob(".*") if p.name != ".lock"] \
        if (home / "probes").exists() else True


# ------------------------------------------------------------------------------ 7. settings
@pytest.mark.parametrize("setting, message", [
    ("lr=nan", "lr = nan: expected a finite number"),
    ("lr=-0.01", "lr = -0.01: expected a number > 0"),
    ("lr=inf", "lr = inf: expected a finite number"),
    ("reg=-1", "reg = -1.0: expected a number >= 0"),
    ("init_std=-0.1", "init_std = -0.1: expected a number >= 0"),
    ("seed=-1", "seed = -1: expected an integer >= 0"),
    ("threads=100000", "threads = 100000: expected at most"),
])
def test_bad_settings_refused_at_start(setting, message):
    from prize.errors import ConfigError
    from prize.models import make_predictor

    with pytest.raises(ConfigError, match=message):
        make_predictor("mf", None, [setting])


def test_rbm_threads_capped_and_every_family_checked():
    from prize.errors import ConfigError
    from prize.models import make_predictor

    with pytest.raises(ConfigError, match="threads = 100000"):
        make_predictor("rbm", None, ["threads=100000"])
    for family in ("svdpp", "timesvdpp", "nsvd", "rbm"):
        with pytest.raises(ConfigError, match="lr = nan"):
            make_predictor(family, None, ["lr=nan"])


def test_bad_settings_from_the_cli_exit_2_before_training(toy, home, tmp_path):
    proc = run_prize("train", "mf", "--data", "toy", "--set", "lr=nan", home=home, check=False)
    assert proc.returncode == 2 and "lr = nan" in proc.stderr and "try --set" not in proc.stderr
    assert not (home / "checkpoints").exists()
    proc = run_prize("train", "mf", "--data", "toy", "--set", "n_factors=1000000000",
                     home=home, check=False)
    assert proc.returncode == 2 and "GiB of memory" in proc.stderr, proc.stderr
    binary = tmp_path / "bin.toml"
    binary.write_bytes(bytes(range(256)))
    proc = run_prize("train", "mf", "--data", "toy", "--config", str(binary), home=home,
                     check=False)
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr, proc.stderr


def test_full_disk_is_one_clear_line(toy, home, monkeypatch, capsys):
    import errno

    from prize import probes
    from prize.cli import main

    def full(path, array):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(probes, "write_npy", full)
    with pytest.raises(SystemExit) as e:
        main(["train", "baseline", "--data", "toy"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "No space left on device" in err and "free some space" in err
    assert "Traceback" not in err
    assert not [p for p in (home / "probes").rglob("*.npy")]


@pytest.mark.parametrize("family, setting, what", [
    ("rbm", "n_hidden=100000000", "the RBM with n_hidden = 100000000"),
    ("knn", "n_factors=100000000", "the integrated model with n_factors = 100000000"),
])
def test_huge_models_get_a_memory_estimate_not_an_allocation(toy, home, family, setting,
                                                             what):
    config = ["--config", "integrated"] if family == "knn" else []
    r = run_prize("train", family, "--data", "toy", *config, "--set", setting, home=home,
                  check=False)
    assert r.returncode == 2 and what in r.stderr and "GiB of memory" in r.stderr


def test_a_bad_set_value_is_reported_as_the_set_not_the_file(toy, home):
    r = run_prize("train", "mf", "--data", "toy", "--set", "lr=-0.01", home=home, check=False)
    assert r.returncode == 2 and "--set lr=-0.01: lr = -0.01: expected a number > 0" in r.stderr
