"""One meaning per option, help with examples, verbosity, and where outputs go."""

from __future__ import annotations

import click
import pytest
from conftest import run_prize

from prize.cli import cli, verbosity


def commands(group: click.Group, prefix=()):
    """Every leaf command under ``group``, with its path of names."""
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


def test_every_command_shows_examples_in_its_help():
    missing = [" ".join(path) for path, cmd in commands(cli)
               if "prize " not in (cmd.epilog or "")]
    assert missing == []


def test_train_help_lists_the_families():
    out = run_prize("train", "--help", home=".").stdout
    for family in ("baseline", "mf", "svdpp", "timesvdpp", "rbm", "knn"):
        assert family in out


@pytest.mark.parametrize("args, n", [
    (["-v", "train"], 1), (["-vv", "train"], 2), (["-v", "-v", "train"], 2),
    (["--verbose", "--verbose", "train"], 2), (["-q", "train", "-v"], 0),
    (["--home", "-v", "train"], 0), (["-qv", "score"], 1)])
def test_verbosity_counts_every_spelling(args, n):
    assert verbosity(args) == n


def test_unknown_predictor_removal_exits_2(toy, home):
    r = run_prize("probes", "rm", "--data", "toy", "nope", home=home, check=False)
    assert r.returncode == 2 and "no predictor 'nope'" in r.stderr


def test_old_option_spellings_still_work_with_a_warning(toy, home):
    r = run_prize("data", "split", "toy", "--probe", "recent", "--json", home=home)
    assert "--probe recent|random is deprecated" in r.stderr and "--probe-rule" in r.stderr
    r = run_prize("data", "split", "toy", "--probe-rule", "recent", "--json", home=home)
    assert "deprecated" not in r.stderr


def test_outputs_go_under_prize_home_by_default(toy, home):
    run_prize("train", "baseline", "--data", "toy", "--config", "biases", home=home)
    r = run_prize("submit", "--data", "toy", "--predictor", "baseline-biases", "--json",
                  home=home, json_out=True)
    assert r["path"] == str(home / "submissions" / "toy-baseline-biases.txt")
    assert (home / "submissions" / "toy-baseline-biases.txt").is_file()


def test_a_taken_name_is_refused_before_the_input_is_read(toy, home, tmp_path):
    # An input that would fail to parse: the name clash must be reported first.
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,rating,file\n")
    r = run_prize("data", "import", "csv", str(bad), "--name", "toy", home=home, check=False)
    assert r.returncode == 2 and "exists already" in r.stderr and "line" not in r.stderr


def test_the_synth_preset_choices_are_the_generator_presets():
    from prize.cli.data import LAW_NAMES, PRESET_LAWS, PRESET_NAMES, _preset_help
    from prize.data.synth import LAWS, PRESETS

    assert set(PRESET_NAMES) == set(PRESETS)
    assert LAW_NAMES == tuple(map(str, LAWS))
    # --preset's help names each preset's law as the generator has it
    assert PRESET_LAWS == {name: p.model.law for name, p in PRESETS.items()}
    assert "medium and netflix: law 9" in _preset_help()
