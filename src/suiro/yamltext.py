"""Every YAML suiro reads goes through ``load``: ``safe_load`` with a bound on what aliases expand to.

PyYAML builds an alias (``*name``) as a second reference to the anchored value, so a few hundred
bytes of nested aliases ("billion laughs") load at once into a value that expands to hundreds of
millions of items the moment anything walks it: formatting it for an error message, validating,
hashing or recording it. ``load`` counts, on the composed node graph and before any Python value
is built, how many values the aliases add, in time linear in the text; past
``MAX_ALIAS_VALUES`` or on an anchor that contains itself it raises ``YamlAliasError``, which
callers turn into one sentence naming their file or setting. A file without aliases is never
refused by size: its cost is its own length. Only ``SafeLoader``: Python tags stay a parse error.

Must not know what the YAML is for (config, secrets, ``--set`` text): callers name it.
"""

from __future__ import annotations

from typing import Any

import yaml

from suiro.errors import SuiroError

#: How many values (scalars, lists, mappings) aliases may add beyond those written in the text.
MAX_ALIAS_VALUES = 100_000


class YamlAliasError(SuiroError, ValueError):
    """YAML whose aliases expand past ``MAX_ALIAS_VALUES`` values, or an anchor inside itself.

    ``str()`` is the reason only (``its aliases expand to ...``); the caller names the source.
    """


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that checks each document's alias expansion before constructing it."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        if parent is None:  # the document's root: the whole node graph is known
            check_aliases(node)
        return node


def load(text: str) -> Any:
    """The value of one YAML document, read with ``SafeLoader`` and bounded alias expansion.

    Raises:
        yaml.YAMLError: the text is not valid YAML (or uses a Python tag).
        YamlAliasError: aliases expand past ``MAX_ALIAS_VALUES`` values, or an anchor contains
            an alias to itself.
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_with_lines(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """As ``load``, plus the line (1-based) where each key and list item starts, by its path.

    A path is the keys (as written, text) and list indexes from the top: ``("deployments", 0,
    "cron")``. Callers that validate the value name the line of the key a problem is about.

    Raises:
        yaml.YAMLError, YamlAliasError: as ``load``.
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    lines: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[tuple[Any, ...], yaml.Node]] = [((), node)] if node is not None else []
    while stack:  # without recursion, as check_aliases
        path, current = stack.pop()
        if isinstance(current, yaml.MappingNode):  # a key written twice: the last one counts, as in the value
            keyed = {
                (k.value if isinstance(k, yaml.ScalarNode) else k.start_mark.line): (k, v)
                for k, v in current.value
            }
            for name, (key, value) in keyed.items():
                lines[(*path, name)] = key.start_mark.line + 1
                stack.append(((*path, name), value))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*path, index)] = item.start_mark.line + 1
                stack.append(((*path, index), item))
    return data, lines


def check_aliases(root: yaml.Node) -> None:
    """Raise ``YamlAliasError`` if aliases under ``root`` add more than ``MAX_ALIAS_VALUES`` values.

    Each node's expanded size (itself plus its children's, an alias counting the whole value it
    names) is computed once, bottom-up and without recursion, so the check costs one visit per
    node written in the text however far the aliases would expand.
    """
    sizes: dict[int, int] = {}  # id(node) -> expanded size, once known
    open_: set[int] = set()  # nodes whose children are being sized: reaching one again is a loop
    written = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in open_:
            raise YamlAliasError(f"its anchor at line {node.start_mark.line + 1} refers to itself")
        written += 1
        open_.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes[id(root)] - written > MAX_ALIAS_VALUES:
        raise YamlAliasError(
            f"its aliases (*name) expand {written:,} written values to {sizes[id(root)]:,} "
            f"(at most {MAX_ALIAS_VALUES:,} more are allowed)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
