"""``import suiro``: what the package offers as attributes, and that importing it stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def python(code: str, home: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUIRO_HOME": home, "PYTHONPATH": os.path.abspath(SRC)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
    )


def test_history_api_and_registry_are_attributes_loaded_on_first_use(tmp_path):
    done = python(
        """
        import json, sys
        import suiro
        eager = sorted(m for m in ("suiro.history", "suiro.api", "suiro.registry") if m in sys.modules)
        runs = suiro.history.runs()
        try:
            suiro.histroy
        except AttributeError as exc:
            unknown = str(exc)
        print(json.dumps({
            "eager": eager,
            "runs": runs,
            "resume": suiro.api.resume.__name__,
            "registry": suiro.registry.Registry.__name__,
            "unknown": unknown,
        }))
        """,
        str(tmp_path / "home"),
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "eager": [],
        "runs": [],
        "resume": "resume",
        "registry": "Registry",
        "unknown": "module 'suiro' has no attribute 'histroy'",
    }
