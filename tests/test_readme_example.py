"""The README's Python example (the prize column of its side-by-side table), run as written
on the real MovieLens 100K file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import shared_path

README = Path(__file__).resolve().parents[1] / "README.md"


def prize_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.realdata
def test_readme_python_example_runs(monkeypatch):
    ml = shared_path("ml-100k")
    monkeypatch.chdir(ml.parent)
    code = prize_example()
    assert '"ml-100k/u.data"' in code
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    ratings, model = scope["ratings"], scope["model"]
    assert len(ratings) == 100_000 and model.get_params()["n_factors"] == 50
    top = model.recommend(196, n=10)
    assert len(top) == 10 and top.score.is_monotonic_decreasing
    cv = scope["prize"].cross_validate(scope["prize"].SVD(), ratings, folds=5)
    # Biased MF, shipped defaults (no probe given, so all 100 epochs run), 5 random folds
    # of ml-100k: measured 0.916; Surprise's SVD publishes 0.934 on the same protocol, and ran
    # 0.937 here. Slack 0.01 either way.
    assert abs(cv.rmse.mean() - 0.916) < 0.01
