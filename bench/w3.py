"""W3 (the breast-cancer pipeline) against its plain-Python floor, on each executor, interleaved.

Usage: python bench/w3.py [--reps 5] [--executors threads,processes,sequential] [--profile EXECUTOR]

Each run is a fresh process, as in ``bench/run.py``: one untimed one-task run (suiro) and the
sklearn imports first, then W3 timed once (``bench/tools/common.py``'s task bodies, the
pipeline of ``run_suiro.py``; plain is ``run_plain.py``'s ``w3``). Runs alternate (plain,
threads, processes, sequential, plain, ...) so the machine's load falls on all alike. For
each it prints the median (min..max) of the wall time, its difference to plain's median, and
the CPU time of the process and its children (worker processes): wall time on a shared 2-core
machine follows the load; the CPU difference to plain is suiro's own work.

``--profile threads`` runs W3 once on that executor under cProfile (the runner's thread) and
prints where the time went (the top functions, then suiro's own).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

_CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[2])
how, profile = sys.argv[1], sys.argv[3] == "1"
import common as c

def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

if how == "plain":
    import run_plain as p
    work = p.w3
else:
    import run_suiro as s
    home = c.temp_home("w3")
    s.run(s.one_task, home)
    work = lambda: s.run(s.breast_cancer, home, executor=how).output
c.warm_ml()
cpu0, t0 = cpu(), time.perf_counter()
if profile:
    import cProfile, pstats
    prof = cProfile.Profile()
    prof.runcall(work)
else:
    work()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu() - cpu0}))
if profile:
    stats = pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative")
    stats.print_stats(40)
    stats.print_stats("suiro/", 30)  # suiro's own functions
"""


def run_once(how: str, profile: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env["PYTHONPATH"] = str(BENCH.parent / "src")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, how, str(BENCH / "tools"), "1" if profile else "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if profile:
        print(out.stderr[-15000:], file=sys.stderr)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--executors", default="threads,processes,sequential")
    parser.add_argument("--profile", help="run W3 once on this executor under cProfile")
    args = parser.parse_args()
    if args.profile:
        print(json.dumps(run_once(args.profile, profile=True)))
        return
    kinds = ["plain", *args.executors.split(",")]
    samples: dict[str, list[dict]] = {k: [] for k in kinds}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for rep in range(args.reps):
        for kind in kinds:
            result = run_once(kind)
            samples[kind].append(result)
            shown = result.get("error") or f"{result['seconds']:.3f} s, CPU {result['cpu']:.3f} s"
            print(f"[w3] rep {rep + 1} {kind}: {shown}", file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    good = {k: [r for r in v if "error" not in r] for k, v in samples.items()}
    floor = statistics.median(r["seconds"] for r in good["plain"])
    floor_cpu = statistics.median(r["cpu"] for r in good["plain"])
    print("| W3 on | wall s | vs plain | CPU s | CPU vs plain |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        runs = good[kind]
        if not runs:
            print(f"| {kind} | n/a ({samples[kind][0].get('error')}) | | | |")
            continue
        wall, cpu = [r["seconds"] for r in runs], [r["cpu"] for r in runs]
        over = (statistics.median(wall) / floor - 1) * 100
        cpu_over = statistics.median(cpu) - floor_cpu
        print(f"| {kind} | {cell(wall)} | {over:+.0f} % | {cell(cpu)} | {cpu_over:+.3f} s |")
    print("\n" + json.dumps(samples), file=sys.stderr)


if __name__ == "__main__":
    main()
