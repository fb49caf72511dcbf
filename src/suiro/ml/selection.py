"""Pick best and quality gate: choose one model by a metric, then decide whether it ships.

Owns metric direction (higher is better except errors such as RMSE), the ``Candidate`` and
``GateDecision`` records, and the human-readable reasons for a decision. Must not register,
promote or alert: the pipeline branches on the decision (``with when(decision):``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suiro.errors import ParameterError, UnknownMetricError, did_you_mean
from suiro.ml._context import record_line, record_metrics
from suiro.ml.evaluation import Evaluation
from suiro.ml.models import TrainedModel
from suiro.task import task

#: Metrics where a smaller value is better; every other metric is better when larger.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})
# Float slack for comparisons, so 0.991 - 0.985 counts as an improvement of 0.006.
_EPS = 1e-12


@dataclass(frozen=True, eq=False)
class Candidate:
    """The model ``pick_best`` chose, with its evaluation and the deciding figure."""

    model: str
    trained: TrainedModel
    evaluation: Evaluation
    metric: str
    value: float


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate passed the quality gate, the figures compared, and why.

    Truthy exactly when ``passed``, so a pipeline can branch with ``with when(decision):``
    and ``with when(~decision):``.
    """

    passed: bool
    metric: str
    value: float
    threshold: float
    champion_value: float | None
    min_improvement: float
    reasons: list[str] = field(default_factory=list)
    model: str = ""

    def __bool__(self) -> bool:
        return self.passed


def is_lower_better(metric: str) -> bool:
    """True for error metrics (``rmse``, ``mae``) where a smaller value wins."""
    return metric in LOWER_IS_BETTER


@task
def pick_best(
    evaluations: list[Evaluation], trained: list[TrainedModel], metric: str = "roc_auc"
) -> Candidate:
    """The model with the best value of ``metric`` on the test rows.

    Takes the evaluations and the trained models as two lists in the same order (the
    outputs of ``evaluate.map`` and ``train.map``), so the chosen model travels on to
    registration. Higher wins, except for ``LOWER_IS_BETTER`` metrics; ties keep the first.

    Args:
        evaluations: one ``Evaluation`` per model.
        trained: the matching ``TrainedModel`` objects, same order.
        metric: the metric to compare, e.g. ``roc_auc``, ``f1``, ``rmse``.

    Returns:
        A ``Candidate``.

    Raises:
        ParameterError: no evaluations, or the two lists do not match model by model.
        UnknownMetricError: ``metric`` was not computed for every evaluation.
    """
    if not evaluations:
        raise ParameterError("pick_best got no evaluations; train and evaluate at least one model.")
    names = [e.model for e in evaluations], [t.name for t in trained]
    if names[0] != names[1]:
        raise ParameterError(
            f"pick_best: evaluations {names[0]} and trained models {names[1]} do not match one to one; "
            "pass the outputs of evaluate.map and train.map in the same order.",
            parameter="trained",
        )
    available = sorted(set.intersection(*(set(e.metrics) for e in evaluations)))
    if metric not in available:
        raise UnknownMetricError(
            f"pick_best: metric {metric!r}{did_you_mean(metric, available)} was not computed for every "
            f"model; choose one of {', '.join(available)}.",
            metric=metric,
            available=available,
        )
    sign = -1.0 if is_lower_better(metric) else 1.0
    best = max(range(len(evaluations)), key=lambda i: (sign * evaluations[i].metrics[metric], -i))
    value = evaluations[best].metrics[metric]
    record_line("best by %s: %s (%.4g)", metric, evaluations[best].model, value)
    return Candidate(evaluations[best].model, trained[best], evaluations[best], metric, value)


@task
def quality_gate(
    candidate: Candidate,
    threshold: float,
    champion_metrics: dict[str, float] | None = None,
    min_improvement: float = 0.0,
) -> GateDecision:
    """Decide whether ``candidate`` is good enough to register (and replace the champion).

    A model ships only if it meets an absolute bar and, when a production model (the
    champion) exists, beats it by a margin, so noise does not churn production. Both
    comparisons follow the metric's direction. The decision carries its figures and
    reasons, so the run records why a model was or was not shipped.

    Args:
        candidate: the output of ``pick_best``.
        threshold: the value the metric must reach (at least it; at most it for errors).
        champion_metrics: the production model's metrics, or None when there is none. If
            they lack the candidate's metric, only the threshold applies (said in reasons).
        min_improvement: how much better than the champion the candidate must be.

    Returns:
        A ``GateDecision``, truthy when passed.

    Raises:
        ParameterError: ``min_improvement`` is negative.
    """
    if min_improvement < 0:
        raise ParameterError(
            f"quality_gate: min_improvement must be >= 0, got {min_improvement!r}.",
            parameter="min_improvement",
        )
    metric, value = candidate.metric, candidate.value
    lower = is_lower_better(metric)
    meets = value <= threshold + _EPS if lower else value >= threshold - _EPS
    relation = ("<=" if meets else ">") if lower else (">=" if meets else "<")
    suffix = " (lower is better)" if lower else ""
    reasons = [f"{metric} {_fmt(value)} {relation} threshold {_fmt(threshold)}{suffix}"]
    champion = _champion_value(champion_metrics, metric)
    improves = True
    if champion_metrics and champion is None:
        reasons.append(f"the champion has no {metric} metric, so only the threshold applies")
    elif champion is not None:
        gain = champion - value if lower else value - champion
        improves = gain >= min_improvement - _EPS
        reasons.append(_champion_reason(champion, gain, min_improvement, improves))
    decision = GateDecision(
        passed=meets and improves,
        metric=metric,
        value=value,
        threshold=threshold,
        champion_value=champion,
        min_improvement=min_improvement,
        reasons=reasons,
        model=candidate.model,
    )
    record_metrics("quality_gate", {"passed": float(decision.passed)})
    record_line(
        "quality gate %s for %s: %s", "passed" if decision else "failed", candidate.model, "; ".join(reasons)
    )
    return decision


def _champion_value(champion_metrics: dict[str, Any] | None, metric: str) -> float | None:
    if not champion_metrics or champion_metrics.get(metric) is None:
        return None
    return float(champion_metrics[metric])


def _champion_reason(champion: float, gain: float, needed: float, improves: bool) -> str:
    if improves:
        return f"improves on the champion {_fmt(champion)} by {_fmt(gain)} >= {_fmt(needed)}"
    if gain > _EPS:
        return f"improves on the champion {_fmt(champion)} by only {_fmt(gain)} < {_fmt(needed)}"
    if gain >= -_EPS:
        return f"ties the champion {_fmt(champion)}, short of the required improvement {_fmt(needed)}"
    return f"is worse than the champion {_fmt(champion)} by {_fmt(-gain)}"


def _fmt(number: float) -> str:
    """Up to 4 significant digits: ``0.991``, ``0.006``, ``55.12``."""
    return f"{number:.4g}"
