"""What every tool runner shares: the task bodies, the W2b/W3 work, and the JSON report.

Each runner wraps these plain functions in its own tool's tasks, so the work done is
identical and only the orchestration differs. Heavy imports (sklearn) happen inside
the functions, so start-up (W5) pays only for what a one-task pipeline needs.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

MODELS = ["random_forest", "logistic_regression", "gradient_boosting"]
#: W2b: three equal CPU-bound trainings, seeds differ so no tool can dedupe them.
W2B_SEEDS = [0, 1, 2]
#: Trees per W2b forest; ~2-4 s per training on the 2-core reference machine.
W2B_TREES = int(os.environ.get("BENCH_W2B_TREES", "170"))
#: Worker processes for W2b's parallel half (3 tasks on 2 cores: the OS shares the cores).
W2B_WORKERS = 3


def noop(x: Any = 0) -> Any:
    """The no-op task body of W2 and W5."""
    return x


def step(x: int) -> int:
    """W1's task body: trivial, but each link gets a different input (no tool may dedupe them)."""
    return x + 1


def gather(items: list[Any]) -> int:
    """W2's gather: one task taking every fan-out result."""
    return len(items)


def warm_ml() -> None:
    """Import the sklearn modules W2b/W3 use, so no timed part pays for them (all tools alike)."""
    import sklearn.datasets
    import sklearn.ensemble
    import sklearn.linear_model
    import sklearn.model_selection
    import sklearn.pipeline
    import sklearn.preprocessing  # noqa: F401


# ---- W2b ---------------------------------------------------------------------------------


def train_forest(seed: int) -> float:
    """One CPU-bound training (single-threaded random forest); returns training accuracy."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=4000, n_features=30, n_informative=12, random_state=seed)
    model = RandomForestClassifier(n_estimators=W2B_TREES, n_jobs=1, random_state=seed).fit(x, y)
    return float(model.score(x, y))


# ---- W3: breast cancer ---------------------------------------------------------------------


def load_data() -> Any:
    """The bundled breast_cancer set as one DataFrame (features + ``target``)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def validate(df: Any) -> Any:
    """Refuse empty, short or incomplete data."""
    if len(df) < 500 or df.isna().any().any() or "target" not in df:
        raise ValueError(f"invalid data: {len(df)} rows")
    return df


def split(df: Any) -> dict[str, Any]:
    """Stratified 75/25 train/test split."""
    from sklearn.model_selection import train_test_split

    x, y = df.drop(columns="target"), df["target"]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return {"x_train": x_tr, "x_test": x_te, "y_train": y_tr, "y_test": y_te}


def train(data: dict[str, Any], model: str) -> Any:
    """Fit one of MODELS on the training half."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = {
        "random_forest": lambda: RandomForestClassifier(n_estimators=300, n_jobs=1, random_state=0),
        "logistic_regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=200, random_state=0),
    }[model]()
    return estimator.fit(data["x_train"], data["y_train"])


def evaluate(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Test accuracy of a fitted model."""
    name = type(model).__name__ if not hasattr(model, "steps") else type(model.steps[-1][1]).__name__
    return {"model": name, "accuracy": float(model.score(data["x_test"], data["y_test"]))}


def pick_best(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation with the highest accuracy."""
    return max(scores, key=lambda s: s["accuracy"])


# ---- measuring and reporting -------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def compare_w2b(sequential: Callable[[], Any], parallel: Callable[[], Any]) -> dict[str, Any]:
    """W2b: the three trainings run one after another, then on the tool's process executor."""
    warm_ml()
    seq, _ = timed(sequential)
    par, _ = timed(parallel)
    return {"seconds": par, "sequential": seq, "parallel": par, "speedup": seq / par}


def rerun_w3(run: Callable[[], Any], *, caches: bool) -> dict[str, Any]:
    """W3 cold, then (where the tool caches) W4: the same run twice more, nothing changed.

    ``rerun`` is the first rerun (W4); ``rerun2`` shows whether a second one differs.
    """
    warm_ml()
    cold, best = timed(run)
    if not caches:
        return {"seconds": cold, "rerun": None, "rerun_note": "no cache", "best": best}
    rerun, again = timed(run)
    rerun2, _ = timed(run)
    return {
        "seconds": cold,
        "rerun": rerun,
        "rerun2": rerun2,
        "best": best,
        "rerun_same_output": again == best,
    }


def temp_home(prefix: str) -> str:
    """A fresh directory for a tool's state, removed when this process exits: nothing else
    removes it, and a 1,000,000-task scale run leaves over a gigabyte."""
    path = tempfile.mkdtemp(prefix=f"bench-{prefix}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of ``dists`` plus Python's."""
    found = {"python": platform.python_version()}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "?"
    return found


def report(tool: str, workload: str, size: int, result: dict[str, Any], info: dict[str, str]) -> None:
    """Print one JSON line for ``bench/run.py`` (it reads every line starting with ``{``)."""
    line = {
        "tool": tool,
        "workload": workload,
        "size": size,
        **result,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "versions": info,
    }
    sys.stdout.flush()
    print(json.dumps(line), flush=True)


Workload = Callable[[int], dict[str, Any]]
WORKLOADS = ("w1", "w2", "w2b", "w3", "w5")
#: Workloads also measured in steady state: run a second time in the same process, right after
#: the first (their warm-up), as Prefect's and Dagster's own scripts measure themselves.
STEADY = ("w1", "w2")
#: Sizes up to this get the steady-state run too: above it a run's fixed costs are under 1 %
#: of it, and the second run would only double the time of the slow tools.
STEADY_MAX = 1_000
USAGE = """usage: {prog} WORKLOAD SIZE [WORKLOAD SIZE ...]   (WORKLOAD: w1, w2, w2b, w3, w5)

Runs each workload in turn in this process after one untimed warm-up run (a one-task
pipeline), printing one JSON line per workload: 'seconds' is the timed part, the first run
of that workload in the process (cold); w1 and w2 up to STEADY_MAX tasks run once more
right after it, and 'steady' is that second run's time. w5 runs alone and cold (no warm-up):
bench/run.py times the whole process."""


def main(tool: str, dists: tuple[str, ...], warm: Callable[[], Any], workloads: dict[str, Workload]) -> None:
    """Parse ``WORKLOAD SIZE`` pairs, warm up once, run and report each workload.

    Every workload function returns at least ``{"seconds": timed part}``.
    """
    args = sys.argv[1:]
    pairs = list(zip(args[::2], args[1::2], strict=False))
    if (
        not pairs
        or len(args) % 2
        or any(w not in workloads for w, _ in pairs)
        or (len(pairs) > 1 and any(w == "w5" for w, _ in pairs))
    ):
        sys.exit(USAGE.format(prog=sys.argv[0]))
    info = versions(*dists, "scikit-learn")
    if pairs[0][0] != "w5":
        warm()
    for workload, size in pairs:
        result = workloads[workload](int(size))
        if workload in STEADY and int(size) <= STEADY_MAX and result.get("seconds") is not None:
            try:
                result["steady"] = workloads[workload](int(size))["seconds"]
            except Exception as exc:  # the cold figure stands; the table shows why steady is missing
                result["steady_error"] = f"{type(exc).__name__}: {exc}"[:100]
        report(tool, workload, int(size), result, info)
