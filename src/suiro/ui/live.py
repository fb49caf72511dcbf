"""Server-sent events for a running run's page: its task states, whenever they change.

The stream polls ``reads.run_states`` (a light read on the read-only handle) every
``POLL_SECONDS`` and sends the states when they differ from the last sent, so a state
reaches the browser within about that long of being recorded; it ends (event ``end``) when
the run has, when the browser goes away, or after ``MAX_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from suiro.ui import actions, reads

router = APIRouter(include_in_schema=False)
POLL_SECONDS = 0.25
#: A stream is closed after this long; the browser's EventSource then reconnects.
MAX_SECONDS = 600.0
#: A comment line is sent when nothing changed for this long (keeps proxies from closing it).
KEEPALIVE_SECONDS = 15.0


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> StreamingResponse:
    registry = request.app.state.registry
    run_id = actions.check_run_id(run_id)
    first = await run_in_threadpool(reads.run_states, registry, run_id)  # an unknown run is a 404 here

    async def stream() -> AsyncIterator[str]:
        states, sent, quiet = first, None, time.monotonic()
        ends = time.monotonic() + MAX_SECONDS
        while True:
            text = json.dumps(states, sort_keys=True)
            if text != sent:
                yield f"data: {text}\n\n"
                sent, quiet = text, time.monotonic()
            elif time.monotonic() - quiet > KEEPALIVE_SECONDS:
                yield ": still here\n\n"
                quiet = time.monotonic()
            if states["state"] != "running":
                yield "event: end\ndata: {}\n\n"
                return
            if time.monotonic() > ends or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
            states = await run_in_threadpool(reads.run_states, registry, run_id)

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
