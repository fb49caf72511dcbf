"""Run every workload in every tool, side by side, and print one Markdown table.

Usage: python bench/run.py [--quick] [--reps N] [--tools suiro,prefect,...] [--readme] [--airflow]

Each run is a fresh process in the tool's venv (``bench/setup.py`` makes them), tools
alternating run by run (A, B, C, A, B, C, ...). Per-task overhead is the run's timed part
minus the plain-Python floor's median, divided by the task count. A tool that is not
installed, crashes or times out is shown as 'n/a (reason)' and the rest goes on. Raw
figures go to ``bench/results/<date>[-quick].json``; ``--readme`` also puts the table
into ``bench/README.md`` between its table markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from report import SCALE, render, summarize
from setup import failure_of, python_of

BENCH = Path(__file__).resolve().parent
TOOLS = ("plain", "suiro", "prefect", "dagster", "dagster-mem", "dask", "hamilton")
#: Columns that run another tool's runner with some environment: (venv and runner, env).
VARIANTS = {
    "plain": ("suiro", {}),  # the floor runs in suiro's venv, which has the ML stack
    "dagster-mem": ("dagster", {"BENCH_DAGSTER_INSTANCE": "ephemeral"}),  # W1/W2 only
}
#: W5's first half: whole-process time of the tool's CLI help, or of importing it if it has none.
HELP = {
    "plain": ["python", "-c", "pass"],
    "suiro": ["suiro", "--help"],
    "prefect": ["prefect", "--help"],
    "dagster": ["dagster", "--help"],
    "dask": ["python", "-c", "import dask, dask.delayed"],
    "hamilton": ["python", "-c", "from hamilton import driver"],
    "airflow": ["airflow", "--help"],
}


#: State homes shared by all of a tool's runs; the first run, on the empty home, is W5's "fresh home".
SHARED_HOMES = ("PREFECT_HOME", "AIRFLOW_HOME")


@dataclass(frozen=True)
class Case:
    """Workloads run by ``tools``, in one process per tool and run.

    ``steps`` are ``(workload, size)`` pairs; workload is w1, w2, w2b, w3 (W4 inside), w5,
    help, or fresh (W5 on an empty Prefect or Airflow home). Only QUICK puts several steps in one case.
    """

    steps: tuple[tuple[str, int], ...]
    tools: tuple[str, ...]

    @property
    def name(self) -> str:
        return " + ".join(f"{w} {n}" for w, n in self.steps)


def plan(quick: bool, tools: tuple[str, ...]) -> list[Case]:
    """The cases, in run order; the fresh-home case comes first: it warms Prefect's shared home."""
    all_columns = tools  # dagster-mem runs W1/W2 only
    tools = tuple(t for t in tools if t != "dagster-mem")
    if quick:
        cases = quick_cases(all_columns, tools)
    else:
        cases = [
            Case((("fresh", 1),), tuple(t for t in ("prefect", "airflow") if t in tools)),
            Case((("w5", 1),), tools),
            Case((("help", 0),), tools),
        ]
        cases += [Case((("w1", n),), all_columns) for n in (200, 1_000)]
        cases += [Case((("w2", n),), all_columns) for n in (500, 10_000)]
        cases += [Case((("w2b", 1),), tools), Case((("w3", 1),), tools)]
    done = {step for c in cases for step in c.steps}
    scale = [n for n in SCALE if n <= 10_000 or not quick]
    ours = tuple(t for t in tools if t in ("plain", "suiro"))
    cases += [Case(((w, n),), ours) for w in ("w1", "w2") for n in scale if (w, n) not in done]
    return [c for c in cases if c.tools]


