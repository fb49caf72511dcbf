"""Create one virtual environment per benchmarked tool under ``bench/.venvs/<tool>``.

Usage: python bench/setup.py [--airflow] [TOOL ...]

Each venv is reused while its stamp file (``.installed``) holds the same requirement
list; a failed install leaves ``.failed`` with the reason, so ``bench/run.py`` reports
the tool as 'n/a (install failed: ...)' instead of stopping. Installs come from PyPI
with lower bounds only; the versions actually installed are printed and stored in the
stamp, and each runner reports its own versions in the raw JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import venv
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"

# Same ML stack everywhere so W3 measures the orchestrator, not a different sklearn.
ML = ["scikit-learn>=1.4", "pandas>=2.1", "numpy>=1.26"]

REQUIREMENTS: dict[str, list[str]] = {
    "suiro": ["-e", str(REPO), *ML],
    "prefect": ["prefect>=3", *ML],
    "dagster": ["dagster>=1.8", *ML],
    "dask": ["dask[distributed]>=2024.8", *ML],
    "hamilton": ["sf-hamilton>=1.80", *ML],
    "airflow": ["apache-airflow>=3", *ML],
}
DEFAULT_TOOLS = ["suiro", "prefect", "dagster", "dask", "hamilton"]
VERSIONED = {
    "suiro": "suiro",
    "prefect": "prefect",
    "dagster": "dagster",
    "dask": "dask",
    "hamilton": "sf-hamilton",
    "airflow": "apache-airflow",
}


def python_of(tool: str) -> Path:
    """The interpreter of ``tool``'s venv."""
    return VENVS / tool / "bin" / "python"


def failure_of(tool: str) -> str | None:
    """Why ``tool``'s venv is unusable, or None when it is ready."""
    failed = VENVS / tool / ".failed"
    if failed.exists():
        return "install failed: " + failed.read_text().strip().splitlines()[-1][:120]
    if not (VENVS / tool / ".installed").exists():
        return f"not installed: run bench/setup.py {tool}"
    return None


def ensure(tool: str) -> bool:
    """Create or reuse ``tool``'s venv; return whether it is ready."""
    home = VENVS / tool
    spec = "\n".join(REQUIREMENTS[tool])
    if tool == "suiro":  # reinstall when suiro's own dependencies change
        spec += "\n# pyproject " + hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = home / ".installed"
    if stamp.exists() and stamp.read_text().split("\n# installed\n")[0] == spec:
        print(f"[setup] {tool}: reusing {home}", flush=True)
        return True
    shutil.rmtree(home, ignore_errors=True)
    print(f"[setup] {tool}: creating {home} ({' '.join(REQUIREMENTS[tool])})", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    pip = [str(python_of(tool)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, *REQUIREMENTS[tool]], capture_output=True, text=True)
    if proc.returncode != 0:
        reason = proc.stderr.strip() or proc.stdout.strip() or f"pip exited {proc.returncode}"
        (home / ".failed").write_text(reason[-4000:] + "\n")
        print(f"[setup] {tool}: FAILED: {reason.splitlines()[-1]}", flush=True)
        return False
    version = subprocess.run(
        [str(python_of(tool)), "-m", "pip", "show", VERSIONED[tool]], capture_output=True, text=True
    ).stdout
    line = next((x for x in version.splitlines() if x.startswith("Version:")), "Version: ?")
    stamp.write_text(f"{spec}\n# installed\n{VERSIONED[tool]} {line.split()[-1]}\n")
    print(f"[setup] {tool}: {VERSIONED[tool]} {line.split()[-1]}", flush=True)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="*", help=f"default: {' '.join(DEFAULT_TOOLS)}")
    parser.add_argument("--airflow", action="store_true", help="also set up Airflow 3 (slow, heavy)")
    args = parser.parse_args()
    tools = args.tools or DEFAULT_TOOLS + (["airflow"] if args.airflow else [])
    unknown = sorted(set(tools) - set(REQUIREMENTS))
    if unknown:
        sys.exit(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(REQUIREMENTS)}.")
    VENVS.mkdir(parents=True, exist_ok=True)
    results = {tool: ensure(tool) for tool in tools}
    if not results.get("suiro", True):
        sys.exit("suiro itself failed to install; see bench/.venvs/suiro/.failed.")


if __name__ == "__main__":
    main()
