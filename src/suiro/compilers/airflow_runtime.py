"""The helpers every compiled Airflow DAG file starts with, as source text (``suiro.compilers.airflow``).

They run in Airflow's Python, which has no suiro: plain functions over JSON. Kept here as one
text, not built from pieces, so the generated file reads as code and ``ast`` can check it.
"""

from __future__ import annotations

HELPERS = '''
#: What an empty map's one stand-in item pushes (Airflow skips an ``.expand`` over no items, and
#: suiro's readers of an empty map must get an empty list): readers drop it.
NO_ITEMS = {"suiro": 1, "no_items": True}


def suiro_task(key, inputs=None, param_names=(), mode="run", index=-1, condition=0):
    """The bash command of one suiro task: ``suiro task-run`` with its inputs from the suiro store.

    Everything but the fixed words (the pipeline, the task key, its upstream output references,
    the parameter values it reads, the run id, ``ENV``) goes through the environment: Airflow
    renders the returned command as a Jinja template, and data must never be read as one.
    """
    if index == "no_items":
        return "echo " + shlex.quote(json.dumps(NO_ITEMS))
    context = get_current_context()
    os.environ.update(ENV)
    os.environ["SUIRO_TARGET"], os.environ["SUIRO_TASK"] = TARGET, key
    os.environ["SUIRO_INPUTS"] = json.dumps({k: reference(v) for k, v in (inputs or {}).items()})
    os.environ["SUIRO_PARAMS"] = json.dumps({name: context["params"][name] for name in param_names})
    os.environ["SUIRO_RUN_ID"] = context["run_id"]
    options = ["--mode", mode, "--index", str(index)]
    options += ["--condition", str(condition)] if mode == "when" else []
    return (
        shlex.join([*SUIRO, "task-run"])
        + ' "$SUIRO_TARGET" "$SUIRO_TASK" '
        + shlex.join(options)
        + ' --inputs "$SUIRO_INPUTS" --params "$SUIRO_PARAMS" --run-id "$SUIRO_RUN_ID"'
    )


def reference(value):
    """An upstream task's output reference as task-run takes it: "" for a task that failed (it
    pushed nothing), the item references of a mapped task in order (an empty map's stand-in left out)."""
    if value is None:
        return ""
    if isinstance(value, (dict, str)):
        return value
    found = [value[i] for i in range(len(value))]  # by count: iterating asks Airflow one past the end
    return [item for item in found if item != NO_ITEMS]


def items(output):
    """What ``.expand`` maps over, from ``task-run --mode count``: the item indices; one item when
    the task is skipped (task-run hands the skip on again from the same inputs); the stand-in
    when there are no items."""
    found = json.loads(output)
    if isinstance(found, dict):
        return [0]
    return found or ["no_items"]


def holds(value):
    """Whether a ``when`` guard's check said true (the block's tasks run)."""
    return value is True


def fails(value):
    """Whether a ``when`` guard's check said false (the ``~`` block's tasks run; task-run still
    skips a task whose guard read a skipped task, as suiro run does)."""
    return value is False
'''
