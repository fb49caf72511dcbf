"""The complete shape: train candidates, pick the best, and branch on a quality gate.

The gate's two branches are ``when(decision)`` and ``when(~decision)``; the join runs
whichever branch ran (``trigger_rule="one_success"``).

    suiro run examples/quality_gate.py --set threshold=0.999   # takes the alert branch
"""

from __future__ import annotations

from suiro import pipeline, task, unmapped, when
from suiro.alerts import send_alert
from suiro.ml import evaluate, load_dataset, pick_best, quality_gate, split, train, validate


@task
def publish(best) -> str:
    """Stand-in for registering; the built-in pipeline registers with suiro.registry."""
    return f"published {best.model} ({best.metric} {best.value:.3f})"


@task
def raise_alert(decision) -> str:
    """Logged always; posted to $SUIRO_ALERT_WEBHOOK when it is set."""
    message = f"model {decision.model} failed the gate: {'; '.join(decision.reasons)}"
    send_alert(message)
    return message


@task(trigger_rule="one_success")
def report(published: str | None, alerted: str | None) -> str:
    return published or alerted


@pipeline
def gated(
    source: str = "sklearn:breast_cancer",
    models: list[str] = ["random_forest", "logistic_regression"],  # noqa: B006
    threshold: float = 0.95,
):
    data = split(validate(load_dataset(source), min_rows=100), seed=0)
    trained = train.map(unmapped(data), models)
    best = pick_best(evaluate.map(trained, unmapped(data)), trained, metric="roc_auc")
    decision = quality_gate(best, threshold)
    with when(decision):
        published = publish(best)
    with when(~decision):
        alerted = raise_alert(decision)
    return report(published, alerted)