def quick_cases(columns: tuple[str, ...], tools: tuple[str, ...]) -> list[Case]:
    """QUICK's cases before the scale curve: the full run's, at small sizes, minus what only it needs.

    Where QUICK's 4.5 minutes went (2026-11-27, quiet machine): Prefect's temporary server
    starting in each of its processes (~15 s each; 32 s for the fresh-home row), persistent
    Dagster's W1 + W2 (62 s, W2 500 alone 44 s) and W3 (12 s). Every figure QUICK keeps is
    measured as in the full run (a shared Prefect server was tried: a server that has already
    run something runs W2 2-3x faster than the fresh one each full-run process gets).
    """
    # W1 and W2 share a process, so each tool pays its start-up once less. W3 gets its own: run
    # after hundreds of tasks, Prefect's W3 was 5x slower (its temporary server was still busy).
    # Persistent Dagster (its W1/W2 and W3) is for the full run; dagster-mem keeps the W1/W2 rows.
    cases = [
        Case((("w1", 200), ("w2", 500)), tuple(t for t in columns if t != "dagster")),
        Case((("w3", 1),), tuple(t for t in tools if t != "dagster")),
    ]
    # W2b only where the target is (suiro against the floor): the peers' process pools
    # take 20-60 s to start on this machine.
    cases.append(Case((("w2b", 1),), tuple(t for t in tools if t in ("plain", "suiro"))))
    # No fresh-home row: the first run above made Prefect's and Airflow's shared homes (in its
    # untimed warm-up), so start-up is measured after the workloads, on warm homes.
    return [*cases, Case((("w5", 1),), tools), Case((("help", 0),), tools)]


def compile_sources() -> None:
    """Byte-compile suiro's sources and the runners, as pip does for every installed package.

    suiro is installed editable (``pip install -e``), so nothing compiled it, and an environment
    with ``PYTHONDONTWRITEBYTECODE`` set (this machine's) never caches what it compiles: each of
    suiro's processes then compiled ~15,000 lines anew (~0.15 s of W5) while the peers' packages,
    compiled at install, did not.
    """
    if failure_of("suiro") is None:
        subprocess.run(
            [
                str(python_of("suiro")),
                "-m",
                "compileall",
                "-q",
                str(BENCH.parent / "src"),
                str(BENCH / "tools"),
            ],
            check=False,
            stdout=subprocess.DEVNULL,
        )


def venv_of(tool: str) -> str:
    return VARIANTS.get(tool, (tool, {}))[0]


def command(tool: str, case: Case) -> list[str]:
    """The command line of one run."""
    python = str(python_of(venv_of(tool)))
    if case.steps[0][0] == "help":
        exe, *rest = HELP[tool]
        return [python if exe == "python" else str(python_of(venv_of(tool)).parent / exe), *rest]
    args = [str(x) for w, n in case.steps for x in ("w5" if w == "fresh" else w, n)]
    runner = tool if tool == "plain" else venv_of(tool)
    return [python, str(BENCH / "tools" / f"run_{runner}.py"), *args]


def run_one(tool: str, case: Case, env: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    """Run ``tool`` on ``case`` in a fresh process: one sample per step (``error`` on failure)."""
    failure = failure_of(venv_of(tool))
    if failure:
        return [{"error": failure}]
    env = {**env, **VARIANTS.get(tool, ("", {}))[1]}
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
        work = Path(scratch, "tmp")
        work.mkdir()
        run_env = {**env, "TMPDIR": str(work)}  # every temp home of the run is removed with it
        start = time.perf_counter()
        try:
            with out.open("w") as o, err.open("w") as e:
                code = subprocess.run(
                    command(tool, case),
                    env=run_env,
                    stdout=o,
                    stderr=e,
                    stdin=subprocess.DEVNULL,
                    cwd=work,
                    timeout=timeout,
                ).returncode
        except subprocess.TimeoutExpired:
            return [{"error": f"timeout {timeout:g} s"}]
        wall = time.perf_counter() - start
        if code != 0:
            last = [x for x in err.read_text(errors="replace").splitlines() if x.strip()][-1:] or ["?"]
            return [{"error": f"exit {code}: {last[0].strip()[:100]}"}]
        lines = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]
    if case.steps[0][0] in ("help", "w5", "fresh"):  # whole-process time is the figure
        inner = lines[-1] if lines else {}
        return [{**inner, "seconds": wall, "inner": inner.get("seconds"), "wall": wall}]
    if len(lines) != len(case.steps):
        return [{"error": f"printed {len(lines)} results for {len(case.steps)} workloads"}]
    return [{**line, "wall": wall} for line in lines]


