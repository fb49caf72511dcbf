"""Serve one registered model version over HTTP: the FastAPI app factory and the uvicorn runner.

Owns the request contract: ``POST /predict`` takes only ``Content-Type: application/json`` (else
415: a ``text/plain`` POST is one any web page may send to a local server), records are checked
against the version's input schema (every missing, unknown or mistyped field is named in a 422;
a missing value only where the model's preprocessing imputes it, as ``GET /model`` shows), batches
and bodies are bounded (a body over the limit gets a 413 before it is read in full), and the frame
handed to the model has the schema's column order and dtypes, so predictions equal
``model.predict`` on the same frame in process. Binds to 127.0.0.1 unless told otherwise. Reads
the registry (the model at start, the stage on ``GET /model``) and never writes to it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from suiro.errors import PredictionInputError, RegistryError, did_you_mean
from suiro.registry import ModelVersion, Registry
from suiro.server.imputation import imputations
from suiro.server.values import converter, decode, json_type, missing

#: Request bodies larger than this are refused with 413 (about 10 MB).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: At most this many problems are listed in one 422 response (a whole record of missing values fits).
MAX_PROBLEMS = 100
#: What a missing value gets where nothing in the model's preprocessing imputes it.
NOT_IMPUTED = "the model has no imputation for this column, so send a value"
#: What a record with every value missing gets, even where each could be imputed.
ALL_MISSING = (
    "every value is missing, so the answer would come from imputed values alone; send the record's values"
)
_log = logging.getLogger("suiro.serving")


def create_app(
    registry: Registry, ref: str, *, max_batch: int = 10_000, max_body: int = MAX_BODY_BYTES
) -> FastAPI:
    """A FastAPI app serving the model version ``ref`` (``NAME``, ``NAME@7``, ``NAME@production``).

    The version is resolved and its model loaded (hash-verified) once, here, so a bad ref fails
    before anything listens.

    Raises:
        ModelNotFoundError, RegistryError: the ref matches no version, or it has no input schema.
        ArtifactError, SerializerError: the model cannot be loaded.
    """
    version = registry.get(ref)
    predictor = Predictor(version, registry.load(version), max_batch=max_batch)
    app = FastAPI(title=f"suiro model {version.ref}", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.version = version
    app.add_middleware(BodyLimit, limit=max_body)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model")
    def model() -> dict[str, Any]:
        info = registry.get(version.name, version.version).to_dict()  # the stage may have changed
        return {**info, "input_schema": predictor.schema()}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            sent = media or "no Content-Type"
            detail = f"send the records as JSON with Content-Type: application/json, not {sent}."
            return JSONResponse({"detail": detail}, status_code=415)
        body = await request.body()
        try:
            return JSONResponse(await run_in_threadpool(predictor, body))
        except PredictionInputError as exc:
            problems = [{"field": field, "message": message} for field, message in exc.problems]
            return JSONResponse({"detail": str(exc), "errors": problems}, status_code=422)
        except Exception as exc:  # the model itself failed: report it, keep serving
            _log.exception("model %s failed on a request", version.ref)
            detail = f"the model {version.ref} failed on these records ({type(exc).__name__}: {exc})."
            return JSONResponse({"detail": detail}, status_code=500)

    return app


def serve(
    ref: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    home: str | Path | None = None,
    *,
    max_batch: int = 10_000,
) -> None:
    """Serve ``ref`` with uvicorn until interrupted; warn when ``host`` is not a loopback address.

    Raises:
        ModelNotFoundError, RegistryError, ArtifactError, SerializerError: as for ``create_app``.
    """
    import uvicorn

    app = create_app(Registry(home), ref, max_batch=max_batch)
    version: ModelVersion = app.state.version
    if not is_loopback(host):
        print(
            f"warning: serving on {host} makes model {version.ref} reachable from other machines, without "
            "authentication; use --host 127.0.0.1 unless that is intended.",
            file=sys.stderr,
        )
    print(
        f"serving model {version.ref} ({version.stage}) on http://{host}:{port}", file=sys.stderr, flush=True
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: assume it is reachable
        return False


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, without reading them in full.

    A declared ``Content-Length`` over the limit is refused before any body byte is read; a
    chunked body is read only until it passes the limit.
    """

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES, advice: str = "send fewer records per request"):
        self.app = app
        self.limit = limit
        #: What the 413 tells the client to do (the model server's records; the UI's forms).
        self.advice = advice

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send, declared)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(send, None)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()  # waits for the disconnect, as Starlette expects
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable, declared: bytes | None) -> None:
        if declared is not None and not declared.isdigit():
            status, detail = 400, "the Content-Length header is not a number."
        else:
            status = 413
            detail = f"the request body is larger than {self.limit} bytes; {self.advice}."
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Predictor:
    """Validate a request body against a version's input schema and predict with its model.

    Args:
        version: the served version (its ``input_schema`` gives the columns, their order and dtypes).
        model: the loaded model.
        max_batch: the most records one request may carry.

    Raises:
        RegistryError: the version has no input schema.
    """

    def __init__(self, version: ModelVersion, model: Any, *, max_batch: int = 10_000):
        if not version.input_schema:
            raise RegistryError(
                f"model {version.ref} has no input schema, so records cannot be checked; register it "
                "again with input_schema=<the training DataFrame>.",
                name=version.name,
            )
        self.version = version
        self.model = model
        self.max_batch = max_batch
        self.columns = [c["name"] for c in version.input_schema]
        self.dtypes = {c["name"]: c["dtype"] for c in version.input_schema}
        self._kinds = {c: converter(self.dtypes[c]) for c in self.columns}
        self.imputed = imputations(model, self.columns)
        self.probabilities = version.task_type == "classification" and hasattr(model, "predict_proba")

    def __call__(self, body: bytes) -> dict[str, Any]:
        """Predict for a JSON body ``{"records": [...]}``.

        Raises:
            PredictionInputError: the body or a record does not fit (every problem is listed).
        """
        frame = self.frame(self.records(body))
        try:
            result: dict[str, Any] = {"predictions": self.model.predict(frame).tolist()}
            if self.probabilities:
                result["probabilities"] = self.model.predict_proba(frame).tolist()
        except (ValueError, TypeError, OverflowError) as exc:  # what models raise for values they refuse
            reason = " ".join(str(exc).split())
            raise _problem(
                "records", f"the model rejected the records ({type(exc).__name__}: {reason})"
            ) from exc
        return {**result, "model": self.version.name, "version": self.version.version}

    def records(self, body: bytes) -> list[dict[str, Any]]:
        """The records of a request body, after checking the envelope."""
        try:
            payload = decode(body)
        except (ValueError, RecursionError) as exc:
            raise _problem("body", f"the body is not JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise _problem("body", 'the body must be a JSON object like {"records": [{...}, ...]}')
        extra = sorted(set(payload) - {"records"})
        if extra:
            raise _problem(extra[0], f"unknown field {extra[0]!r} in the body; send only 'records'")
        if "records" not in payload:
            raise _problem("records", "the body has no 'records' field; send a list of records in it")
        records = payload["records"]
        if not isinstance(records, list):
            raise _problem("records", f"'records' must be a list of objects, not {json_type(records)}")
        if not records:
            raise _problem("records", "'records' is empty; send at least one record")
        if len(records) > self.max_batch:
            raise _problem(
                "records",
                f"'records' has {len(records)} records, over the limit of {self.max_batch}; split it",
            )
        return records

    def frame(self, records: list[Any]) -> Any:
        """A DataFrame of ``records`` in the schema's column order and dtypes.

        A missing value (null, NaN, or "nan" in a numeric column) stays NaN where the model
        imputes the column and is a problem elsewhere; so is a record with every value missing.

        Raises:
            PredictionInputError: records that are not objects; missing, unknown or mistyped
                fields; missing values the model does not impute.
        """
        problems: list[tuple[str, str]] = []
        values: dict[str, list[Any]] = {c: [] for c in self.columns}
        gaps: set[str] = set()
        for i, record in enumerate(records):
            if len(problems) > MAX_PROBLEMS:
                break
            if not isinstance(record, dict):
                problems.append(
                    (f"records[{i}]", f"must be an object {{column: value}}, not {json_type(record)}")
                )
                continue
            problems.extend(self._record(i, record, values, gaps))
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], ("records", "more problems, not listed")]
        if problems:
            raise _problems(problems)
        return self._build(values, gaps)

    def _record(
        self, i: int, record: dict[str, Any], values: dict[str, list[Any]], gaps: set[str]
    ) -> list[tuple[str, str]]:
        """Append record ``i``'s converted values to ``values``; its problems, if any."""
        problems = []
        for column in sorted(record.keys() - self.dtypes.keys()):
            close = did_you_mean(column, self.columns)
            problems.append(
                (f"records[{i}].{column}", f"unknown column{close}; the model takes {self._shown()}")
            )
        missing_values = 0
        for column in self.columns:
            field = f"records[{i}].{column}"
            if column not in record:
                problems.append((field, "missing column"))
                continue
            kind, convert = self._kinds[column]
            value = record[column]
            if kind == "float" and type(value) is float and math.isfinite(value):  # the common case
                values[column].append(value)
                continue
            shown = missing(value, kind)
            if shown is not None:
                missing_values += 1
                gaps.add(column)
                values[column].append(math.nan)
                if column not in self.imputed:
                    problems.append((field, f"missing value ({shown}); {NOT_IMPUTED}"))
                continue
            try:
                values[column].append(convert(value))
            except PredictionInputError as exc:
                problems.append((field, str(exc)))
        if missing_values == len(self.columns) and not problems:
            problems.append((f"records[{i}]", ALL_MISSING))
        return problems

    def _build(self, values: dict[str, list[Any]], gaps: set[str]) -> Any:
        """The DataFrame; one row-major block when every column has the same numeric dtype.

        That is the layout of frames made from a 2-D array (scikit-learn's datasets, their splits),
        and BLAS results depend on layout in the last bit: with it, probabilities equal the
        in-process ones exactly, not just to 1e-16. Integer and boolean columns with missing
        values become float and object columns, as pandas makes them.
        """
        import numpy as np
        import pandas as pd

        kinds = {self._kinds[c][0] for c in self.columns}
        dtypes = set(self.dtypes.values())
        if len(dtypes) == 1 and (kinds == {"float"} or (kinds == {"int"} and not gaps)):
            block = np.array([values[c] for c in self.columns], dtype=next(iter(dtypes)))
            return pd.DataFrame(np.ascontiguousarray(block.T), columns=self.columns, copy=False)
        columns = {}
        for column in self.columns:
            dtype = self.dtypes[column]
            if column in gaps:
                dtype = {"int": "float64", "bool": "object"}.get(self._kinds[column][0], dtype)
            try:
                columns[column] = pd.Series(values[column], dtype=None if dtype == "any" else dtype)
            except (ValueError, TypeError, OverflowError) as exc:
                raise _problems([(f"records.{column}", f"cannot be made {dtype} ({exc})")]) from None
        return pd.DataFrame(columns, columns=self.columns)

    def schema(self) -> list[dict[str, Any]]:
        """The input schema as ``GET /model`` shows it, with what a missing value gets per column.

        ``nullable`` says whether a column may be null, NaN or "nan"; ``imputation`` is how the
        model's preprocessing then fills it in (None where it may not be missing).
        """
        return [
            {
                "name": column,
                "dtype": self.dtypes[column],
                "nullable": column in self.imputed,
                "imputation": self.imputed[column].to_dict() if column in self.imputed else None,
            }
            for column in self.columns
        ]

    def _shown(self) -> str:
        shown = ", ".join(repr(c) for c in self.columns[:8])
        return shown + (f" and {len(self.columns) - 8} more" if len(self.columns) > 8 else "")


def _problem(field: str, message: str) -> PredictionInputError:
    return _problems([(field, message)])


def _problems(problems: list[tuple[str, str]]) -> PredictionInputError:
    field, message = problems[0]
    more = {1: "", 2: " (and 1 more problem)"}.get(len(problems), f" (and {len(problems) - 1} more problems)")
    return PredictionInputError(f"{field}: {message}{more}.", problems=problems)
