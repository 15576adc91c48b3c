"""Submissions: the official format, and a checker that names the first problem's line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_prize

from prize.data import open_dataset
from prize.errors import DataError
from prize.submission import blocks, check_submission, read_submission, write_submission


@pytest.fixture
def sub(toy, tmp_path):
    rng = np.random.default_rng(0)
    pred = rng.uniform(1, 5, toy.meta["counts"]["qualifying"]).astype(np.float32)
    path = tmp_path / "s.txt"
    write_submission(toy, pred, path, ["x"])
    return path, pred


def test_round_trip_and_manifest(toy, sub):
    path, pred = sub
    np.testing.assert_allclose(read_submission(toy, path), pred, atol=5e-5)
    movies, counts = blocks(toy)
    lines = path.read_text().splitlines()
    assert lines[0] == f"{movies[0]}:" and len(lines) == len(movies) + counts.sum()
    manifest = json.loads(path.with_name("s.txt.json").read_text())
    assert manifest["dataset_fingerprint"] == toy.fingerprint and manifest["predictors"] == ["x"]
    r = check_submission(toy, path)
    assert r["valid"] and r["quiz_rmse"] > 0 and "test_rmse" not in r


def mutate(path, fn):
    lines = path.read_text().splitlines()
    lines = fn(lines)
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def second_block_header(toy) -> int:
    _, counts = blocks(toy)
    return int(counts[0]) + 1  # 0-based line index of block 2's header


@pytest.mark.parametrize("case", ["truncated", "wrong header", "non-numeric", "out of range",
                                  "missing prediction", "extra line", "empty"])
def test_checker_names_the_first_problem(case, toy, sub):
    path, _ = sub
    h2 = second_block_header(toy)
    movies, counts = blocks(toy)
    if case == "truncated":
        mutate(path, lambda L: L[:-3])
        line, msg = len(path.read_text().splitlines()), "file ends early"
    elif case == "wrong header":
        mutate(path, lambda L: L[:h2] + ["99999:"] + L[h2 + 1:])
        line, msg = h2 + 1, "wrong movie header"
    elif case == "non-numeric":
        mutate(path, lambda L: L[:2] + ["abc"] + L[3:])
        line, msg = 3, "not a number"
    elif case == "out of range":
        mutate(path, lambda L: L[:2] + ["7.5"] + L[3:])
        line, msg = 3, "prediction out of range"
    elif case == "missing prediction":
        mutate(path, lambda L: L[:1] + L[2:])
        line, msg = h2, f"movie {movies[0]}: fewer than {counts[0]} predictions"
    elif case == "extra line":
        mutate(path, lambda L: L + ["3.0"])
        line, msg = len(path.read_text().splitlines()), "extra lines"
    else:
        path.write_text("")
        line, msg = None, "empty file"
    with pytest.raises(DataError) as e:
        read_submission(toy, path)
    assert msg in str(e.value)
    assert e.value.line == line


def test_cli_submit_and_check(toy, home, tmp_path):
    run_prize("-q", "train", "baseline", "--data", "toy", "--config", "movie_mean", home=home)
    out = tmp_path / "sub.txt"
    run_prize("submit", "--data", "toy", "--predictor", "baseline-movie_mean", "--out",
              str(out), home=home)
    r = run_prize("submit", "--data", "toy", "--check", str(out), "--json", home=home,
                  json_out=True)
    stored = open_dataset(toy.path)
    assert r["valid"] and r["pairs"] == stored.meta["counts"]["qualifying"]
    mutate(out, lambda L: L[:-1] + ["five"])
    proc = run_prize("submit", "--data", "toy", "--check", str(out), home=home, check=False)
    assert proc.returncode == 2 and f"sub.txt:{len(out.read_text().splitlines())}:" in proc.stderr
