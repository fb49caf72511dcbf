"""The web UI's costs on a store with years of history, against issue 14's targets.

Usage: python bench/ui.py [--runs 10000] [--attempts 100] [--home DIR] [--reps 40] [--json]

- build: one real run of a small mapped pipeline (the schema, a real graph, real outputs), then
  ``--runs`` runs copied from it in big transactions through suiro's store layer
  (``Database.write``, ``executemany``): 20 pipelines, ``--attempts`` task runs and attempts per
  run (one mapped task, one retry), 12 metric values per run (``roc_auc``, ``accuracy``, a loss
  over 10 steps), parameters ``lr``/``depth``. Reused from ``--home`` when it was built with the
  same sizes (a ``bench-ui.json`` stamp), so before/after measurements read the same rows.
- pages: a real ``suiro ui`` process on 127.0.0.1 (port 0), each URL fetched ``--reps`` times
  over one keep-alive connection after one warm-up; p50/p95 in ms measured at the client (the
  loopback adds well under a millisecond, so this is an upper bound of the server time).
  Targets: the runs page and a run page p95 <= 150 ms, the runs API pages <= 50 ms.
- memory: the server's peak RSS (``VmHWM`` from /proc) after every page. Target < 150 MB.
- live: a run recorded as running with one pending task; the bench records the task's new
  state (through the store layer) and times until the page's event stream carries it.
  Target <= 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

import suiro  # noqa: E402
from suiro import pipeline, task  # noqa: E402
from suiro.store.db import Database  # noqa: E402
from suiro.store.home import Store  # noqa: E402

PIPELINES = 20
RUN_GAP = 600.0  # seconds between two runs' starts: 10,000 runs span ~70 days


@task
def load(n: int) -> list[int]:
    return list(range(n))


@task
def fit(x: int) -> dict:
    return {"x": x, "score": x * 0.1}


@task
def evaluate(scores: list[dict]) -> float:
    suiro.log_metric("roc_auc", 0.8)
    return sum(s["score"] for s in scores)


@task
def table(n: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"feature": [f"f{i}" for i in range(n * 100)], "weight": range(n * 100)})


@pipeline(name="bench-ui")
def bench_ui(n: int = 4, lr: float = 0.1, depth: int = 3):
    return {"score": evaluate(fit.map(load(n))), "table": table(n)}


def build(home: Path, runs: int, per_run: int) -> dict:
    """Fill ``home`` (reusing it when the stamp says it has these sizes); returns the stamp."""
    stamp_path = home / "bench-ui.json"
    wanted = {"runs": runs, "attempts_per_run": per_run, "layout": 3}
    if stamp_path.exists():
        stamp = json.loads(stamp_path.read_text())
        if {k: stamp.get(k) for k in wanted} == wanted:
            return stamp
        raise SystemExit(f"{home} holds another bench store ({stamp}); pass another --home.")
    t0 = time.perf_counter()
    real = suiro.run(bench_ui, home=home).run_id
    store = Store(home)
    db = store.db
    graph = db.query("SELECT graph FROM pipelines WHERE name = 'bench-ui'")[0]["graph"]
    with db.write() as tx:
        tx.executemany(
            "INSERT INTO pipelines (name, code_digest, graph, created) VALUES (:name, :digest, :graph, 0)",
            [
                {
                    "name": f"bench-{k:02d}",
                    "digest": f"{k:064x}",
                    "graph": graph.replace("bench-ui", f"bench-{k:02d}"),
                }
                for k in range(PIPELINES)
            ],
        )
    ids = {r["name"]: r["id"] for r in db.query("SELECT id, name FROM pipelines")}
    rng = random.Random(14)
    start = time.time() - runs * RUN_GAP
    chunk = max(1, 200_000 // per_run)
    made = []
    for first in range(0, runs, chunk):
        rows: dict[str, list[dict]] = {"runs": [], "task_runs": [], "attempts": [], "metrics": []}
        for i in range(first, min(first + chunk, runs)):
            run_id = _run_rows(rows, rng, i, start + i * RUN_GAP, per_run, ids)
            made.append(run_id)
        with db.write() as tx:
            for table, sql in _INSERTS.items():
                tx.executemany(sql, rows[table])
        print(f"  {min(first + chunk, runs)} runs", file=sys.stderr, end="\r")
    store.close()
    stamp = {**wanted, "real_run": real, "sample_runs": rng.sample(made, 40), "build_seconds": 0.0}
    stamp["build_seconds"] = round(time.perf_counter() - t0, 1)
    stamp_path.write_text(json.dumps(stamp))
    return stamp


_INSERTS = {
    "runs": "INSERT INTO runs (id, pipeline_id, pipeline, params, state, started, ended, host, pid, executor,"
    " error) VALUES (:id, :pipeline_id, :pipeline, :params, :state, :started, :ended, 'bench', 1,"
    " 'threads', :error)",
    "task_runs": "INSERT INTO task_runs (run_id, task_key, map_index, state, attempts, started, ended,"
    " duration, map_size, cache_key, cache_parts, output_digest) VALUES (:run_id, :task_key, :map_index,"
    " :state, :attempts, :started, :ended, :duration, :map_size, :cache_key, :cache_parts, NULL)",
    "attempts": "INSERT INTO attempts (run_id, task_key, map_index, attempt, state, ended, duration,"
    " error_type, error_message, traceback) VALUES (:run_id, :task_key, :map_index, :attempt, :state,"
    " :ended, :duration, :error_type, :error_message, :traceback)",
    "metrics": "INSERT INTO metrics (run_id, task_key, map_index, name, value, step, time)"
    " VALUES (:run_id, 'evaluate', -1, :name, :value, :step, :time)",
}
_PARTS = json.dumps({"code": "0" * 64, "inputs": {"n": "1" * 64}, "options": "2" * 64}, sort_keys=True)
_TRACEBACK = (
    "Traceback (most recent call last):\n" + '  File "x.py", line 1, in fit\n' * 20 + "ValueError: bad"
)


def _run_rows(rows: dict, rng: random.Random, i: int, started: float, per_run: int, ids: dict) -> str:
    """Append one run's rows: load, fit (mapped over ``per_run - 3`` items, one retried), evaluate."""
    run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + f"-{i:06x}"
    name = f"bench-{i % PIPELINES:02d}"
    state = "failed" if i % 13 == 0 else "cancelled" if i % 47 == 0 else "success"
    ended = started + 60 + rng.random() * 60
    params = {"lr": rng.choice([0.01, 0.03, 0.1, 0.3]), "depth": rng.randint(2, 9), "n": per_run - 3}
    rows["runs"].append(
        {
            "id": run_id,
            "pipeline_id": ids[name],
            "pipeline": name,
            "params": json.dumps(params),
            "state": state,
            "started": started,
            "ended": ended,
            "error": "fit[3] failed" if state == "failed" else None,
        }
    )
    items = per_run - 3
    t = started
    for key, index, size in [("load", -1, None), ("fit", -1, items)] + [
        ("fit", k, None) for k in range(items)
    ]:
        failed = state == "failed" and key == "fit" and index == 3
        retried = key == "fit" and index == 0
        task_state = "failed" if failed else "success"
        t += 0.5
        rows["task_runs"].append(
            {
                "run_id": run_id,
                "task_key": key,
                "map_index": index,
                "state": task_state,
                "attempts": 2 if retried else 1,
                "started": t - 0.5,
                "ended": t,
                "duration": 0.5,
                "map_size": size,
                "cache_key": f"{rng.getrandbits(128):032x}",
                "cache_parts": _PARTS if index < 0 else None,  # what `explain` compares with
            }
        )
        if key == "fit" and index == -1:
            continue  # the map node itself has no attempt; its items do
        for attempt in (1, 2) if retried else (1,):
            bad = failed or (retried and attempt == 1)
            rows["attempts"].append(
                {
                    "run_id": run_id,
                    "task_key": key,
                    "map_index": index,
                    "attempt": attempt,
                    "state": ("failed" if failed else "retrying") if bad else "success",
                    "ended": t,
                    "duration": 0.4,
                    "error_type": "ValueError" if bad else None,
                    "error_message": "bad" if bad else None,
                    "traceback": _TRACEBACK if bad else None,
                }
            )
    rows["task_runs"].append(
        {
            "run_id": run_id,
            "task_key": "evaluate",
            "map_index": -1,
            "state": "upstream_failed" if state == "failed" else "success",
            "attempts": 0 if state == "failed" else 1,
            "started": t,
            "ended": ended,
            "duration": ended - t,
            "map_size": None,
            "cache_key": None,
            "cache_parts": None if state == "failed" else _PARTS,
        }
    )
    if state != "failed":
        rows["attempts"].append(
            {
                "run_id": run_id,
                "task_key": "evaluate",
                "map_index": -1,
                "attempt": 1,
                "state": "success",
                "ended": ended,
                "duration": ended - t,
                "error_type": None,
                "error_message": None,
                "traceback": None,
            }
        )
    metric = {"run_id": run_id, "time": ended}
    rows["metrics"].append({**metric, "name": "roc_auc", "value": 0.7 + rng.random() * 0.25, "step": None})
    rows["metrics"].append({**metric, "name": "accuracy", "value": 0.6 + rng.random() * 0.3, "step": None})
    for step in range(10):
        rows["metrics"].append({**metric, "name": "loss", "value": 1.0 / (step + 1), "step": step})
    return run_id


