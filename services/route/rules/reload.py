"""Hot reload of the rules file: a good new file replaces the rules, a bad one is refused.

A ConfigMap update lands as a new file (Kubernetes swaps a symlink); checking the content
hash every few seconds catches that and plain edits alike, without inotify.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from services.common.metrics import Metrics
from services.route.rules.load import RulesError, load_rules
from services.route.rules.model import RuleSet

log = logging.getLogger(__name__)


class RulesHolder:
    """The rules in force. `current()` is what the router reads for every batch."""

    def __init__(self, path: Path | None, metrics: Metrics) -> None:
        self.path = path
        self.metrics = metrics
        self._rules = load_rules(path)  # a bad file at start is a configuration error: refuse to start
        self._digest = self._hash()
        self.last_error = ""

    def current(self) -> RuleSet:
        return self._rules

    def _hash(self) -> str:
        if self.path is None:
            return ""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def check(self) -> bool:
        """Reload if the file changed; True when new rules are in force."""
        digest = self._hash()
        if self.path is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            rules = load_rules(self.path)
        except RulesError as exc:
            self.last_error = str(exc)
            self.metrics.rules_reloads.labels("refused").inc()
            log.error("new rules refused; the previous rules stay in force", extra={"problems": exc.problems})
            return False
        self._rules = rules
        self.last_error = ""
        self.metrics.rules_reloads.labels("applied").inc()
        log.info("rules reloaded", extra={"rules": len(rules.rules), "source": rules.source})
        return True

    async def watch(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            self.check()
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
