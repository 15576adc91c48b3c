"""Many trainings through the executor seam: a Dask LocalCluster gives the same store as the
in-process run, a worker killed mid-task is retried elsewhere, the CLI guards open ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_toy_dataset, run_prize

from prize.errors import ConfigError
from prize.probes import ProbeStore
from prize.runs.executors import make_executor
from prize.runs.sets import load_set, run_set, train_task

SET = """
name = "mini"
[[predictor]]
name = "biases"
family = "baseline"
config = "biases"
keep_train = true
[[predictor]]
name = "mf"
family = "mf"
set = ["n_factors=8", "n_epochs=4"]
[[predictor]]
name = "svdpp"
family = "svdpp"
set = ["n_factors=4", "n_epochs=3"]
[[predictor]]
name = "ge-on-biases"
family = "baseline"
config = "global_effects"
residuals_of = "biases"
"""


def test_cli_without_dask_does_not_import_it():
    code = ("import sys\nfrom prize.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('dask' in sys.modules or 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().endswith("False")


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "192.168.1.2:8786",
                                     "tcp://example.com:8786"])
def test_plain_tcp_off_loopback_is_refused(address, home):
    with pytest.raises(ConfigError, match="remote code execution"):
        from prize.runs.executors import check_address

        check_address(address, insecure=False)
    make_toy_dataset(home)
    proc = run_prize("leaderboard", "run", "--data", "toy", "--cluster", address, home=home,
                     check=False)
    assert proc.returncode == 2 and "--insecure" in proc.stderr


def test_loopback_and_tls_addresses_pass():
    from prize.runs.executors import check_address

    check_address("tcp://127.0.0.1:8786", insecure=False)
    check_address("tls://scheduler.example.org:8786", insecure=False)
    check_address("tcp://10.0.0.5:8786", insecure=True)


def _store_arrays(home: Path) -> dict:
    out = {}
    for meta in sorted((home / "probes" / "toy").glob("*/meta.json")):
        for f in meta.parent.glob("*.npy"):
            out[(meta.parent.name, f.name.split("-")[0])] = np.load(f)
    return out


@pytest.mark.slow
def test_local_cluster_matches_in_process(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "mini.toml").write_text(SET)
    pset = load_set(tmp_path / "mini.toml")
    homes = []
    for kind in (None, "local:2"):
        home = tmp_path / (kind or "inproc").replace(":", "")
        make_toy_dataset(home)
        executor, info = make_executor(kind)
        try:
            results = run_set(pset, home=home, data="toy", executor=executor, progress=False)
        finally:
            executor.shutdown()
            if info.get("close"):
                info["close"]()
        assert all(r["ok"] for r in results), results
        homes.append(home)
    a, b = (_store_arrays(h) for h in homes)
    assert a.keys() == b.keys() and len(a) == 4 * 2 + 1  # probe + qualifying, biases' train
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)
    # A second run finds everything up to date and trains nothing.
    again = run_set(pset, home=homes[0], data="toy", progress=False)
    assert again == []


def die_once_then_train(home, data, spec, round_, progress, threads):
    """Kills its own worker process the first time it runs for a predictor."""
    marker = Path(home) / f"killed-{spec['name']}"
    if spec["name"] == "mf" and not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return train_task(home, data, spec, round_, progress, threads)


def always_die(home, data, spec, round_, progress, threads):
    if spec["name"] == "mf":
        os.kill(os.getpid(), signal.SIGKILL)
    return train_task(home, data, spec, round_, progress, threads)


@pytest.mark.slow
@pytest.mark.parametrize("task", [die_once_then_train, always_die])
def test_worker_killed_mid_task(task, tmp_path):
    pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    (tmp_path / "mini.toml").write_text(SET)
    home = tmp_path / "home"
    make_toy_dataset(home)
    executor, info = make_executor("local:2")
    try:
        results = run_set(load_set(tmp_path / "mini.toml"), home=home, data="toy",
                          executor=executor, progress=False, task=task)
    finally:
        executor.shutdown()
        info["close"]()
    by_name = {r["name"]: r for r in results}
    others = [n for n in by_name if n != "mf"]
    assert all(by_name[n]["ok"] for n in others), results  # the other tasks finish
    folder = home / "probes" / "toy" / "mf"
    if task is die_once_then_train:
        assert by_name["mf"]["ok"]  # retried on another worker
        assert (folder / "meta.json").is_file()
    else:
        assert not by_name["mf"]["ok"] and "mf" == by_name["mf"]["name"]
        assert by_name["mf"]["error"] and by_name["mf"]["traceback"]
        assert not (folder / "meta.json").exists()  # nothing half-written reaches the store


def test_workers_sharing_this_machine_get_one_thread_each():
    # The thread rule lives in make_executor, so every command that runs tasks keeps to it.
    executor, info = make_executor(None)
    assert "task_threads" not in info
    executor, info = make_executor("pool:1")
    try:
        assert info["task_threads"] == 1
    finally:
        executor.shutdown()


BASE = """
name = "chain"
[[predictor]]
name = "biases"
family = "baseline"
config = "biases"
keep_train = true
set = ["reg_item={reg}"]
"""
CHAIN = BASE + """
[[predictor]]
name = "ge-on-biases"
family = "baseline"
config = "global_effects"
residuals_of = "biases"
[[predictor]]
name = "mean"
family = "baseline"
config = "global_mean"
"""


def test_a_retrained_base_retrains_what_was_fitted_on_its_residuals(tmp_path):
    """Changing a base's config retrains it and, in both rounds, the predictor fitted on its
    residuals (whose own config did not change); a base retrained outside the set marks it
    stale too. The rest stays as stored."""
    home = tmp_path / "home"
    make_toy_dataset(home)

    def run(reg, final=True):
        (tmp_path / "chain.toml").write_text(CHAIN.format(reg=reg))
        got = run_set(load_set(tmp_path / "chain.toml"), home=home, data="toy",
                      final=final, progress=False)
        assert all(r["ok"] for r in got), got
        return sorted((r["round"], r["name"]) for r in got)

    every = sorted((r, n) for r in ("probe", "final") for n in ("biases", "ge-on-biases", "mean"))
    assert run(10.0) == every
    assert run(10.0) == []
    assert run(20.0) == [(r, n) for r in ("final", "probe") for n in ("biases", "ge-on-biases")]
    store = ProbeStore(home / "probes")
    base, dep = store.meta("toy", "biases"), store.meta("toy", "ge-on-biases")
    assert dep.extra["base_files"] == {k: base.files[k] for k in ("train", "probe",
                                                                  "qualifying")}
    # the base alone, retrained as another set would: only the dependent follows
    (tmp_path / "base.toml").write_text(BASE.format(reg=30.0))
    run_set(load_set(tmp_path / "base.toml"), home=home, data="toy", final=True,
            progress=False)
    assert run(30.0) == [("final", "ge-on-biases"), ("probe", "ge-on-biases")]
