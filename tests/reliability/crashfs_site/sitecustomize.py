"""Installs the CrashFS fsync journal in every Python process started with ``CRASHFS_JOURNAL`` set.

``CrashFS.env()`` puts this folder first on ``PYTHONPATH``, so ``suiro`` and its workers (forked
or fresh interpreters) all journal their fsyncs. ``crashfs.py`` is loaded by file path under a
private name: nothing else of the tests becomes importable in the process under test.
"""

import os

if os.environ.get("CRASHFS_JOURNAL"):
    import importlib.util
    import sys

    _spec = importlib.util.spec_from_file_location(
        "_crashfs", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "crashfs.py")
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["_crashfs"] = _module  # dataclasses look their module up while the class is made
    _spec.loader.exec_module(_module)
    _module.install()