def execute(cases: list[Case], reps: int, timeout: float, env: dict[str, str]) -> list[dict[str, Any]]:
    """Run every case ``reps`` times, tools alternating; a tool that fails a case is not retried."""
    samples: list[dict[str, Any]] = []
    homes = Path(tempfile.mkdtemp(prefix="bench-homes-"))
    env = {**env, **{k: str(homes / k) for k in SHARED_HOMES}}  # the first fresh-home run warms them
    try:
        for case in cases:
            broken: set[str] = set()
            for rep in range(reps):
                for tool in [t for t in case.tools if t not in broken]:
                    run_env = env
                    if case.steps[0][0] == "fresh" and rep > 0:  # rep 0 is the shared home's first run
                        run_env = {**env, **{k: tempfile.mkdtemp(dir=homes) for k in SHARED_HOMES}}
                    results = run_one(tool, case, run_env, timeout)
                    if len(results) < len(case.steps):  # the process failed: every step did
                        results = results * len(case.steps)
                    if all("error" in r for r in results):
                        broken.add(tool)
                    tags = [{"tool": tool, "workload": w, "size": n, "rep": rep} for w, n in case.steps]
                    samples += [{**r, **tag} for r, tag in zip(results, tags, strict=True)]
                    _progress(f"{case.name} rep {rep + 1}/{reps} {tool}", results)
    finally:
        shutil.rmtree(homes, ignore_errors=True)
    return samples


def _progress(what: str, results: list[dict[str, Any]]) -> None:
    shown = ", ".join(r.get("error") or f"{r['seconds']:.3f} s" for r in results)
    print(f"[bench] {time.strftime('%H:%M:%S')} {what}: {shown}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                x.split(":", 1)[1].strip()
                for x in cpuinfo.read_text().splitlines()
                if x.startswith("model name")
            ),
            "?",
        )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def update_readme(table: str) -> None:
    """Replace the table between the markers of ``bench/README.md``."""
    readme = BENCH / "README.md"
    start, end = "<!-- bench:table:start -->", "<!-- bench:table:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        print(f"[bench] {readme} has no table markers; not updated", file=sys.stderr)
        return
    head, rest = text.split(start, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition (a few minutes)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument("--tools", help=f"comma-separated subset of {','.join(TOOLS)} (plain is always run)")
    parser.add_argument("--airflow", action="store_true", help="add Airflow 3 (bench/setup.py --airflow)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one run may take (default 900)")
    parser.add_argument("--readme", action="store_true", help="also write the table into bench/README.md")
    parser.add_argument("--render", metavar="JSON", help="only print (and --readme) a results file's table")
    return parser.parse_args()


def table_of(samples: list[dict[str, Any]], tools: tuple[str, ...], info: dict[str, Any]) -> str:
    """The Markdown table of ``samples``, its title naming the versions the runs reported."""
    versions = {k: v for s in samples for k, v in s.get("versions", {}).items() if k != "python"}
    return render(summarize(samples, tools), tools, {**info, "versions": versions})


def main() -> None:
    args = parse_args()
    if args.render:  # re-render a saved run, e.g. after changing report.py
        saved = json.loads(Path(args.render).read_text())
        table = table_of(saved["samples"], tuple(saved["tools"]), saved["machine"])
    else:
        tools = tuple(args.tools.split(",")) if args.tools else TOOLS + (("airflow",) if args.airflow else ())
        tools = ("plain", *[t for t in tools if t != "plain"])
        reps = args.reps or (1 if args.quick else 3)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SUIRO_", "PREFECT_", "DAGSTER_", "AIRFLOW_", "AIRFLOW__"))
        }
        if args.quick:
            env["BENCH_W2B_TREES"] = env.get("BENCH_W2B_TREES", "40")  # <1 s per training, not ~3 s
        info = {
            **machine(),
            "date": datetime.date.today().isoformat(),
            "quick": args.quick,
            "reps": reps,
            "w2b_trees": env.get("BENCH_W2B_TREES", "170"),
        }
        compile_sources()
        started = time.perf_counter()
        samples = execute(plan(args.quick, tools), reps, args.timeout, env)
        info.update(
            load_after=[round(x, 2) for x in os.getloadavg()],
            minutes=round((time.perf_counter() - started) / 60, 1),
        )
        table = table_of(samples, tools, info)
        subset = "-" + "-".join(t for t in tools if t != "plain") if args.tools else ""
        out = BENCH / "results" / f"{info['date']}{'-quick' if args.quick else ''}{subset}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "machine": info,
                    "tools": tools,
                    "samples": samples,
                    "table": table,
                    "summary": summarize(samples, tools),
                    "plan": [asdict(c) for c in plan(args.quick, tools)],
                },
                indent=1,
            )
        )
        print(f"[bench] raw figures: {out.relative_to(BENCH.parent)}", file=sys.stderr)
    print(table)
    if args.readme:
        update_readme(table)


if __name__ == "__main__":
    main()
