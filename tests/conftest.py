"""Shared fixtures: every test gets its own SUIRO_HOME in a temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def suiro_home(tmp_path, monkeypatch):
    home = tmp_path / "suiro-home"
    monkeypatch.setenv("SUIRO_HOME", str(home))
    return home
