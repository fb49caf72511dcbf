"""suiro's cost per task as a run grows: chain and fan-out from 100 to 1,000,000 tasks.

Usage: python bench/scale.py [--sizes 100,1000,10000,100000,1000000] [--shapes chain,fanout]
                             [--reps 3] [--src DIR [--src DIR ...]] [--profile SHAPE:N]

Each run is a **fresh process** (``bench/tools/run_suiro.py``'s pipelines, default executor and
caching, every state recorded in a new home): one untimed one-task run first, as every runner
does, then the timed run of a chain or fan-out of N no-op tasks (tracing included). Runs
alternate (each size and shape once, then again) so that the machine's load falls on all alike.

For each shape and size it prints the median (min..max) of

- **ms per task**: the timed run divided by its tasks (N for the chain, N + 1 for the fan-out with
  its gather). The plain-Python floor is ~0.00004 ms per task, so it is not subtracted;
- **marginal ms per task**: (median time at N - median time at the previous N) / the tasks added,
  the cost of one more task without the run's fixed part; "flat" means this stays level;
- **CPU ms per task**: the process's CPU time over the run, all threads (steadier than wall time on
  a shared machine), and in brackets the runner's thread alone (the rest: the recorder's thread
  and the executor's);
- **gc**: full (generation 2) collections during the run and the seconds they took;
- **KB per task**: (peak RSS - RSS before the run) / tasks, what one more task holds at the peak;
- **KB written per task**: bytes the process had written to disk (``/proc/self/io``: the database,
  its write-ahead log and checkpoints, artifacts, logs) / tasks.

``--src`` runs the same cases on other source trees (e.g. a ``git archive`` of the base commit),
interleaved with this one, to compare a change under the same load: one table per tree. A tree
may be followed by environment settings for its runs, ``--src DIR:NAME=VALUE,NAME=VALUE``.
``--profile chain:100000`` runs that one case under cProfile and prints its top functions.
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
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)

_CHILD = r"""
import gc, json, os, resource, sys, time
sys.path.insert(0, sys.argv[4])
shape, n, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
import common as c
import run_suiro as s

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

home = c.temp_home("scale")
s.run(s.one_task, home)
make = s.chain if shape == "chain" else s.fanout
full = {"count": 0, "seconds": 0.0}
started = [0.0]
def watch(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        full["count"] += 1
        full["seconds"] += time.perf_counter() - started[0]
gc.callbacks.append(watch)
def written():
    with open("/proc/self/io") as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])

before, written0 = rss_kb(), written()
cpu0, main0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
if profile:
    import cProfile, pstats
    prof = cProfile.Profile()
    prof.runcall(lambda: s.run(make(n), home))
else:
    s.run(make(n), home)
seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
main_cpu = time.thread_time() - main0
gc.callbacks.remove(watch)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu": cpu, "main_cpu": main_cpu, "rss_before_kb": before,
                  "peak_kb": peak, "full_gcs": full["count"], "full_gc_seconds": full["seconds"],
                  "written": written() - written0}))
if profile:
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(35)
"""


def run_case(variant: str, shape: str, n: int, profile: bool = False) -> dict:
    """One fresh process on a variant (``SRC`` or ``SRC:NAME=VALUE,...``): the timed run's figures."""
    src, _, extra = variant.partition(":")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env.update(dict(pair.split("=", 1) for pair in extra.split(",") if pair))
    env["PYTHONPATH"] = src
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, shape, str(n), "1" if profile else "0", str(BENCH / "tools")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if profile:
        print(out.stderr[-12000:], file=sys.stderr)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.4g} ({min(values):.4g}..{max(values):.4g})" if values else "n/a"


def table(samples: dict[tuple[str, int], list[dict]], shapes: list[str], sizes: list[int]) -> str:
    """One Markdown table of ``samples`` (one tree's)."""
    lines = [
        "| shape | tasks | ms per task | marginal ms per task | CPU ms per task [runner] | full gcs (s)"
        " | KB per task | KB written per task |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape in shapes:
        previous = None
        for n in sizes:
            runs = [r for r in samples.get((shape, n), []) if "error" not in r]
            if not runs:
                errors = [r["error"] for r in samples.get((shape, n), [])]
                lines.append(f"| {shape} | {n:,} | n/a ({errors[0] if errors else 'not run'}) | | | | | |")
                continue
            tasks = n if shape == "chain" else n + 1
            secs = [r["seconds"] for r in runs]
            per = [x / tasks * 1000 for x in secs]
            marginal = ""
            if previous is not None:
                marginal = f"{(statistics.median(secs) - previous[1]) / (tasks - previous[0]) * 1000:.4g}"
            cpu = [r["cpu"] / tasks * 1000 for r in runs]
            runner = statistics.median(r.get("main_cpu", 0.0) / tasks * 1000 for r in runs)
            full = statistics.median(r["full_gcs"] for r in runs)
            gcs = f"{full:g} ({statistics.median(r['full_gc_seconds'] for r in runs):.3g})"
            kb = [(r["peak_kb"] - r["rss_before_kb"]) / tasks for r in runs]
            disk = [r.get("written", 0) / tasks / 1024 for r in runs]
            cpu_cell = f"{med(cpu)} [{runner:.4g}]"
            cells = [shape, f"{n:,}", med(per), marginal, cpu_cell, gcs, med(kb), med(disk)]
            lines.append("| " + " | ".join(cells) + " |")
            previous = (tasks, statistics.median(secs))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--shapes", default="chain,fanout")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--src", action="append", help="another source tree to compare (repeatable)")
    parser.add_argument("--profile", help="SHAPE:N, run once under cProfile")
    args = parser.parse_args()
    here = str(BENCH.parent / "src")
    if args.profile:
        shape, n = args.profile.split(":")
        print(json.dumps(run_case(args.src[0] if args.src else here, shape, int(n), profile=True)))
        return
    trees = [here, *(args.src or [])]
    sizes = [int(x) for x in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    samples: dict[str, dict[tuple[str, int], list[dict]]] = {t: {} for t in trees}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for rep in range(args.reps):
        for n in sizes:
            for shape in shapes:
                for tree in trees:
                    result = run_case(tree, shape, n)
                    samples[tree].setdefault((shape, n), []).append(result)
                    shown = result.get("error") or f"{result['seconds']:.3f} s, {result['full_gcs']} full gcs"
                    print(f"[scale] rep {rep + 1} {shape} {n:,} {tree}: {shown}", file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    for tree in trees:
        print(f"\n{tree}\n\n{table(samples[tree], shapes, sizes)}")
    raw = {tree: {f"{s}:{n}": v for (s, n), v in per.items()} for tree, per in samples.items()}
    print("\n" + json.dumps(raw), file=sys.stderr)


if __name__ == "__main__":
    main()
