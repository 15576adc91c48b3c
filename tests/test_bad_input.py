"""Every bad-input case: exit code 2, a message naming file, line, text and what was
expected, and nothing left on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import dataset_pairs, leftovers, run_prize

from prize.cli import main

GOOD_MV2 = "2:\n7,3,2005-01-02\n5,4,2005-01-03\n"


def netflix_tree(root: Path, mv1: str, probe: str | None = None, qualifying: str | None = None,
                 mv1_name: str = "mv_0000001.txt") -> Path:
    (root / "training_set").mkdir(parents=True)
    (root / "training_set" / mv1_name).write_text(mv1)
    (root / "training_set" / "mv_0000002.txt").write_text(GOOD_MV2)
    if probe is not None:
        (root / "probe.txt").write_text(probe)
    if qualifying is not None:
        (root / "qualifying.txt").write_text(qualifying)
    return root


def run_main(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err


OK_MV1 = "1:\n5,3,2005-01-01\n6,3,2005-01-01\n"

NETFLIX_CASES = {
    # case: (mv_0000001.txt, probe, qualifying, file in message, line, problem, text)
    "wrong number of fields": (
        "1:\n5,3,2005-01-01\n6,3,2005-01-01,9\n", None, None,
        "mv_0000001.txt", 3, "wrong number of fields: 4", "6,3,2005-01-01,9"),
    "too few fields": (
        "1:\n5,3,2005-01-01\n6,3\n8,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 3, "wrong number of fields: 2", "6,3"),
    "rating out of range": (
        "1:\n5,3,2005-01-01\n6,7,2005-01-01\n", None, None,
        "mv_0000001.txt", 3, "rating 7 out of range", "6,7,2005-01-01"),
    "rating zero": (
        "1:\n5,0,2005-01-01\n6,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 2, "rating 0 out of range", "5,0,2005-01-01"),
    "malformed date": (
        "1:\n5,3,2005-01-01\n6,3,2005/01/02\n", None, None,
        "mv_0000001.txt", 3, "malformed date", "6,3,2005/01/02"),
    "impossible date": (
        "1:\n5,3,2005-02-30\n6,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 2, "malformed date: no such day", "5,3,2005-02-30"),
    "rating before header": (
        "5,3,2005-01-01\n1:\n6,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 1, "rating line before any MovieID: header", "5,3,2005-01-01"),
    "header of another movie": (
        "3:\n5,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 1, "the header does not match the file name", "3:"),
    "duplicate (user, movie)": (
        "1:\n5,3,2005-01-01\n6,3,2005-01-01\n5,4,2005-01-09\n", None, None,
        "mv_0000001.txt", 4, "duplicate (user, movie)", "5,4,2005-01-09"),
    "truncated mid-line": (
        "1:\n5,3,2005-01-01\n6,3,2005-0", None, None,
        "mv_0000001.txt", 3, "(the file may be truncated)", "6,3,2005-0"),
    "truncated after header": (
        "1:\n", None, None,
        "mv_0000001.txt", 1, "file ends right after a MovieID header", "1:"),
    "empty line": (
        "1:\n5,3,2005-01-01\n\n6,3,2005-01-01\n", None, None,
        "mv_0000001.txt", 3, "empty line", ""),
    "probe user unknown": (
        OK_MV1, "1:\n5\n99\n", None, "probe.txt", 3, "unknown customer 99", None),
    "probe movie unknown": (
        OK_MV1, "1:\n5\n4:\n5\n", None, "probe.txt", 4, "unknown movie 4", None),
    "probe pair without rating": (
        OK_MV1, "1:\n5\n2:\n6\n", None, "probe.txt", 4, "has no training rating", None),
    "qualifying user unknown": (
        OK_MV1, None, "1:\n7,2005-02-01\n2:\n42,2005-02-01\n", "qualifying.txt", 4,
        "unknown customer 42", None),
    "qualifying pair also rated": (
        OK_MV1, None, "2:\n6,2005-02-01\n1:\n5,2005-02-02\n", "qualifying.txt", 4,
        "duplicate (user, movie)", None),
    "qualifying malformed date": (
        OK_MV1, None, "2:\n6,2005-02-01\n1:\n7,02/02/2005\n", "qualifying.txt", 4,
        "malformed date", "7,02/02/2005"),
}


@pytest.mark.parametrize("case", list(NETFLIX_CASES))
def test_netflix_bad_input(case, tmp_path, home, capsys):
    mv1, probe, qualifying, fname, line, problem, text = NETFLIX_CASES[case]
    src = netflix_tree(tmp_path / "src", mv1, probe, qualifying)
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2, err
    assert f"{fname}:{line}:" in err
    assert problem in err
    if text:
        assert repr(text) in err
    assert "expected" in err
    assert leftovers(home / "data") == []


@pytest.mark.parametrize("content,problem", [("", "empty file"), ("\n\n", "empty line")])
def test_empty_files(content, problem, tmp_path, home, capsys):
    src = netflix_tree(tmp_path / "src", content)
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2 and problem in err and "mv_0000001.txt" in err
    assert leftovers(home / "data") == []


def test_empty_probe_file(tmp_path, home, capsys):
    src = netflix_tree(tmp_path / "src", OK_MV1, probe="")
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2 and "probe.txt: empty file" in err


def test_skip_bad_lines_counts_and_reports(tmp_path, home, capsys):
    mv1 = "1:\n5,3,2005-01-01\n6,3,2005-01-01,9\n6,x,2005-01-01\n8,9,2005-01-01\n9,2,2005-01-01\n"
    src = netflix_tree(tmp_path / "src", mv1)
    main(["data", "import", "netflix", str(src), "--name", "x", "--skip-bad-lines", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["ratings"] == 2 + 2  # two good lines in mv1, two in mv2
    assert report["bad_lines"]["total"] == 3
    assert set(report["bad_lines"]["by_problem"]) == {
        "wrong number of fields: 4", "malformed Rating", "rating 9 out of range"}


def test_exit_code_two_from_a_real_process(tmp_path, home):
    src = netflix_tree(tmp_path / "src", "1:\n5,3,2005-01-01\n6,3,2005-13-01\n")
    proc = run_prize("data", "import", "netflix", str(src), "--name", "x", home=home,
                     check=False)
    assert proc.returncode == 2
    assert "mv_0000001.txt:3:" in proc.stderr and "'6,3,2005-13-01'" in proc.stderr
    assert leftovers(home / "data") == []


def test_existing_dataset_needs_force(tmp_path, home, capsys):
    src = netflix_tree(tmp_path / "src", OK_MV1)
    main(["-q", "data", "import", "netflix", str(src), "--name", "x"])
    before = (home / "data" / "x" / "meta.json").read_text()
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2 and "--force" in err
    assert (home / "data" / "x" / "meta.json").read_text() == before
    main(["-q", "data", "import", "netflix", str(src), "--name", "x", "--force"])
    assert leftovers(home / "data") == leftovers(home / "data")  # no temp folders remain
    assert [p for p in leftovers(home / "data") if p.startswith(".")] == []


def test_failed_force_import_keeps_the_old_dataset(tmp_path, home, capsys):
    good = netflix_tree(tmp_path / "good", OK_MV1)
    main(["-q", "data", "import", "netflix", str(good), "--name", "x"])
    before = leftovers(home / "data")
    bad = netflix_tree(tmp_path / "bad", "1:\n5,3,2005-01-01\n6,8,2005-01-01\n")
    code, _ = run_main(["data", "import", "netflix", str(bad), "--name", "x", "--force"], capsys)
    assert code == 2
    assert leftovers(home / "data") == before


# A few good users so that the hold-out has something to work with (21 lines).
ML_GOOD_USERS = "".join(f"{u}\t{i}\t3\t88125{i:04d}\n" for u in range(10, 13)
                        for i in range(1, 8))

TABLE_CASES = {
    "wrong number of fields": ("1\t1\t5\t881250949\n1\t2\t3\n", 2, "wrong number of fields: 3"),
    "rating out of range": ("1\t1\t5\t881250949\n1\t2\t6\t881250949\n", 2, "rating 6 out of range"),
    "malformed rating": ("1\t1\tfive\t881250949\n", 1, "malformed rating"),
    "malformed timestamp": ("1\t1\t5\t881250949\n2\t1\t5\t2005-01-01\n", 2, "malformed date"),
    "duplicate (user, movie)": ("1\t1\t5\t881250949\n1\t1\t4\t881250950\n", 2,
                                "duplicate (user, movie)"),
    "truncated": ("1\t1\t5\t881250949\n1\t2", 2, "wrong number of fields: 2 (the file may be "
                  "truncated)"),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_movielens_bad_input(case, tmp_path, home, capsys):
    content, line, problem = TABLE_CASES[case]
    src = tmp_path / "ml"
    src.mkdir()
    (src / "u.data").write_text(ML_GOOD_USERS + content)
    # A re-rating is kept (the most recent) unless --duplicates error refuses it.
    strict = ["--duplicates", "error"] if case.startswith("duplicate") else []
    code, err = run_main(["data", "import", "movielens", str(src), "--name", "m", *strict],
                         capsys)
    assert code == 2, err
    assert f"u.data:{line + 21}:" in err and problem in err
    assert leftovers(home / "data") == []


def test_movielens_keeps_the_most_recent_rating_of_a_pair_by_default(tmp_path, home):
    src = tmp_path / "ml"
    src.mkdir()
    (src / "u.data").write_text(ML_GOOD_USERS + "1\t1\t5\t881250949\n1\t1\t4\t881250950\n")
    out = run_prize("data", "import", "movielens", str(src), "--name", "m", home=home).stdout
    assert "dropped 1 repeated ratings" in out, out
    from prize.data.dataset import open_dataset

    ds = open_dataset(home / "data" / "m")
    assert len(ds) == 22 and dataset_pairs(ds)[(1, 1)] == 4.0


def test_movielens_empty_file(tmp_path, home, capsys):
    src = tmp_path / "ml"
    src.mkdir()
    (src / "u.data").write_text("")
    code, err = run_main(["data", "import", "movielens", str(src), "--name", "m"], capsys)
    assert code == 2 and "u.data: empty file" in err


# -- hardening (issue 16): each refused up front, exit 2, file, line, value, expectation ----
HARDENING_NETFLIX = {
    "customer id above 2^63": (
        "1:\n5,3,2005-01-01\n18446744073709551615,3,2005-01-01\n", "mv_0000001.txt", 3,
        "CustomerID 18446744073709551615 too large", "18446744073709551615,3,2005-01-01"),
    "customer id above int32": (
        "1:\n5,3,2005-01-01\n6,3,2005-01-01\n3000000000,3,2005-01-01\n", "mv_0000001.txt", 4,
        "CustomerID 3000000000 too large", "3000000000,3,2005-01-01"),
    "stray movie header": (
        "1:\n5,3,2005-01-01\n2:\n6,3,2005-01-01\n", "mv_0000001.txt", 3,
        "a second MovieID header", "2:"),
    "blank line": (
        "1:\n5,3,2005-01-01\n\n6,3,2005-01-01\n", "mv_0000001.txt", 3, "empty line", None),
}


@pytest.mark.parametrize("case", list(HARDENING_NETFLIX))
def test_netflix_hardening(case, tmp_path, home, capsys):
    mv1, name, line, problem, text = HARDENING_NETFLIX[case]
    src = netflix_tree(tmp_path / "src", mv1)
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2, err
    assert f"{name}:{line}: {problem}" in err, err
    if text is not None:
        assert repr(text) in err
    assert leftovers(home / "data") == []


def test_blank_lines_are_counted_at_once_when_skipped(tmp_path, home, capsys):
    src = netflix_tree(tmp_path / "src", "1:\n5,3,2005-01-01\n" + "\n" * 100_000
                       + "6,3,2005-01-01\n")
    main(["data", "import", "netflix", str(src), "--name", "x", "--skip-bad-lines", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["bad_lines"]["by_problem"] == {"empty line": 100_000}
    assert report["ratings"] == 4


def test_blank_line_only_file_is_refused_at_once(tmp_path, home, capsys):
    src = netflix_tree(tmp_path / "src", "1:\n5,3,2005-01-01\n")
    (src / "probe.txt").write_text("\n" * 1_000_000)
    code, err = run_main(["data", "import", "netflix", str(src), "--name", "x"], capsys)
    assert code == 2 and "probe.txt:1: empty line" in err, err


def _csv(tmp_path, text: str) -> Path:
    f = tmp_path / "r.csv"
    f.write_text(text)
    return f


@pytest.mark.parametrize("bad_line, problem", [
    ("2,1,3,1000000000000000000", "time out of range"),
    ("2,1,3,-99999999999999", "time out of range"),
    ("2,1,nan,1000", "rating nan is not a finite number"),
    ("2,1,inf,1000", "rating inf is not a finite number"),
    ("2,1,3,99999999999999999999999", "time out of range"),
])
def test_csv_values_refused_with_their_line(bad_line, problem, tmp_path, home, capsys):
    good = "".join(f"{u},{i},3,{86400 * 12000}\n" for u in range(5) for i in range(3))
    f = _csv(tmp_path, good + bad_line + "\n" + "4,4,2,86400\n")
    code, err = run_main(["data", "import", "csv", str(f), "--name", "x"], capsys)
    assert code == 2, err
    assert f"r.csv:16: {problem}" in err and repr(bad_line) in err, err
    main(["data", "import", "csv", str(f), "--name", "x", "--skip-bad-lines", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["bad_lines"]["total"] == 1 and report["ratings"] == 16


def test_csv_blank_lines_keep_true_line_numbers_when_skipped(tmp_path, home, capsys):
    good = "".join(f"{u},{i},3,{86400 * 12000}\n" for u in range(5) for i in range(3))
    f = _csv(tmp_path, good + "\n\n\n" + "9,9,8,1000\n")
    code, err = run_main(["data", "import", "csv", str(f), "--name", "x"], capsys)
    assert code == 2 and "r.csv:16: empty line" in err, err
    main(["data", "import", "csv", str(f), "--name", "x", "--skip-bad-lines", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["bad_lines"]["by_problem"] == {"empty line": 3, "rating 8 out of range": 1}
    assert any("r.csv:19:" in e for e in report["bad_lines"]["examples"])


@pytest.mark.parametrize("suffix", [".csv.gz", ".tar.gz"])
def test_truncated_archives_are_named(suffix, tmp_path, home, capsys):
    import gzip
    import io
    import tarfile

    rows = "".join(f"{u},{i},3,{86400 * 12000}\n" for u in range(200) for i in range(30))
    if suffix == ".csv.gz":
        blob = gzip.compress(rows.encode())
        cmd = ["data", "import", "csv"]
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            src = netflix_tree(tmp_path / "src", "1:\n" + "\n".join(
                f"{u},3,2005-01-01" for u in range(1, 5000)) + "\n")
            tar.add(src, arcname="nf")
        blob = buf.getvalue()
        cmd = ["data", "import", "netflix"]
    f = tmp_path / f"cut{suffix}"
    f.write_bytes(blob[:len(blob) // 2])
    code, err = run_main([*cmd, str(f), "--name", "x"], capsys)
    assert code == 2, err
    assert "cut" + suffix in err and "truncated or corrupt archive" in err, err
    assert "Aborted" not in err
