"""Files as task inputs and outputs: ``Output[Dataset]``, ``Input[Dataset]`` and ``File``.

A task that writes files declares them as parameters annotated ``Output[Kind]``: suiro fills
each with a fresh path when the attempt runs (the caller never passes it), stores the file the
task wrote there content-addressed, and hands each consumer an ``Input[Kind]`` whose ``path`` is
a verified copy (``suiro.store.files``). A task may also return ``File(path)`` for a file it
wrote. ``File(path)`` passed *into* a task is fingerprinted by its bytes, not its path's text, so
a changed input file misses the cache.

Owns the user-facing types and the attempt-side step (fill the outputs, collect what was
written); must not touch the store or the database.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import tempfile
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from suiro.cache import UnhashableError
from suiro.errors import FileOutputError


class Artifact:
    """A file of no particular kind (KFP's ``Artifact``)."""

    kind: ClassVar[str] = "Artifact"


class Dataset(Artifact):
    """A data file: CSV, Parquet, ... (KFP's ``Dataset``)."""

    kind: ClassVar[str] = "Dataset"


class Model(Artifact):
    """A trained model's file (KFP's ``Model``)."""

    kind: ClassVar[str] = "Model"


class Metrics(Artifact):
    """A file of evaluation results (KFP's ``Metrics``)."""

    kind: ClassVar[str] = "Metrics"


K = TypeVar("K", bound=Artifact)


class Output(Generic[K]):
    """A file the task writes at ``path``, with ``metadata`` (JSON values) recorded beside it."""

    def __init__(self, path: str, kind: str = "Artifact", name: str = "") -> None:
        self.path = path
        self.kind = kind
        self.name = name
        self.metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Output[{self.kind}]({self.path!r})"


class Input(Generic[K]):
    """A stored file handed to a consumer: ``path`` is a verified read-only copy; never write to it."""

    def __init__(
        self, path: str, kind: str = "Artifact", metadata: Mapping[str, Any] | None = None, digest: str = ""
    ) -> None:
        self.path = path
        self.kind = kind
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.digest = digest

    def __repr__(self) -> str:
        return f"Input[{self.kind}]({self.path!r})"

    def __fspath__(self) -> str:
        return self.path

    @classmethod
    def __suiro_token__(cls, value: Input[Any]) -> str:
        """Cache fingerprint: the stored file's digest (its path changes between runs)."""
        return f"input-file:{value.digest}"


class File:
    """A file by path, known by its content: as an input it is fingerprinted by its bytes, and
    returned by a task it is stored by suiro (the consumer gets an ``Input``)."""

    def __init__(self, path: str | os.PathLike[str], kind: str = "Artifact") -> None:
        try:
            self.path = os.fspath(path)
        except TypeError as exc:  # a pipeline parameter or task output: no path exists yet
            raise FileOutputError(
                f"File() got {type(path).__name__} {path!r}, not a path; pass a literal path "
                "(File('data.csv')) while tracing, or build the File inside a task."
            ) from exc
        self.kind = kind

    def __repr__(self) -> str:
        return f"File({self.path!r})"

    def __fspath__(self) -> str:
        return self.path

    def digest(self) -> str:
        """sha256 of the file's bytes, read now.

        Raises:
            FileOutputError: the file cannot be read.
        """
        try:
            with open(self.path, "rb") as file:
                return hashlib.file_digest(file, "sha256").hexdigest()
        except OSError as exc:
            raise FileOutputError(
                f"input file {self.path} cannot be read ({exc.strerror or exc}); "
                "create it or pass another path."
            ) from exc

    @classmethod
    def __suiro_token__(cls, value: File) -> str:
        """Cache fingerprint: the file's bytes, not its path's text. An unreadable file has none:
        the call is not cached, and the task meets the missing file itself."""
        try:
            return f"file:{value.digest()}"
        except FileOutputError as exc:
            raise UnhashableError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Written:
    """One file an attempt wrote, not yet stored."""

    name: str
    path: str
    kind: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class Produced:
    """What an attempt of a file-writing task produced: its files, before the store took them.

    ``single``: the consumer gets one ``Input`` (one ``Output`` parameter, or a returned
    ``File``), else a dict of them by parameter name. ``result`` is what the consumer gets, set
    once the files are stored (or pointing at the written files when no store is used).
    """

    files: tuple[Written, ...]
    single: bool
    scratch: str | None = None
    result: Any = field(default=None)

    def unstored(self) -> Any:
        """The consumer's value when nothing stores the files: inputs at the written paths."""
        inputs = {f.name: Input(f.path, f.kind, f.metadata) for f in self.files}
        return next(iter(inputs.values())) if self.single else inputs

    def cleanup(self) -> None:
        """Remove the scratch folder the outputs were written in."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def output_kinds(fn: Callable[..., Any]) -> dict[str, str]:
    """The parameters of ``fn`` annotated ``Output[Kind]``: name -> kind (empty for most tasks)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: no file outputs can be declared by them
        hints = getattr(fn, "__annotations__", None)
    if not isinstance(hints, dict):  # e.g. a Mock standing in for a function
        return {}
    kinds = {}
    for name, hint in hints.items():
        if name != "return" and typing.get_origin(hint) is Output:
            (kind,) = typing.get_args(hint) or (Artifact,)
            kinds[name] = getattr(kind, "kind", "Artifact")
    return kinds


def is_file_annotation(hint: Any) -> bool:
    """Whether ``hint`` is ``Input[...]``/``Output[...]``/``File``: no value type check applies."""
    return hint in (Input, Output, File) or typing.get_origin(hint) in (Input, Output)


def without_outputs(signature: inspect.Signature, outputs: Mapping[str, str]) -> inspect.Signature:
    """The signature a caller binds against: the ``Output`` parameters are suiro's to fill."""
    if not outputs:
        return signature
    return signature.replace(parameters=[p for n, p in signature.parameters.items() if n not in outputs])


def call(
    fn: Callable[..., Any],
    outputs: Mapping[str, str],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    label: str,
) -> Produced:
    """Call ``fn`` with a fresh path for each ``Output`` parameter; return what it wrote.

    Raises:
        FileOutputError: the task returned a value, did not write an output, or its metadata is
            not JSON.
    """
    scratch = tempfile.mkdtemp(prefix="suiro-out-")
    made = {name: Output(os.path.join(scratch, name), kind, name) for name, kind in outputs.items()}
    produced = Produced((), single=len(made) == 1, scratch=scratch)
    try:
        call_args, call_kwargs = _by_name(inspect.signature(fn), outputs, args, kwargs)
        value = fn(*call_args, **call_kwargs, **made)
        if value is not None:
            raise FileOutputError(
                f"task {label} declares file outputs ({', '.join(sorted(made))}) and also returned a value; "
                "return None, or write the value to another Output parameter."
            )
        produced.files = tuple(_written(label, out) for out in made.values())
    except BaseException:
        produced.cleanup()
        raise
    return produced


def returned(value: File, label: str) -> Produced:
    """The ``Produced`` of a task that returned ``File(path)``."""
    return Produced((_written(label, value),), single=True)


def _written(label: str, out: Output[Any] | File) -> Written:
    if not os.path.isfile(out.path) and not os.path.isdir(out.path):
        what = f"its output {out.name}" if isinstance(out, Output) else "the File it returned"
        raise FileOutputError(
            f"task {label} did not write {what}: no file or folder at {out.path}; write it there."
        )
    metadata = dict(out.metadata) if isinstance(out, Output) else {}
    name = out.name if isinstance(out, Output) else "file"
    return Written(name, out.path, out.kind, metadata)


def _by_name(
    signature: inspect.Signature, outputs: Mapping[str, str], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments with every one that can go by name passed by name.

    Bound against the signature without the ``Output`` parameters, positional arguments fill
    the caller's parameters in order; passed on positionally they would land in an ``Output``
    parameter's slot when it stands before them (``def f(data, out: Output[Model], n=1)``).
    """
    bound = without_outputs(signature, outputs).bind(*args, **kwargs)
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        return list(bound.args), dict(bound.kwargs)  # parameters before *args must stay positional
    call_args: list[Any] = []
    call_kwargs: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.POSITIONAL_ONLY:
            call_args.append(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            call_kwargs.update(value)
        else:
            call_kwargs[name] = value
    return call_args, call_kwargs
