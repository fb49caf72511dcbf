"""Where the fixed cost of suiro's first run in a fresh process goes, span by span.

Usage: python bench/fixed.py [--processes 8] [--python bench/.venvs/suiro/bin/python]

A one-task pipeline (``noop(-1)``) is run in fresh processes on a new home and on an existing
one (made by another process first), and each process reports:

- ``import suiro``, then the first ``suiro.run`` as a user sees it (lazy imports included);
- the same first run with every module it loads already imported: the fixed cost *beyond
  imports* (DESIGN.md's target: <= 20 ms on an existing home, <= 40 ms on a new one), cut into
  spans by wrapping the functions on the run path (nothing in suiro is changed);
- a second run in the same process (steady state).

Each span shows wall time and the CPU time of the thread it ran in (on a shared machine the
CPU figure is the steadier one). Prints one Markdown table per home and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: (module, attribute path, label): the functions timed; nesting shown by the label's indent.
SPANS = [
    ("suiro.config", "resolve_params", "resolve parameters"),
    ("suiro.secrets", "warn_short", "secrets warning"),
    ("suiro.store.home", "Store.__init__", "open the store"),
    ("suiro.store.db", "Database.open", "  open the database"),
    ("suiro.store.db", "_refuse_network_fs", "    network-filesystem check (/proc/mounts)"),
    ("suiro.store.db", "Database._peek_revision", "    schema revision check"),
    ("suiro.store.migrate", "upgrade_schema", "    create the schema (new home)"),
    ("suiro.store.home", "screen", "  damage screen (PRAGMA quick_check)"),
    ("suiro.store.artifacts", "ArtifactStore.sweep_temp", "sweep temp files"),
    ("suiro.crashes", "reap", "reap dead runs (the crash reaper)"),
    ("suiro.store.home", "Store.recorder", "recorder (log folder)"),
    ("suiro.store.home", "Store.outputs", "output store"),
    ("suiro.api", "make_executor", "make the executor"),
    ("suiro.runner", "Runner.__init__", "runner state"),
    ("suiro.runner", "Runner.run", "run"),
    ("suiro.graph", "Graph.to_dict", "  graph as JSON"),
    ("suiro.store.recorder", "Recorder._start", "  record the run's start"),
    ("suiro.store.recorder", "Recorder._insert_run", "    its write transaction"),
    ("suiro.runner", "Runner._loop", "  the task (key, cache look-up, attempt)"),
    ("suiro.cache", "code_digest", "    the task's code digest"),
    ("suiro.store.recorder", "Recorder.close", "  record the run's end (join, last commit)"),
]

_CHILD = r"""
import functools, importlib, json, os, sys, tempfile, time
spans, home, mode, preload = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t0 = time.perf_counter()
import suiro
imported = time.perf_counter() - t0
for name in preload:
    try:
        importlib.import_module(name)
    except ImportError:  # extension-internal names (cython_runtime, ...) are not importable as such
        pass
WALL, CPU = {}, {}
def wrap(module, path, label):
    owner = importlib.import_module(module)
    *parents, attr = path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    fn = getattr(owner, attr)
    @functools.wraps(fn)
    def timed(*a, **k):
        w, c = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            if label not in WALL:  # the first call: the first run's
                WALL[label], CPU[label] = time.perf_counter() - w, time.thread_time() - c
    setattr(owner, attr, timed)
if preload:
    for module, path, label in spans:
        wrap(module, path, label)
@suiro.task
def noop(x=0):
    return x
@suiro.pipeline
def one():
    return noop(-1)
before = set(sys.modules)
w, c = time.perf_counter(), time.process_time()
suiro.run(one, home=home, environ={})
first, first_cpu = time.perf_counter() - w, time.process_time() - c
loaded = sorted(set(sys.modules) - before)
w = time.perf_counter()
suiro.run(one, home=home, environ={})
second = time.perf_counter() - w
print(json.dumps({"import": imported, "first": first, "first_cpu": first_cpu, "second": second,
                  "wall": WALL, "cpu": CPU, "loaded": loaded}))
"""


def child(python: str, home: str, mode: str, preload: list[str]) -> dict:
    spans = json.dumps(SPANS)
    out = subprocess.run(
        [python, "-c", _CHILD, spans, home, mode, json.dumps(preload)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_process(python: str, mode: str, preload: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-fixed-") as home:
        if mode == "existing":  # made by another process, as a user's earlier run would have
            subprocess.run([python, "-c", f"from suiro.store.home import Store; Store({home!r})"], check=True)
        return child(python, home, mode, preload)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8, help="fresh processes per home and view")
    parser.add_argument("--python", default=str(BENCH / ".venvs" / "suiro" / "bin" / "python"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    for mode in ("existing", "new"):
        probe = one_process(args.python, mode, [])
        preload = [m for m in probe["loaded"] if not m.startswith("suiro_user")]
        cold, warm = [], []
        for _ in range(args.processes):  # alternating, so both views see the same load
            cold.append(one_process(args.python, mode, []))
            warm.append(one_process(args.python, mode, preload))
        print(f"\n**{mode} home** ({args.processes} fresh processes each, medians)\n")
        print("| what | wall ms | CPU ms |\n|---|---|---|")
        print(f"| `import suiro` | {ms([r['import'] for r in cold])} | |")
        print(
            f"| first run, as a user sees it (its {len(preload)} lazy imports included) | "
            f"{ms([r['first'] for r in cold])} | {ms([r['first_cpu'] for r in cold])} |"
        )
        print(
            f"| **first run beyond imports** (those modules loaded before) | "
            f"**{ms([r['first'] for r in warm])}** | {ms([r['first_cpu'] for r in warm])} |"
        )
        for _, _, label in SPANS:
            walls = [r["wall"].get(label, 0.0) for r in warm]
            cpus = [r["cpu"].get(label, 0.0) for r in warm]
            print(f"| {label.replace('  ', '&nbsp;&nbsp;')} | {ms(walls)} | {ms(cpus)} |")
        print(f"| second run in the same process | {ms([r['second'] for r in warm])} | |")
        print(f"\nModules the first run loads: {' '.join(m for m in preload if not m.startswith('_'))}")
    print(f"\nload average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
