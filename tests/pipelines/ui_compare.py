"""A pipeline for the web UI's browsing tests: parameters, a metric per run and over steps, and
outputs of three kinds (a dict, a number, a DataFrame) to preview."""

from __future__ import annotations

import datetime

import pandas as pd

import suiro
from suiro import pipeline, task


@task
def prepare(n: int) -> dict:
    return {"rows": n, "source": "<b>inline</b>", "shape": (n, 2)}  # a tuple: pickled, builtins only


@task
def calendar(n: int) -> dict:
    return {"start": datetime.date(2026, 11, 30), "days": n}  # a date: pickled, not loaded by the UI


@task
def score(data: dict, lr: float) -> float:
    for step in range(3):
        suiro.log_metric("loss", 1.0 / (step + 1) - lr, step=step)
    auc = round(0.5 + lr, 3)
    suiro.log_metric("roc_auc", auc)
    return auc


@task
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"feature": [f"f{i}" for i in range(n * 10)], "weight": [i / 10 for i in range(n * 10)]}
    )


@pipeline
def tuned(n: int = 3, lr: float = 0.1):
    return {"auc": score(prepare(n), lr), "frame": frame(n), "calendar": calendar(n)}
