"""Deployments: named, parameterised, scheduled configurations of a pipeline, checked, then kept.

A deployment is declared in ``suiro.yaml`` (``deploy_project``), on the command line
(``suiro deploy FILE:PIPELINE --cron ...``), in Python (``deploy(...)``) or by
``@pipeline(schedule=...)`` (``deploy_scheduled``: one deployment named after each scheduled
pipeline of a file). Whatever the source, ``check`` decides *before anything is saved* that it
can run: its pipeline loads, every parameter is known and valid, its schedule parses, its
executor exists, its triggers name a parameter and a deployment that exist. A mistake is one
sentence at deploy time, never a silent miss at 2 a.m.; a batch (a project file) is saved only if
every deployment in it passes.

Owns the rows of ``suiro.store.deployments``: ``declare`` checks and saves them, ``view`` reads
them back for ``suiro deployments`` (``listing``, ``details``, ``preview``). Must not decide or
start runs: ``suiro.schedules``, ``suiro.triggers`` and the scheduler do.
"""

from suiro.deployments.declare import (
    Deployed,
    Deployment,
    check,
    deploy,
    deploy_project,
    deploy_scheduled,
    next_times,
)
from suiro.deployments.view import (
    delete,
    describe_trigger,
    details,
    fire_time,
    get,
    listing,
    preview,
    set_paused,
)

__all__ = [
    "Deployed",
    "Deployment",
    "check",
    "delete",
    "deploy",
    "deploy_project",
    "deploy_scheduled",
    "describe_trigger",
    "details",
    "fire_time",
    "get",
    "listing",
    "next_times",
    "preview",
    "set_paused",
]
