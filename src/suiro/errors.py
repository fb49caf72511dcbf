"""Every error suiro raises.

Leaf module: imports nothing from suiro. Each error is one sentence that names the
thing that is wrong (task, parameter, file:line) and says what to do; errors carry
their facts as fields so callers never parse messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class SuiroError(Exception):
    """Base of every error suiro raises on purpose."""


class DefinitionError(SuiroError, TypeError):
    """A pipeline is wrong before anything runs (bad call, bad default, ref misuse).

    Attributes:
        task: the task (or pipeline) the problem belongs to, if any.
        location: ``file:line`` in the user's code, if known.
    """

    def __init__(self, message: str, *, task: str | None = None, location: str | None = None):
        self.task = task
        self.location = location
        super().__init__(message)


class CycleError(DefinitionError, ValueError):
    """The ordering edges of a pipeline form a cycle.

    Attributes:
        cycle: node keys along the cycle, first key repeated at the end.
    """

    def __init__(self, message: str, *, cycle: Sequence[str], location: str | None = None):
        self.cycle = list(cycle)
        super().__init__(message, task=self.cycle[0] if self.cycle else None, location=location)


class ScheduleError(DefinitionError, ValueError):
    """A schedule is wrong: a malformed cron expression, an unknown time zone, an interval of zero,
    a start after its end, or an unknown catch-up policy. Raised where the schedule is declared, so
    it is found at deploy time and never at 2 a.m.

    Attributes:
        spec: the expression, zone or value that is wrong, as given.
    """

    def __init__(
        self, message: str, *, spec: object = None, task: str | None = None, location: str | None = None
    ):
        self.spec = spec
        super().__init__(message, task=task, location=location)


class ParameterError(SuiroError, ValueError):
    """A pipeline parameter is missing, unknown or has a value of the wrong type.

    Attributes:
        parameter: the parameter's name (dotted for nested keys).
        source: where the value came from ("default", "config.yaml", "env SUIRO_PARAM_X", "--set").
    """

    def __init__(self, message: str, *, parameter: str | None = None, source: str | None = None):
        self.parameter = parameter
        self.source = source
        super().__init__(message)


class ExpressionError(SuiroError, ValueError):
    """An expression on task outputs (``metrics["accuracy"] >= threshold``) failed when the run
    evaluated it; the operator's own exception is the cause.

    Attributes:
        expression: the expression as written in the pipeline.
    """

    def __init__(self, message: str, *, expression: str):
        self.expression = expression
        super().__init__(message)


class PipelineNotFoundError(SuiroError, LookupError):
    """A pipeline file or name could not be found or loaded."""


class DeploymentError(SuiroError, ValueError):
    """A deployment (or the ``suiro.yaml`` declaring it) is wrong, or names none that exists.

    Raised when it is declared, never when it would fire: a bad pipeline, parameter, schedule,
    executor, trigger or key is found before anything is saved.

    Attributes:
        deployment: the deployment's name, when known.
        location: ``file:line`` in the project file, when it came from one.
    """

    def __init__(self, message: str, *, deployment: str | None = None, location: str | None = None):
        self.deployment = deployment
        self.location = location
        super().__init__(message)


class UnknownDeploymentError(DeploymentError, LookupError):
    """No deployment has the name given (``suiro.store.deployments.require``)."""


class TaskTimeoutError(SuiroError, TimeoutError):
    """A task ran past its ``timeout`` and was stopped."""


class SensorNotReady(SuiroError):  # noqa: N818 - not an error: a poke that found nothing yet
    """A sensor's poke found nothing yet: not a failure; the runner pokes again after ``poke_interval``.

    Raised by ``suiro.sensors``' tasks (Airflow's reschedule mode): the attempt ends, the task waits
    in the retry schedule holding no worker, and the wait spends no ``retries``.

    Attributes:
        poke_interval: seconds until the next poke.
        timeout: seconds from the first poke after which the sensor gives up.
        soft_fail: give up as ``skipped`` instead of ``failed``.
    """

    def __init__(self, message: str, *, poke_interval: float, timeout: float, soft_fail: bool = False):
        self.poke_interval = poke_interval
        self.timeout = timeout
        self.soft_fail = soft_fail
        super().__init__(message)


class SensorTimeoutError(SuiroError, TimeoutError):
    """A sensor found nothing within its ``timeout`` (counted from its first poke)."""


class RunTimeoutError(SuiroError, TimeoutError):
    """A run took longer than its pipeline's ``timeout`` and was stopped."""


