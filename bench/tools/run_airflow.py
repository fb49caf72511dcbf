"""Airflow 3 (optional, ``make bench AIRFLOW=1``): W1, W2 and W5 as TaskFlow DAGs run with ``dag.test()``.

Usage: python bench/tools/run_airflow.py WORKLOAD SIZE [WORKLOAD SIZE ...]  (w1, w2, w5; w2b, w3 report n/a)

AIRFLOW_HOME comes from ``bench/run.py`` (shared, migrated once) or is a fresh temp dir,
migrated first (``airflow db migrate``, SQLite). ``dag.test()`` finds a DAG by parsing the
DAG folder, so this file writes a one-line DAG file there that builds the DAG named in
``BENCH_AIRFLOW_DAG``. W2 fans out with dynamic task mapping (``.expand``). W2b and W3
are not implemented: XCom does not carry fitted models without a custom serializer, and
process parallelism needs a scheduler with the LocalExecutor and a server database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import common as c

HERE = Path(__file__).resolve().parent


def build(spec: str) -> Any:
    """The DAG for ``"w1:200"`` / ``"w2:500"``, named after it."""
    from airflow.sdk import dag, task

    workload, size = spec.split(":")
    n = int(size)
    noop, step, gather = task(c.noop), task(c.step), task(c.gather)

    @dag(dag_id=f"bench_{workload}_{n}", schedule=None)
    def pipeline():
        if workload == "w1":
            x = noop()
            for _ in range(n - 1):
                x = step(x)
        else:
            gather(noop.expand(x=list(range(n))))

    return pipeline()


def prepare() -> Path:
    """Point Airflow at a migrated home and a DAG folder holding the bench DAG file."""
    home = Path(os.environ.setdefault("AIRFLOW_HOME", c.temp_home("airflow")))
    dags = home / "bench_dags"
    dags.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"  # the examples would be parsed on every test()
    (dags / "bench_dag.py").write_text(
        f"import os, sys\nsys.path.insert(0, {str(HERE)!r})\nimport run_airflow\n"
        "spec = os.environ.get('BENCH_AIRFLOW_DAG')\n"
        "bench_dag = run_airflow.build(spec) if spec else None\n"
    )
    if not (home / "airflow.db").exists():
        airflow = Path(sys.executable).parent / "airflow"
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return dags


def run(workload: str, n: int) -> float:
    os.environ["BENCH_AIRFLOW_DAG"] = f"{workload}:{n}"
    dag = build(f"{workload}:{n}")
    seconds, result = c.timed(dag.test)
    if str(getattr(result, "state", "success")) != "success":
        raise SystemExit(f"airflow run ended {result.state}")
    return seconds


def not_implemented(what: str) -> Any:
    def fail(_: int) -> dict[str, Any]:
        return {"seconds": None, "error": f"not implemented for Airflow: {what}"}

    return fail


def main() -> None:
    prepare()
    c.main(
        "airflow",
        ("apache-airflow",),
        lambda: run("w1", 1),
        {
            "w1": lambda n: {"seconds": run("w1", n)},
            "w2": lambda n: {"seconds": run("w2", n)},
            "w2b": not_implemented("needs the LocalExecutor, a scheduler and a server database"),
            "w3": not_implemented("XCom cannot carry fitted models without a custom serializer"),
            "w5": lambda _: {"seconds": run("w1", 1)},
        },
    )


if __name__ == "__main__":
    main()
