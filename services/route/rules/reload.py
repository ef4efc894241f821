"""Hot reload of the rules file: a good new file replaces the rules, a bad one is refused.

A ConfigMap update lands as a new file (Kubernetes swaps a symlink); checking the content
hash every few seconds catches that and plain edits alike, without inotify.
"""

from __future__ import annotations

import logging
from pathlib import Path

from services.common.metrics import Metrics
from services.common.reload import ReloadingFile
from services.route.rules.load import load_rules
from services.route.rules.model import RuleSet

log = logging.getLogger(__name__)


class RulesHolder(ReloadingFile[RuleSet]):
    """The rules in force. `current()` is what the router reads for every batch."""

    def __init__(self, path: Path | None, metrics: Metrics) -> None:
        super().__init__(path, lambda: load_rules(path), "routing rules",
                         lambda outcome: metrics.rules_reloads.labels(outcome).inc())
        self.metrics = metrics
