"""The README's example pipeline is real: extracted from README.md and run as written."""

from __future__ import annotations

import re
from pathlib import Path

import suiro
from suiro.states import TaskState

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_runs_and_branches_as_described(tmp_path):
    code = re.search(r"```python\n# train\.py\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "train.py").write_text(code)
    pipe = suiro.load_pipeline(str(tmp_path / "train.py"))

    passed = suiro.run(pipe, environ={}, home=tmp_path / "home")  # max score 148.5 >= 100
    assert passed.ok and passed.output == "registered 148.5"
    assert passed.tasks["train"].item_states == [TaskState.SUCCESS] * 3

    alerted = suiro.run(pipe, overrides=["threshold=200"], environ={}, home=tmp_path / "home")
    assert alerted.ok and alerted.output == "too low: 148.5"
    assert alerted.tasks["register"].state is TaskState.SKIPPED
    assert alerted.tasks["collect"].state is TaskState.CACHED  # nothing upstream changed