# --- measuring -------------------------------------------------------------------------------


def start_server(home: Path) -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIRO_")}
    env.update(SUIRO_HOME=str(home), PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-m", "suiro", "ui", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"suiro ui did not start: {line}{proc.stderr.read()}")
    return proc, int(found.group(1))


def time_urls(port: int, urls: dict[str, list[str]], reps: int) -> dict[str, dict]:
    """For each named group of URLs: p50/p95/max in ms over ``reps`` fetches (after a warm-up)."""
    results = {}
    for name, group in urls.items():
        samples = []
        for i in range(reps + 1):
            url = group[i % len(group)]
            t0 = time.perf_counter()
            # A new connection each time: on a reused one, loopback's delayed ACK adds ~40 ms to
            # every response (uvicorn writes headers and body apart), which no browser sees.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", url)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200:
                raise SystemExit(f"{url} answered {response.status}: {body[:300]!r}")
            if i:  # the first is a warm-up (templates compiled, caches filled)
                samples.append(elapsed)
        samples.sort()
        results[name] = {
            "p50": round(statistics.median(samples), 1),
            "p95": round(samples[max(0, round(0.95 * len(samples)) - 1)], 1),
            "max": round(samples[-1], 1),
            "bytes": len(body),
        }
        print(f"  {name}: {results[name]}", file=sys.stderr)
    return results


def peak_rss_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    value = {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) / 1024 for k in ("VmRSS", "VmHWM")}
    return {"rss_mb": round(value["VmRSS"], 1), "peak_rss_mb": round(value["VmHWM"], 1)}


