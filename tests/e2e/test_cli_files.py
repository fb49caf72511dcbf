"""Files as outputs through the command line: run, cache hit, a deleted object, ``suiro artifacts``."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.cli_harness import Cli

PIPELINE = Path(__file__).parents[1] / "pipelines" / "files.py"


def test_file_outputs_through_the_cli(tmp_path):
    cli = Cli(tmp_path)
    shutil.copy(PIPELINE, tmp_path / "files_example.py")
    (tmp_path / "data.csv").write_text("1\n2\n3\n")

    first = cli.ok("run", "files_example.py:files_pipeline")
    assert first.output == "'Dataset rows=3 Model weights 6'"
    rows = {r["task_key"]: r for r in cli.json("artifacts", first.run_id)}
    assert rows["prepare"]["kind"] == "Dataset"
    assert rows["train"]["kind"] == "Model,Metrics"
    (dataset,) = rows["prepare"]["files"]
    assert (dataset["name"], dataset["kind"], dataset["metadata"]) == ("out", "Dataset", {"rows": 3})
    table = cli.ok("artifacts", first.run_id).stdout
    assert "Dataset" in table and "Model,Metrics" in table

    assert "3 cached" in cli.ok("run", "files_example.py:files_pipeline").stdout

    for digest in (dataset["digest"],):  # the stored file goes: its producer runs again
        (cli.home / "artifacts" / "objects" / digest[:2] / digest[2:]).unlink()
    again = cli.ok("run", "files_example.py:files_pipeline")
    assert again.output == "'Dataset rows=3 Model weights 6'"
    assert "1 cached" not in again.stdout and cli.tasks()["prepare"]["state"] == "success"

    (tmp_path / "data.csv").write_text("5\n")
    changed = cli.ok("run", "files_example.py:files_pipeline")
    assert changed.output == "'Dataset rows=1 Model weights 5'"
    cli.ok("check")