class WorkerCrashedError(SuiroError, RuntimeError):
    """The process running a task died without reporting a result."""


class ClusterError(SuiroError, RuntimeError):
    """A cluster executor cannot be used: its library is missing, or its scheduler cannot be reached."""


class ShellCommandError(SuiroError, RuntimeError):
    """A shell task's command exited with a non-zero code, was killed, or could not start.

    Attributes:
        exit_code: the command's exit code (negative: killed by that signal); None if it never ran.
        stderr_tail: the last lines it wrote to stderr, masked ('' if none).
    """

    def __init__(self, message: str, *, exit_code: int | None = None, stderr_tail: str = ""):
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        super().__init__(message)


class RunCancelledError(SuiroError, RuntimeError):
    """The run was cancelled (SIGINT, SIGTERM, Ctrl-C) while this attempt ran; recorded as the
    attempt's error, never raised at the caller (``suiro.run`` re-raises ``KeyboardInterrupt``)."""


class TaskFailedError(SuiroError, RuntimeError):
    """A task called in a dynamic pipeline failed (after its retries): raised at the call, in the
    pipeline body, which may catch it; ``err.task`` is the task's key in the run."""

    def __init__(self, message: str, *, task: str):
        self.task = task
        super().__init__(message)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


class StoreError(SuiroError, RuntimeError):
    """The metadata database cannot be opened, upgraded or written."""