def live_latency(home: Path, port: int, rounds: int = 10) -> dict[str, float]:
    """Seconds from recording a task's new state to the event stream carrying it."""
    db = Database.open(f"sqlite:///{home / 'suiro.db'}")
    run_id = "bench-live-" + f"{int(time.time() * 1000):x}"
    keys = [f"t{k}" for k in range(rounds)]
    with db.write() as tx:
        tx.execute(
            "INSERT INTO runs (id, pipeline, params, state, started, host, pid)"
            " VALUES (:id, 'bench-live', '{}', 'running', :now, 'bench', 1)",
            {"id": run_id, "now": time.time()},
        )
        tx.executemany(
            "INSERT INTO task_runs (run_id, task_key, state) VALUES (:id, :key, 'pending')",
            [{"id": run_id, "key": k} for k in keys],
        )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/runs/{run_id}/events")
    stream = conn.getresponse()
    _event(stream)  # the states as they are
    delays = []
    for key in keys:
        time.sleep(random.random() * 0.3)  # not in step with the server's polling
        with db.write() as tx:
            tx.execute(
                "UPDATE task_runs SET state = 'success' WHERE run_id = :id AND task_key = :key",
                {"id": run_id, "key": key},
            )
        recorded = time.perf_counter()
        while True:
            states = json.loads(_event(stream))
            if {t["task_key"]: t["state"] for t in states["tasks"]}[key] == "success":
                break
        delays.append(time.perf_counter() - recorded)
    with db.write() as tx:
        tx.execute(
            "UPDATE runs SET state = 'success', ended = :now WHERE id = :id",
            {"id": run_id, "now": time.time()},
        )
    conn.close()
    db.close()
    delays.sort()
    return {"live_p50_s": round(statistics.median(delays), 3), "live_max_s": round(delays[-1], 3)}


