"""``suiro compile --target kfp``: a Kubeflow Pipelines v2 spec written by the kfp SDK's compiler.

Each task becomes a KFP Python component whose body calls ``suiro task-run``'s entry point
(``suiro.taskrun.component_call``) in the ``--image`` container: the component takes the output
references of the tasks it reads and the parameters it reads, and returns its own output
reference (a small JSON string), so KFP passes references while data stays in the suiro store.
A lightweight Python component (not a container component) so ``kfp.local.SubprocessRunner``
runs the same spec on one machine. Pipeline parameters keep their types; ``map`` is a
``dsl.ParallelFor`` over the item indices a ``count`` component returns, gathered with
``dsl.Collected``; guards the engine can hold are ``dsl.If`` blocks (``suiro.compilers.plan``);
retries with backoff are ``set_retry``; ``resources`` are CPU/memory limits and accelerators;
``cache=False`` (or a ``cache_key=`` callable, which KFP cannot call) turns KFP's cache off.

Must not run anything; imports kfp only when called.
"""

from __future__ import annotations

import inspect
import json
import linecache
import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suiro.compilers import CompileError
from suiro.compilers.plan import Guard, Plan, Step, plan
from suiro.compilers.typed import KINDS, artifact_outputs
from suiro.graph import EMPTY, Param
from suiro.logical import is_marker
from suiro.states import TriggerRule

if TYPE_CHECKING:
    from suiro.graph import Graph, Node
    from suiro.pipeline import Pipeline

#: The image every component runs in unless ``--image`` is given: built from
#: ``examples/kfp/Dockerfile`` (suiro installed, the project's code copied in).
DEFAULT_IMAGE = "suiro:latest"
#: The accelerator a task asks for when its ``resources`` give ``gpu`` without ``gpu_type``.
DEFAULT_ACCELERATOR = "nvidia.com/gpu"
_SCALARS = {int: int, float: float, str: str, bool: bool, list: list, dict: dict}


def compile_kfp(
    pipe: Pipeline, target: str, output: Path, *, image: str | None = None, home: str | None = None
) -> dict[str, Any]:
    """Write ``pipe`` as a KFP v2 pipeline spec (YAML) at ``output``; see the module docstring.

    Raises:
        CompileError: kfp is missing, or the pipeline uses what KFP cannot express.
    """
    dsl, compiler = _kfp()
    if pipe.dynamic:
        raise CompileError(
            f"pipeline {pipe.name} is dynamic: its tasks are known only as it runs, and KFP needs them "
            "before; make it a static @pipeline to compile it."
        )
    graph = pipe.graph
    _check(graph)
    emitter = _Emitter(dsl, graph, plan(graph), target, image or DEFAULT_IMAGE, home)
    body = _pipeline_function(graph, emitter)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pipeline_fn = dsl.pipeline(name=_kfp_name(pipe.name), description=pipe.description or None)(body)
        compiler.Compiler().compile(pipeline_fn, str(output))
    except CompileError:
        raise
    except Exception as exc:  # the SDK raises its own types; each is one refusal of this pipeline
        raise CompileError(f"the kfp compiler refused pipeline {pipe.name}: {exc}") from exc
    _mend_header(output)
    return {"pipeline": pipe.name, "tasks": len(graph.nodes), "path": str(output)}


#: A top-level key of the spec: where the compiler's header comment ends.
_YAML_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:( |$)")


def _mend_header(output: Path) -> None:
    """Keep the file YAML: the kfp compiler's header comment writes a parameter's default as it is,
    so a default holding a newline (a SQL query) ended the comment mid-value and the rest of it
    broke the YAML (``kfp`` could not load its own file). Every line of the header is a comment."""
    lines = output.read_text(encoding="utf-8").split("\n")
    body = next((i for i, line in enumerate(lines) if _YAML_KEY.match(line)), len(lines))
    mended = [line if line.startswith("#") or not line else f"#    {line}" for line in lines[:body]]
    if mended != lines[:body]:
        output.write_text("\n".join(mended + lines[body:]), encoding="utf-8")


def _kfp() -> tuple[Any, Any]:
    try:
        from kfp import compiler, dsl
    except ImportError:
        raise CompileError(
            "suiro compile --target kfp needs the kfp SDK; install it with pip install 'suiro[kfp]'."
        ) from None
    return dsl, compiler