class DatabaseDamagedError(StoreError):
    """The SQLite database file is damaged: SQLite found a malformed page or no database header.

    Attributes:
        path: the database file.
        detail: SQLite's own words (e.g. ``database disk image is malformed``).
    """

    def __init__(self, message: str, *, path: Path, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(message)


class RecordsMissingError(StoreError):
    """The database is missing or empty while the home still holds outputs or run logs.

    Attributes:
        path: the database file.
        objects: how many objects ``artifacts/objects`` holds.
        runs: how many run folders ``logs`` holds.
        detail: the message without its opening words, for ``suiro check``.
    """

    def __init__(self, message: str, *, path: Path, objects: int, runs: int, detail: str):
        self.path = path
        self.objects = objects
        self.runs = runs
        self.detail = detail
        super().__init__(message)


class RunFencedError(StoreError):
    """This process's run was declared crashed while it was not heartbeating (e.g. it was
    paused); it may no longer record anything, so a resumed run is the only one that counts."""


class RunNotFoundError(SuiroError, LookupError):
    """No recorded run (or task in it) matches what was asked for."""


class ResumeConflictError(SuiroError, RuntimeError):
    """The run is already being resumed, or a resume of it already succeeded (one resume at a time)."""


class SerializerError(SuiroError, ValueError):
    """A value cannot be turned into bytes (or back) by the chosen serializer.

    Attributes:
        serializer: the serializer's name ("json", "npy", "parquet", "joblib", "pickle").
        kind: the value's type as ``module.Name``, when known.
    """

    def __init__(self, message: str, *, serializer: str | None = None, kind: str | None = None):
        self.serializer = serializer
        self.kind = kind
        super().__init__(message)


class FileOutputError(SuiroError, ValueError):
    """A task's file output or ``File`` input is wrong: not written, unreadable, or metadata not JSON."""


class ArtifactError(SuiroError, OSError):
    """An artifact could not be written, found or read.

    Attributes:
        digest: the artifact's sha256 hex digest, when known.
        path: the file the problem is about, as a string (None for inline artifacts).
    """

    def __init__(self, message: str, *, digest: str | None = None, path: str | None = None):
        super().__init__(message)
        self.digest = digest
        self.path = path


class ArtifactMissingError(ArtifactError, FileNotFoundError):
    """No object is stored under an artifact's digest."""


class ArtifactCorruptError(ArtifactError):
    """A stored artifact's bytes do not match its digest (flipped, truncated, or a link)."""


class ArtifactStoreError(ArtifactError):
    """The artifact store as a whole cannot be used: an unknown URL, a missing bucket or library,
    refused credentials. Found before a run starts, so nothing is recorded."""


class InvalidDigestError(ArtifactError, ValueError):
    """A string used as an artifact digest is not 64 lowercase hex characters."""


class DataSourceError(SuiroError, ValueError):
    """A dataset source names an unknown scheme or dataset, a missing file, or a failing query.

    Not retried: a wrong name, path or query does not fix itself.

    Attributes:
        source: the source string as given.
    """

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        super().__init__(message)


class SourceUnavailableError(SuiroError, ConnectionError):
    """A dataset source could not be reached (a database refused or dropped the connection).

    A ``ConnectionError``, so tasks with ``retry_on=(ConnectionError,)`` retry it.

    Attributes:
        source: the source string as given (credentials are not removed; do not log it blindly).
    """

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        super().__init__(message)


class DataValidationError(SuiroError, ValueError):
    """One or more data checks failed; the message and ``failures`` list every one.

    Attributes:
        failures: one line per failed check with its measured value, in check order.
    """

    def __init__(self, message: str, *, failures: Sequence[str]):
        self.failures = list(failures)
        super().__init__(message)


class _MessageKeyError(LookupError):
    """A ``KeyError`` whose ``str()`` is the message itself, not its quoted repr."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownModelError(SuiroError, _MessageKeyError, KeyError):
    """A model name is not in the catalogue for the task type.

    Attributes:
        name: the name asked for.
        task_type: ``classification`` or ``regression``.
        known: the names available for that task type, sorted.
    """

    def __init__(self, message: str, *, name: str, task_type: str, known: Sequence[str]):
        self.name = name
        self.task_type = task_type
        self.known = list(known)
        super().__init__(message)


class UnknownMetricError(SuiroError, _MessageKeyError, KeyError):
    """A metric name is not among the metrics the evaluations computed.

    Attributes:
        metric: the name asked for.
        available: the metric names that were computed, sorted.
    """

    def __init__(self, message: str, *, metric: str, available: Sequence[str]):
        self.metric = metric
        self.available = list(available)
        super().__init__(message)


class RegistryError(SuiroError, ValueError):
    """A model registry request is invalid (name, stage, version selector) or cannot be done now.

    Attributes:
        name: the model name the problem is about, when known.
    """

    def __init__(self, message: str, *, name: str | None = None):
        self.name = name
        super().__init__(message)


class ModelNotFoundError(SuiroError, LookupError):
    """No registered model (or version of it) matches what was asked for.

    Attributes:
        name: the model name asked for.
        version: the version or selector asked for (None when the name itself is unknown).
        versions: the versions the name has, sorted (empty when the name is unknown).
    """

    def __init__(
        self, message: str, *, name: str, version: int | str | None = None, versions: Sequence[int] = ()
    ):
        self.name = name
        self.version = version
        self.versions = list(versions)
        super().__init__(message)


class PredictionInputError(SuiroError, ValueError):
    """Records sent to a served model do not match its input schema.

    Attributes:
        problems: ``(field, message)`` pairs, e.g. ``("records[0].age", "missing column")``.
    """

    def __init__(self, message: str, *, problems: Sequence[tuple[str, str]] = ()):
        self.problems = list(problems)
        super().__init__(message)


class UiError(SuiroError, ValueError):
    """``suiro ui`` cannot start as asked: a non-loopback address without a token, a bad token file."""
