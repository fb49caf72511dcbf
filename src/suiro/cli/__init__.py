"""The ``suiro`` command: parse arguments, call ``suiro.api``/``suiro.history``, render.

No logic lives here: every command is one library call plus rendering. ``app`` composes the
command modules; heavy modules are imported inside commands so ``suiro --help`` stays fast.
"""

from suiro.cli.app import app, main

__all__ = ["app", "main"]
