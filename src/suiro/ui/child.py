"""``python -m suiro.ui.child SPEC``: the process the web UI starts a run, a re-run or a resume in.

``SPEC`` is JSON: ``{"run_id", "target", "params", "overrides", "executor"}`` for a run, or
``{"run_id", "resume"}`` for a resume of the run ``resume``. The run is recorded under
``run_id``, which the UI chose, so it can show the run's page at once and follow it live. A
problem before the run starts (the pipeline no longer loads, the run cannot be resumed) is one
line on stderr, which the UI's output file keeps and the run's page shows. Exit codes: 0 the
run succeeded, 1 it did not, 2 it could not start.
"""

from __future__ import annotations

import json
import sys

from suiro.errors import SuiroError


def main(argv: list[str]) -> int:
    """Run what ``argv[0]`` (JSON) asks for; the exit code."""
    from suiro import api

    spec = json.loads(argv[0])
    try:
        if "resume" in spec:
            result = api.resume(spec["resume"], new_run_id=spec["run_id"])
        else:
            result = api.run(
                spec["target"],
                params=spec.get("params") or {},
                overrides=spec.get("overrides") or (),
                executor=spec.get("executor"),
                run_id=spec["run_id"],
            )
    except SuiroError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"run {result.run_id} {result.state.value}", file=sys.stderr, flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
