"""Walking and mutating parsed YAML documents, for the fuzzers of the rules and policies loaders."""

from __future__ import annotations

import copy
from typing import Any


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and list indices) in a document, the root `()` first."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def mutated(document: Any, path: tuple, replacement: Any, delete: bool) -> Any:
    """A copy of `document` with the value at `path` replaced (or, in a mapping, deleted)."""
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return document