def _event(stream: http.client.HTTPResponse) -> str:
    data = ""
    while True:
        line = stream.readline().decode()
        if line.startswith("data: "):
            data = line[6:].strip()
        elif line == "\n" and data:
            return data


def urls_for(stamp: dict) -> dict[str, list[str]]:
    sample = stamp["sample_runs"]
    pages = max(1, stamp["runs"] // 50)
    urls = {
        "runs page 1": ["/runs"],
        "runs page (deep)": [f"/runs?page={p}" for p in (10, pages // 2, pages - 1)],
        "runs ?state=failed": ["/runs?state=failed"],
        "runs ?pipeline=": ["/runs?pipeline=bench-03", "/runs?pipeline=bench-11&page=3"],
        # the real run among them: its outputs are previewed (a DataFrame: pandas is loaded)
        "run page": [f"/runs/{stamp['real_run']}"] + [f"/runs/{r}" for r in sample],
        "api runs": ["/api/v1/runs", "/api/v1/runs?page=20", "/api/v1/runs?state=failed"],
        "api run states": [f"/api/v1/runs/{r}/states" for r in sample],
        "pipelines page": ["/pipelines"],
        "pipeline page": ["/pipelines/bench-05", "/pipelines/bench-17"],
    }
    urls.update(EXTRA_URLS(stamp))
    return urls


def EXTRA_URLS(stamp: dict) -> dict[str, list[str]]:  # noqa: N802
    """The pages that came with filters, sorting and comparing (absent before them: --basic)."""
    sample = stamp["sample_runs"]
    return {
        "runs sorted by roc_auc": ["/runs?sort=roc_auc&order=desc", "/runs?sort=roc_auc&order=desc&page=40"],
        "runs ?param.lr=0.1": ["/runs?" + quote("param.lr", safe=".") + "=0.1"],
        "runs metric roc_auc>=0.9, dates": [
            "/runs?metric=roc_auc&min=0.9&since="
            + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
        ],
        "api runs sorted": ["/api/v1/runs?sort=roc_auc&order=desc&page=5"],
        "compare 3 runs": [
            "/compare?" + "&".join(f"run={r}" for r in sample[k : k + 3]) for k in range(0, 30, 3)
        ],
        "pipeline page (metric chart)": ["/pipelines/bench-05?metric=roc_auc"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=100, help="task attempts per run")
    parser.add_argument("--home", type=Path, default=None, help="where the store is built (and reused)")
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--basic", action="store_true", help="only the pages of the UI's first slice")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = args.home or Path(tempfile.gettempdir()) / f"suiro-bench-ui-{args.runs}-{args.attempts}"
    print(f"store: {home}", file=sys.stderr)
    stamp = build(home, args.runs, args.attempts)
    print(f"built in {stamp['build_seconds']} s", file=sys.stderr)
    urls = urls_for(stamp)
    if args.basic:
        for name in EXTRA_URLS(stamp):
            urls.pop(name)
    proc, port = start_server(home)
    try:
        pages = time_urls(port, urls, args.reps)
        memory = peak_rss_mb(proc.pid)
        live = live_latency(home, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    size = (home / "suiro.db").stat().st_size / 2**20
    load = [round(x, 1) for x in os.getloadavg()]
    result = {"store": {**stamp, "db_mb": round(size, 1)}, "pages": pages, **memory, **live, "load": load}
    if args.json:
        print(json.dumps(result))
        return
    print(f"\n{args.runs} runs, {args.runs * args.attempts:,} attempts, database {size:.0f} MB", end="")
    print(f" (load average {load[0]} on {os.cpu_count()} cores)\n")
    print("| page | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|")
    for name, r in pages.items():
        print(f"| {name} | {r['p50']} | {r['p95']} | {r['max']} |")
    live_text = f"live state p50 {live['live_p50_s']} s, max {live['live_max_s']} s"
    print(f"\nserver peak RSS {memory['peak_rss_mb']} MB; {live_text}")


if __name__ == "__main__":
    main()
