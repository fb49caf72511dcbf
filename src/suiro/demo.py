"""The built-in example pipeline (``suiro run`` with no file): fan-out, a branch, a retry.

Fits polynomial models of several degrees to noisy synthetic data, in parallel,
keeps the best by validation error, and either publishes it or raises an alert
through a quality gate. Pure Python on purpose: it runs anywhere suiro runs.
"""

from __future__ import annotations

import math
import random

from suiro import context, get_logger, log_metric, pipeline, task, unmapped, when

Points = list[tuple[float, float]]


@task(retries=2, retry_delay=0.2, backoff=2.0, retry_on=(ConnectionError,))
def collect(n_samples: int, noise: float, seed: int) -> Points:
    """Sample y = 0.5x^3 - x + noise; the first attempt fails, as a flaky source would."""
    if context().attempt == 1:
        raise ConnectionError("data source did not answer (simulated); suiro retries it")
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(n_samples)]
    return [(x, 0.5 * x**3 - x + rng.gauss(0, noise)) for x in xs]


@task
def split(points: Points, holdout: float = 0.25) -> dict[str, Points]:
    """Keep the last ``holdout`` share of points for validation."""
    cut = int(len(points) * (1 - holdout))
    return {"train": points[:cut], "valid": points[cut:]}


@task
def fit(degree: int, train: Points) -> dict[str, object]:
    """Least-squares polynomial of ``degree`` (normal equations, Gaussian elimination)."""
    size = degree + 1
    a = [[sum(x ** (i + j) for x, _ in train) for j in range(size)] for i in range(size)]
    b = [sum(y * x**i for x, y in train) for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        a[col], a[pivot], b[col], b[pivot] = a[pivot], a[col], b[pivot], b[col]
        for row in range(col + 1, size):
            f = a[row][col] / a[col][col]
            a[row] = [v - f * p for v, p in zip(a[row], a[col], strict=True)]
            b[row] -= f * b[col]
    coef = [0.0] * size
    for row in reversed(range(size)):
        coef[row] = (b[row] - sum(a[row][k] * coef[k] for k in range(row + 1, size))) / a[row][row]
    get_logger().info("degree %d fitted on %d points", degree, len(train))
    return {"degree": degree, "coef": coef}


@task
def evaluate(model: dict[str, object], valid: Points) -> dict[str, object]:
    """Root mean squared error of ``model`` on the validation points."""
    coef: list[float] = model["coef"]  # type: ignore[assignment]
    sq = [(y - sum(c * x**i for i, c in enumerate(coef))) ** 2 for x, y in valid]
    rmse = math.sqrt(sum(sq) / len(sq))
    log_metric(f"rmse_degree_{model['degree']}", rmse)
    return {**model, "rmse": rmse}


@task
def pick_best(scores: list[dict[str, object]]) -> dict[str, object]:
    """The model with the lowest validation RMSE."""
    return min(scores, key=lambda s: s["rmse"])  # type: ignore[arg-type, return-value]


@task
def gate(best: dict[str, object], max_rmse: float) -> bool:
    """Quality gate: pass only models whose RMSE is at most ``max_rmse``."""
    return float(best["rmse"]) <= max_rmse  # type: ignore[arg-type]


@task
def publish(best: dict[str, object]) -> str:
    """Stand-in for registering the model (the ML pipeline registers it for real)."""
    print(f"publishing degree-{best['degree']} model, rmse {best['rmse']:.3f}")
    return f"published degree {best['degree']}"


@task
def alert(best: dict[str, object], max_rmse: float) -> str:
    """Stand-in for alerting: the best model missed the gate."""
    get_logger().warning("best rmse %.3f is above %.3f", best["rmse"], max_rmse)
    return f"alert: rmse {best['rmse']:.3f} > {max_rmse}"


@task(trigger_rule="one_success")
def report(published: str | None, alerted: str | None) -> str:
    """Join of the two branches: whichever ran."""
    return published or alerted or "nothing to report"


@pipeline
def demo(
    n_samples: int = 400,
    noise: float = 0.3,
    seed: int = 7,
    degrees: list[int] = [1, 2, 3, 5],  # noqa: B006 - defaults are data, traced once
    max_rmse: float = 0.5,
):
    data = split(collect(n_samples, noise, seed))
    models = fit.map(degree=degrees, train=unmapped(data["train"]))
    best = pick_best(evaluate.map(models, valid=unmapped(data["valid"])))
    passed = gate(best, max_rmse)
    with when(passed):
        published = publish(best)
    with when(~passed):
        alerted = alert(best, max_rmse)
    return report(published, alerted)
