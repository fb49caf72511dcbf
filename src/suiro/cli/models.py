"""``suiro models ...`` (the model registry) and ``suiro serve`` (one version over HTTP).

Each command is one ``suiro.registry.Registry`` call (or ``suiro.server.serving.serve``) plus
rendering; ``--json`` prints what the call returned (``ModelVersion.to_dict()`` rows; for
``promote``, every version whose stage changed). Errors are one line and exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from suiro.cli.options import Json, Verbose
from suiro.cli.output import errors, number, print_json, table, when
from suiro.cli.terminal import console, printable
from suiro.states import ModelStage

if TYPE_CHECKING:
    from suiro.registry import ModelVersion, Registry

commands = typer.Typer()
models_app = typer.Typer(
    name="models",
    help="Registered models: versions, stages, promotion, rollback, comparison.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
commands.add_typer(models_app)

Ref = Annotated[
    str, typer.Argument(help="NAME, NAME@VERSION, NAME@latest or NAME@STAGE (e.g. NAME@production).")
]
Name = Annotated[str, typer.Argument(help="The model's name.")]
Reason = Annotated[str | None, typer.Option("--reason", "-r", help="Why; kept in the model's history.")]


def _registry() -> Registry:
    from suiro.registry import Registry

    return Registry()


def _metrics(metrics: dict[str, float | None]) -> str:
    return "  ".join(f"{k}={number(v)}" for k, v in sorted(metrics.items()))


def _row(v: ModelVersion) -> list[Any]:
    return [
        v.name,
        v.version,
        v.stage,
        _metrics(v.metrics),
        when(v.created),
        v.run_id,
        v.artifact_digest[:12],
    ]


@models_app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """List registered model versions, by name then version."""
    with errors(verbose):
        versions = _registry().versions(name)
    if json_:
        print_json([v.to_dict() for v in versions])
        return
    columns = ["name", "version", "stage", "metrics", "created", "run", "digest"]
    console().print(table(columns, [_row(v) for v in versions], wrap=("metrics", "created", "run")))


@models_app.command()
def show(ref: Ref, json_: Json = False, verbose: Verbose = False) -> None:
    """Show one version: stage, metrics, parameters, lineage, input schema."""
    with errors(verbose):
        version = _registry().get(ref)
    if json_:
        print_json(version.to_dict())
        return
    data = version.to_dict()
    data["created"] = when(version.created)
    data["metrics"] = _metrics(version.metrics)
    schema = version.input_schema or []
    data["input_schema"] = ", ".join(f"{c['name']}: {c['dtype']}" for c in schema[:12]) + (
        f" ... ({len(schema)} columns)" if len(schema) > 12 else ""
    )
    for key, value in data.items():
        print(printable(f"{key + ':':<17} {'' if value is None else value}"))


@models_app.command()
def promote(
    name: Name,
    version: Annotated[str, typer.Argument(help="A version number, latest, or a stage (e.g. staging).")],
    stage: Annotated[
        str, typer.Option("--stage", "-s", help="none, staging, production or archived.")
    ] = ModelStage.PRODUCTION.value,
    reason: Reason = None,
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Move a version to a stage; into production, the current production version is archived."""
    with errors(verbose):
        registry = _registry()
        before = {v.version: v.stage for v in registry.versions(name)}
        promoted = registry.promote(name, version, stage, reason=reason)
        changed = [v for v in registry.versions(name) if before.get(v.version) != v.stage]
    if json_:
        print_json([v.to_dict() for v in changed] or [promoted.to_dict()])
        return
    if not changed:
        print(f"{promoted.ref} is already {promoted.stage}; nothing changed")
    for v in changed:
        print(f"{v.ref}: {before[v.version]} -> {v.stage}")


@models_app.command()
def rollback(name: Name, reason: Reason = None, json_: Json = False, verbose: Verbose = False) -> None:
    """Put the previous production version back into production, archiving the current one."""
    with errors(verbose):
        registry = _registry()
        before = registry.versions(name)
        restored = registry.rollback(name, reason=reason)
    if json_:
        print_json(restored.to_dict())
        return
    archived = [v.ref for v in before if v.stage is ModelStage.PRODUCTION]
    print(f"{restored.ref} is production again; {', '.join(archived)} archived")


@models_app.command()
def compare(
    name: Name,
    v1: Annotated[str, typer.Argument(help="The first version (number, latest or stage).")],
    v2: Annotated[str, typer.Argument(help="The second version.")],
    json_: Json = False,
    verbose: Verbose = False,
) -> None:
    """Compare two versions: metrics side by side with differences, and the parameters that differ."""
    with errors(verbose):
        result = _registry().compare(name, v1, v2)
    if json_:
        print_json(result)
        return
    a, b = result["versions"]
    out = console()
    rows = [
        [m["metric"], number(m["v1"]), number(m["v2"]), _signed(m["difference"])] for m in result["metrics"]
    ]
    out.print(table(["metric", f"v{a}", f"v{b}", f"v{b} - v{a}"], rows, wrap=()))
    if result["params"]:
        out.print(
            table(
                ["param", f"v{a}", f"v{b}"],
                [[p["param"], p["v1"], p["v2"]] for p in result["params"]],
                wrap=(f"v{a}", f"v{b}"),
            )
        )
    else:
        print("parameters: the same")
    if result["same_data"] is not None:
        print("training data: " + ("the same" if result["same_data"] else "different"))


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.6g}"


@models_app.command()
def history(name: Name, json_: Json = False, verbose: Verbose = False) -> None:
    """The model's log: every registration, promotion, demotion and rollback, oldest first."""
    with errors(verbose):
        rows = _registry().transitions(name)
    if json_:
        print_json(rows)
        return
    columns = ["time", "version", "action", "from", "to", "actor", "run", "reason"]
    keys = ["version", "action", "from_stage", "to_stage", "actor", "run_id", "reason"]
    lines = [[when(t["time"]), *(t[k] for k in keys)] for t in rows]
    console().print(table(columns, lines, wrap=("time", "actor", "run", "reason")))


@commands.command()
def serve(
    ref: Ref,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; 127.0.0.1 keeps it local.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Most records per request.")] = 10_000,
    verbose: Verbose = False,
) -> None:
    """Serve a model version over HTTP: POST /predict, GET /model, GET /health."""
    from suiro.server.serving import serve as serve_model

    with errors(verbose):
        serve_model(ref, host=host, port=port, max_batch=max_batch)
