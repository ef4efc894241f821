"""The policies in force, reloaded when their file changes; a bad new file is refused.

A ConfigMap update lands as a new file (Kubernetes swaps a symlink); hashing the content
every few seconds catches that and plain edits alike, without inotify. The legacy
`HEATDESK_SLA_FIRST_RESPONSE_TARGETS` overrides are re-applied on every reload, so the
variable keeps meaning what it meant before policies files existed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

from services.common.errors import ConfigError
from services.common.reload import ReloadingFile
from services.common.slapolicy.loader import load_policies
from services.common.slapolicy.model import PRIORITIES, PolicySet

log = logging.getLogger(__name__)


def check_overrides(targets: Mapping[str, float]) -> dict[str, float]:
    """First-response seconds per priority, as given (no defaults merged in)."""
    unknown = sorted(set(targets) - set(PRIORITIES))
    if unknown:
        raise ConfigError(f"HEATDESK_SLA_FIRST_RESPONSE_TARGETS names unknown priorities {unknown}; use {PRIORITIES}")
    bad = {k: v for k, v in targets.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise ConfigError(f"HEATDESK_SLA_FIRST_RESPONSE_TARGETS must be positive, finite seconds: {bad}")
    return {k: float(v) for k, v in targets.items()}


class PolicyHolder(ReloadingFile[PolicySet]):
    """`current()` is what every batch reads; `watch()` swaps in a changed, valid file."""

    def __init__(self, path: Path | str | None = None, first_response_overrides: Mapping[str, float] | None = None,
                 on_reload: Callable[[str], None] | None = None) -> None:
        self.overrides = check_overrides(first_response_overrides or {})
        resolved = Path(path) if path else None
        super().__init__(resolved, lambda: load_policies(resolved).with_first_response_targets(self.overrides),
                         "SLA policies", on_reload)
