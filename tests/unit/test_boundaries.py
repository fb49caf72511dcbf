"""Boundaries import-linter cannot see: SQL is written only under ``suiro.store``.

``lint-imports`` (pyproject.toml) keeps the database drivers out of the other packages; this
scan keeps the statements out. Every string in suiro's source that reads as SQL (a statement
keyword followed by SQL, e.g. ``SELECT ... FROM``, ``UPDATE ... SET``), and every
``.execute``/``.executemany``/``.query`` call given one, must be in a module under
``suiro/store/``, so the registry, the API, the CLI and the web UI reach the database only
through the store's functions. Docstrings are prose and are skipped. The last test feeds the
scan a module that breaks the rule, to show it is caught.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import suiro

SRC = Path(suiro.__file__).resolve().parent
#: The start of a SQL statement, in the upper case suiro writes SQL in.
_SQL = re.compile(
    r"\s*(SELECT\s.+\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX|UNIQUE)\s"
    r"|DROP\s|ALTER\s+TABLE\s|PRAGMA\s+\w|BEGIN\b|LOCK\s+TABLE\s|WITH\s+\w+\s+AS\s)",
    re.S,
)
_CALLS = {"execute", "executemany", "query", "executescript"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_in(source: str) -> list[int]:
    """Lines of ``source`` holding SQL text, or a database call given literal text."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if _SQL.match(node.value):
                lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            if _SQL.match(str(node.values[0].value)):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_sql_is_written_only_under_suiro_store():
    outside = {}
    inside = 0
    for path in sorted(SRC.rglob("*.py")):
        found = sql_in(path.read_text(encoding="utf-8"))
        if path.relative_to(SRC).parts[0] == "store":
            inside += len(found)
        elif found:
            outside[str(path.relative_to(SRC))] = found
    assert inside > 50, "the scan finds the store's own statements"
    assert outside == {}, f"SQL outside suiro.store (move it into a store module): {outside}"


def test_the_scan_catches_sql_text_and_database_calls():
    module = '''
"""A docstring may say SELECT * FROM runs."""
ROWS = "SELECT * FROM model_versions WHERE name = :name"
def f(db, tx, name):
    tx.execute(f"UPDATE runs SET state = 'x' WHERE id = {name}")
    db.query("whatever")
    return "selected from the runs"
'''
    assert sql_in(module) == [3, 5, 6]
