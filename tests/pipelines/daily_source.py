"""The source of a small pipeline the web UI's trigger tests deploy and start from a form: a file
they write into a deployment's folder (the UI loads it by path, as a user's pipeline)."""

DAILY = """
import os

from suiro import pipeline, task


@task
def count(n: int, label: str) -> str:
    print(f"counting {n} {label}")
    return label * n


@task
def check(text: str, flag: str) -> str:
    if flag and not os.path.exists(flag):
        raise RuntimeError(f"flag {flag} is missing")
    return text


@pipeline
def daily(n: int = 2, label: str = "x", flag: str = ""):
    return check(count(n, label), flag)
"""