def _check(graph: Graph) -> None:
    """Every problem at once: trigger rules KFP has no equivalent for, resources it cannot set.

    ``all_done`` is KFP's ``ignore_upstream_failure``, which needs a default for every input from
    an upstream task: a parameter can have one, a gathered list of a ``ParallelFor`` cannot.
    """
    problems = []
    for node in graph.nodes.values():
        if node.trigger_rule is TriggerRule.ONE_SUCCESS:
            problems.append(
                f"task {node.key} ({node.location}) has trigger_rule one_success, which KFP cannot express "
                "(a KFP task waits for all its upstream tasks); use none_failed or all_done"
            )
        if node.trigger_rule is TriggerRule.ALL_DONE and (
            node.is_map or any(graph.nodes[up].is_map for up in node.upstream)
        ):
            problems.append(
                f"task {node.key} ({node.location}) has trigger_rule all_done and is mapped or reads a "
                "mapped task, which KFP cannot run past a failure; gather the items in a task of their own"
            )
    if problems:
        raise CompileError(f"cannot compile pipeline {graph.name} for KFP: {'; '.join(problems)}.")


def _kfp_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "pipeline"


def _kfp_type(param: Param, pipeline: str) -> Any:
    """The KFP type of a pipeline parameter (its annotation, else its default's type)."""
    if is_marker(param.default):  # else kfp fails on it with "bad argument type for built-in operation"
        raise CompileError(
            f"pipeline {pipeline}: parameter {param.name}'s default is {param.default!r}, a logical time "
            "the KFP target does not carry (a KFP run has no logical time); give it a plain default, or "
            "none and a value for each run."
        )
    hint = param.annotation
    if hint is EMPTY:
        hint = str if param.default is EMPTY or param.default is None else type(param.default)
    if isinstance(hint, str):
        hint = {"int": int, "float": float, "str": str, "bool": bool}.get(hint, hint)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = len(members) < len(typing.get_args(hint)), members[0] if len(members) == 1 else None
    base = _SCALARS.get(typing.get_origin(hint) or hint)  # type: ignore[arg-type]
    if base is None:
        raise CompileError(
            f"pipeline {pipeline}: parameter {param.name} is annotated {param.annotation!r}, which KFP "
            "cannot pass; use int, float, str, bool, list or dict."
        )
    return typing.Optional[base] if optional else base  # noqa: UP045 - kfp reads typing.Optional


def _pipeline_function(graph: Graph, emitter: _Emitter) -> Any:
    """A function with the pipeline's typed signature; KFP calls it with channels to build the DAG."""

    names = [p.name for p in graph.params]

    def body(*args: Any, **kwargs: Any) -> Any:  # KFP passes one channel per parameter, by position
        return emitter.emit(dict(zip(names, args, strict=False)) | kwargs)

    params = [
        inspect.Parameter(
            p.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=emitter.types[p.name],
            **({} if p.required else {"default": emitter.default(p)}),
        )
        for p in graph.params
    ]
    returns = str if emitter.output_key is not None else inspect.Signature.empty
    body.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    body.__annotations__ = {p.name: p.annotation for p in params} | (
        {"return": str} if emitter.output_key is not None else {}
    )
    body.__name__ = _kfp_name(graph.name).replace("-", "_")
    return body


