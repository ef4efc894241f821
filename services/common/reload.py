"""A configuration file in force, swapped when its content changes; a bad new file is refused.

A ConfigMap update lands as a new file (Kubernetes swaps a symlink); hashing the content
every few seconds catches that and plain edits alike, without inotify. Routing rules and
SLA policies both use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from services.common.errors import ConfigError

T = TypeVar("T")
log = logging.getLogger(__name__)


class ReloadingFile(Generic[T]):
    def __init__(self, path: Path | None, load: Callable[[], T], what: str,
                 on_reload: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._load = load
        self.what = what
        self.on_reload = on_reload or (lambda outcome: None)
        self._value = load()  # a bad file at start is a configuration error: refuse to start
        self._digest = self._hash()
        self.last_error = ""

    def current(self) -> T:
        return self._value

    def _hash(self) -> str:
        if self.path is None:
            return ""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def check(self) -> bool:
        """Reload if the file changed; True when the new content is in force."""
        digest = self._hash()
        if self.path is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            value = self._load()
        except ConfigError as exc:
            self.last_error = str(exc)
            self.on_reload("refused")
            log.error(f"new {self.what} refused; the previous ones stay in force",
                      extra={"problems": getattr(exc, "problems", [str(exc)])})
            return False
        self._value = value
        self.last_error = ""
        self.on_reload("applied")
        log.info(f"{self.what} reloaded", extra={"source": str(self.path)})
        return True

    async def watch(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            self.check()
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
