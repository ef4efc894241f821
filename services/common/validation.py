"""Collecting every problem of a configuration file before refusing it.

Routing rules and SLA policies are YAML files operators edit; one pass should name every
mistake (`file: rule 'x': field: what`), not stop at the first. Both loaders gather
problems with `Problems` and raise a subclass of `InvalidConfigFile` with the whole list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.common.errors import ConfigError


class InvalidConfigFile(ConfigError):
    """A configuration file is invalid; `problems` lists each as `file: where: what`.

    At start the service refuses to run; on reload it keeps the last good file. Fix the file
    (the matching `heatdesk … check FILE` command lists the same problems).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Problems:
    """The problems found so far in one file (`source` names it in every line)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{self.source}: {where}: {what}" if where else f"{self.source}: {what}")

    def value(self, where: str, parse: Callable[[Any], Any], raw: Any) -> Any:
        """`parse(raw)`, or None with the parser's message recorded."""
        try:
            return parse(raw)
        except (ValueError, TypeError) as exc:
            self.add(where, str(exc))
            return None