class _Emitter:
    """Builds the KFP tasks inside the pipeline function: scopes as ``dsl.If`` blocks, maps as loops."""

    def __init__(self, dsl: Any, graph: Graph, planned: Plan, target: str, image: str, home: str | None):
        self.dsl, self.graph, self.plan = dsl, graph, planned
        self.target, self.image, self.home = target, image, home
        self.types = {p.name: _kfp_type(p, graph.name) for p in graph.params}
        #: Parameters whose default is or holds None, which KFP cannot hold: passed as JSON text.
        self.encoded = {p.name for p in graph.params if not p.required and _has_none(p.default)}
        self.types |= dict.fromkeys(self.encoded, str)
        self.components: dict[tuple[str, str, int], Any] = {}
        self.output_key = _output_key(graph, planned)

    def default(self, param: Param) -> Any:
        """A parameter's default as KFP holds it (JSON text for an encoded one)."""
        return json.dumps(param.default) if param.name in self.encoded else param.default

    def emit(self, channels: dict[str, Any]) -> Any:
        self.channels = channels
        self.outputs: dict[str, Any] = {}  # task key -> its reference channel (Collected for a map)
        self._scope(())
        return None if self.output_key is None else self.outputs[self.output_key]

    def _scope(self, prefix: tuple[Guard, ...]) -> None:
        """The tasks whose guards are exactly ``prefix``, then one ``dsl.If`` block per next guard."""
        steps = self.plan.steps.values()
        for step in steps:
            if step.scope == prefix:
                self._task(step)
        nested: list[Guard] = []
        for step in steps:
            if len(step.scope) > len(prefix) and step.scope[: len(prefix)] == prefix:
                guard = step.scope[len(prefix)]
                if guard not in nested:
                    nested.append(guard)
        texts = [g.text for g in nested]
        nested.sort(key=lambda g: texts.index(g.text))  # a guard and its negation side by side
        previous: Guard | None = None
        for guard in nested:
            if (
                previous is not None and previous.text == guard.text
            ):  # when(x) then when(~x): one test, If/Else
                with self.dsl.Else(name=f"when {guard.label}"[:60]):
                    self._scope((*prefix, guard))
                previous = None
                continue
            holds = self._call(guard.node, "when", guard.reads, guard.params, condition=guard.index)
            holds.set_display_name(f"when {guard.text}"[:60])
            with self.dsl.If(holds.output == (not guard.negate), name=f"when {guard.label}"[:60]):
                self._scope((*prefix, guard))
            previous = guard

    def _task(self, step: Step) -> None:
        node = self.graph.nodes[step.key]
        if not node.is_map:
            task = self._call(step.key, "run", step.reads, step.params)
            self._options(task, node)
            self.outputs[step.key] = task.outputs["Output"]
            return
        count = self._call(step.key, "count", step.reads, step.params)
        count.set_display_name(f"{step.key} items")
        with self.dsl.ParallelFor(items=count.output, name=f"{step.key} map") as index:
            task = self._call(step.key, "run", step.reads, step.params, index=index)
            self._options(task, node)
        self.outputs[step.key] = task  # each reader gets its own dsl.Collected (one shared breaks the SDK)

    def _call(
        self, key: str, mode: str, reads: tuple[str, ...], params: tuple[str, ...], **extra: Any
    ) -> Any:
        mapped = "index" in extra
        if mapped:  # the item carries the references (see suiro.taskrun.component_call)
            reads = ()
        component = self._component(
            key, mode, reads, params, mapped=mapped, condition=extra.get("condition", 0)
        )
        arguments = {f"r{i}": self._reference(up) for i, up in enumerate(reads)}
        arguments |= {f"p{i}": self.channels[name] for i, name in enumerate(params)}
        if mapped:
            arguments["index"] = extra["index"]
        if mode == "run":  # the KFP run's id, which the task sees as suiro.context().run_id
            arguments["run_id"] = self.dsl.PIPELINE_JOB_ID_PLACEHOLDER
        task = component(**arguments)
        task.set_display_name(key)
        if self.home:
            task.set_env_variable("SUIRO_HOME", self.home)
        return task

    def _component(
        self,
        key: str,
        mode: str,
        reads: tuple[str, ...],
        params: tuple[str, ...],
        *,
        mapped: bool,
        condition: int,
    ) -> Any:
        """One Python component per (task, mode): its source is generated, so KFP can embed it."""
        cache_key = (key, mode, condition)
        if cache_key in self.components:
            return self.components[cache_key]
        name = f"suiro_{re.sub(r'[^0-9a-zA-Z]+', '_', key)}" + (
            "" if mode == "run" else f"_{mode}{condition or ''}"
        )
        typed = artifact_outputs(self.graph.nodes[key]) if mode == "run" else {}
        signature = ["run_id: str"] if mode == "run" else []
        signature += [f"p{i}: {_type_text(self.types[p])}" for i, p in enumerate(params)]
        signature += ["index: str"] if mapped else []
        signature += [f"{var}: Output[{kind}]" for var, (_, kind) in typed.items()]
        # the references last: an all_done task's have defaults
        signature += [f"r{i}: {self._read_type(up)}{self._read_default(key)}" for i, up in enumerate(reads)]
        returns = {"run": "str", "count": "list", "when": "bool"}[mode]
        inputs = "{" + ", ".join(f"{up!r}: r{i}" for i, up in enumerate(reads)) + "}"
        values = "{" + ", ".join(f"{p!r}: p{i}" for i, p in enumerate(params)) + "}"
        artifacts = "{" + ", ".join(f"{what!r}: {var}" for var, (what, _) in typed.items()) + "}"
        encoded = tuple(sorted(set(params) & self.encoded))
        source = (
            f"def {name}({', '.join(signature)}) -> {returns}:\n"
            f"    from suiro.taskrun import component_call\n\n"
            f"    return component_call({self.target!r}, {key!r}, {mode!r}, {inputs}, {values}, "
            f"{'index' if mapped else -1}, {condition}, {encoded!r}, {artifacts}"
            f"{', run_id' if mode == 'run' else ''})\n"
        )
        fn = _function(source, name, f"<suiro-kfp>/{name}.py")
        made = self.dsl.component(fn, base_image=self.image, install_kfp_package=False)
        self.components[cache_key] = made
        return made

    def _reference(self, key: str) -> Any:
        """The channel of a task's output reference: a list of them, gathered, for a mapped task."""
        found = self.outputs[key]
        return self.dsl.Collected(found.outputs["Output"]) if self.graph.nodes[key].is_map else found

    def _read_default(self, key: str) -> str:
        """``= ""`` for an ``all_done`` task's inputs: KFP runs it past a failed upstream task only
        if each input has a default (suiro task-run reads ``""`` as a failed task)."""
        return ' = ""' if self.graph.nodes[key].trigger_rule is TriggerRule.ALL_DONE else ""

    def _read_type(self, key: str) -> str:
        return "list" if self.graph.nodes[key].is_map else "str"

    def _options(self, task: Any, node: Node) -> None:
        """Retries with backoff, resources, caching and trigger rules, as KFP task settings."""
        opts = node.task.options
        if opts.retries:
            task.set_retry(
                num_retries=opts.retries,
                backoff_duration=f"{opts.retry_delay:g}s",
                backoff_factor=opts.backoff,
                backoff_max_duration=f"{opts.max_delay:g}s" if opts.max_delay else None,
            )
        resources = opts.resources
        try:
            if "cpu" in resources:
                task.set_cpu_limit(str(resources["cpu"]))
            if "memory" in resources:
                task.set_memory_limit(str(resources["memory"]))
            if "gpu" in resources:
                task.set_accelerator_type(str(resources.get("gpu_type", DEFAULT_ACCELERATOR)))
                task.set_accelerator_limit(int(resources["gpu"]))
        except ValueError as exc:
            raise CompileError(
                f"task {node.key} ({node.location}): resources {dict(resources)!r}: {exc}"
            ) from None
        task.set_caching_options(enable_caching=bool(opts.cache and opts.cache_key is None))
        if node.trigger_rule is TriggerRule.ALL_DONE and node.upstream:
            task.ignore_upstream_failure()  # a failed upstream's reference arrives as its default, ""


def _has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_none(v) for v in value)
    return value is None


def _type_text(kind: Any) -> str:
    if typing.get_origin(kind) is typing.Union:
        return f"Optional[{typing.get_args(kind)[0].__name__}]"
    return kind.__name__


def _function(source: str, name: str, filename: str) -> Any:
    """A function made from ``source`` whose source ``inspect.getsource`` finds (KFP embeds it)."""
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    from kfp import dsl

    namespace: dict[str, Any] = {"Optional": typing.Optional, "Output": dsl.Output}
    namespace |= {kind: getattr(dsl, kind) for kind in KINDS}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # our own generated source
    return namespace[name]


def _output_key(graph: Graph, planned: Plan) -> str | None:
    """The task whose whole output the pipeline returns, if KFP can return it: not mapped, not
    inside a ``dsl.If`` block (None: the pipeline returns nothing; its tasks' outputs remain)."""
    from suiro.graph import Use

    out = graph.output
    if not isinstance(out, Use) or out.is_param or out.path:
        return None
    if graph.nodes[out.source].is_map or planned.steps[out.source].scope:
        return None
    return out.source
