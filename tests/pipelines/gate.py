"""Quality gate: train -> check -> register (passed) or alert (failed) -> end (one_success join)."""

from __future__ import annotations

from suiro import pipeline, task, when


@task
def train(quality: float) -> dict[str, float]:
    return {"score": quality}


@task
def check(model: dict[str, float], threshold: float) -> bool:
    return model["score"] >= threshold


@task
def register(model: dict[str, float]) -> str:
    return f"registered model scoring {model['score']}"


@task
def alert(model: dict[str, float]) -> str:
    return f"alert: model scoring {model['score']} is below the bar"


@task(trigger_rule="one_success")
def end(registered: str | None, alerted: str | None) -> str:
    return registered or alerted or "nothing"


@pipeline
def gate(quality: float = 0.9, threshold: float = 0.8):
    model = train(quality)
    passed = check(model, threshold)
    with when(passed):
        registered = register(model)
    with when(~passed):
        alerted = alert(model)
    return end(registered, alerted)
