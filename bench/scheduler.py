"""The scheduler's costs against issue 13's targets.

Usage: python bench/scheduler.py [--idle 30] [--fires 40] [--backfill 10000] [--deployments 1000]

- idle: a real ``suiro scheduler`` process with 1,000 deployments (daily crons, none due within
  the window) measured for ``--idle`` seconds after it has loaded them: CPU time (user + system,
  from /proc) over wall time, as % of one core. Target < 1 %.
- fire delay: a real ``suiro scheduler`` with 4 deployments on staggered 4-second intervals,
  until ``--fires`` runs have executed: for each, the instant its task started (its own clock,
  in a ledger) minus its logical time. Target p99 <= 1 s.
- backfill: ``suiro.scheduler.manual.plan_backfill`` of a minute schedule over ``--backfill``
  ticks (one transaction), then the same again (idempotent: nothing new). Target < 10 s.
- memory: an in-process ``Scheduler`` (``launch=False``) over a simulated day of 100
  minute-schedules on a ``ManualClock``, one pass per simulated minute: peak RSS sampled at the
  start, every 6 simulated hours and the end. Target: flat.

Prints one Markdown table; every number also goes to stdout as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reliability.sched_harness import deploy, read_ledger, write_ticking  # noqa: E402

from suiro.store.db import Database  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    return {**env, "SUIRO_HOME": str(home), "PYTHONPATH": str(SRC), **extra}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def idle(root: Path, deployments: int, seconds: float) -> dict[str, float]:
    home = root / "idle"
    db = Database.open(f"sqlite:///{home / 'suiro.db'}")
    target = write_ticking(root)
    hour = (time.gmtime().tm_hour + 12) % 24  # half a day away: nothing fires while measured
    for i in range(deployments):
        deploy(db, f"d{i:04d}", target, f"{i % 60} {hour} * * *", params={"label": str(i)})
    db.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "suiro", "scheduler"], env=_env(home), stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(3.0)  # start-up and the first pass (all deployments loaded) are not idle time
        cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = _cpu_seconds(proc.pid), time.monotonic()
        rss = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return {"idle_cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0), "idle_rss_mb": rss}


def fire_delay(root: Path, fires: int) -> dict[str, float]:
    home, ledger = root / "fire", root / "fire-ledger"
    db = Database.open(f"sqlite:///{home / 'suiro.db'}")
    target = write_ticking(root)
    start = time.time() + 3.0
    for i in range(4):  # staggered by a second: one run starts at a time, as on a quiet box
        deploy(db, f"f{i}", target, {"every": "4s", "start": start + i}, params={"label": str(i)})
    db.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "suiro", "scheduler"],
        env=_env(home, SCHED_LEDGER=str(ledger)),
        stderr=subprocess.DEVNULL,
    )
    try:
        while len(read_ledger(ledger)) < fires:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    delays = sorted(r.start - r.logical_time for r in read_ledger(ledger)[:fires])
    return {
        "fires": len(delays),
        "fire_delay_p50_s": statistics.median(delays),
        "fire_delay_p99_s": delays[min(len(delays) - 1, int(0.99 * len(delays)))],
        "fire_delay_max_s": delays[-1],
    }


def backfill(root: Path, count: int) -> dict[str, float]:
    from suiro.scheduler import manual
    from suiro.store.home import Store

    home = root / "backfill"
    store = Store(home)
    deploy(store.db, "minutely", write_ticking(root), "* * * * *")
    begin = 1_780_000_000.0 - 1_780_000_000.0 % 60
    end = begin + (count - 1) * 60
    t0 = time.perf_counter()
    plan = manual.plan_backfill(store, "minutely", begin, end)
    t1 = time.perf_counter()
    again = manual.plan_backfill(store, "minutely", begin, end)
    t2 = time.perf_counter()
    store.close()
    assert plan.created == count and again.created == 0, (plan, again)
    return {"backfill_ticks": count, "backfill_create_s": t1 - t0, "backfill_again_s": t2 - t1}


def memory(root: Path) -> dict[str, float]:
    from suiro import clock
    from suiro.clock import ManualClock
    from suiro.scheduler import Scheduler

    home = root / "memory"
    target = write_ticking(root)
    begin = 1_780_000_000.0 - 1_780_000_000.0 % 86400
    samples = []
    with clock.use(ManualClock(start=begin)) as manual:
        sched = Scheduler(home, launch=False)
        for i in range(100):
            deploy(sched.db, f"m{i:03d}", target, "* * * * *")
        for minute in range(24 * 60 + 1):
            sched.run_pass()
            if minute % 360 == 0:
                samples.append(_rss_mb())
            manual.advance(60.0)
        ticks = sched.db.query("SELECT count(*) AS n FROM ticks")[0]["n"]
        sched.close()
    return {"memory_ticks": ticks, **{f"memory_rss_mb_{6 * i}h": s for i, s in enumerate(samples)}}


def _rss_mb() -> float:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--fires", type=int, default=40)
    parser.add_argument("--backfill", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suiro-bench-sched-") as folder:
        root = Path(folder)
        found = {}
        found |= backfill(root, args.backfill)
        found |= memory(root)
        found |= idle(root, args.deployments, args.idle)
        found |= fire_delay(root, args.fires)
    found["bench_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| measure | value | target |\n|---|---|---|")
    print(
        f"| idle CPU, {args.deployments} deployments | {found['idle_cpu_percent']:.2f} % of a core | < 1 % |"
    )
    print(
        f"| fire delay over {found['fires']} runs | p50 {found['fire_delay_p50_s']:.3f} s, "
        f"p99 {found['fire_delay_p99_s']:.3f} s, max {found['fire_delay_max_s']:.3f} s | p99 <= 1 s |"
    )
    print(
        f"| backfill of {found['backfill_ticks']:,} ticks | {found['backfill_create_s']:.2f} s "
        f"(again, nothing new: {found['backfill_again_s']:.2f} s) | < 10 s |"
    )
    rss = [v for k, v in found.items() if k.startswith("memory_rss_mb_")]
    print(
        f"| memory, simulated day of 100 minute schedules ({found['memory_ticks']:,} ticks) | RSS "
        + " / ".join(f"{v:.1f}" for v in rss)
        + " MB at 0/6/12/18/24 h | flat |"
    )
    if args.json:
        print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
