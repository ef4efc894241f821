"""The policies in force, reloaded when their file changes; a bad new file is refused.

A ConfigMap update lands as a new file (Kubernetes swaps a symlink); hashing the content
every few seconds catches that and plain edits alike, without inotify. The legacy
`HEATDESK_SLA_FIRST_RESPONSE_TARGETS` overrides are re-applied on every reload, so the
variable keeps meaning what it meant before policies files existed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

from services.common.errors import ConfigError
from services.common.slapolicy.loader import PolicyError, load_policies
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


class PolicyHolder:
    """`current()` is what every batch reads; `watch()` swaps in a changed, valid file."""

    def __init__(self, path: Path | str | None = None, first_response_overrides: Mapping[str, float] | None = None,
                 on_reload: Callable[[str], None] | None = None) -> None:
        self.path = Path(path) if path else None
        self.overrides = check_overrides(first_response_overrides or {})
        self.on_reload = on_reload or (lambda outcome: None)
        self._policies = self._load()  # a bad file at start is a configuration error: refuse to start
        self._digest = self._hash()
        self.last_error = ""

    def _load(self) -> PolicySet:
        return load_policies(self.path).with_first_response_targets(self.overrides)

    def current(self) -> PolicySet:
        return self._policies

    def _hash(self) -> str:
        if self.path is None:
            return ""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def check(self) -> bool:
        """Reload if the file changed; True when new policies are in force."""
        digest = self._hash()
        if self.path is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            policies = self._load()
        except PolicyError as exc:
            self.last_error = str(exc)
            self.on_reload("refused")
            log.error("new SLA policies refused; the previous ones stay in force", extra={"problems": exc.problems})
            return False
        self._policies = policies
        self.last_error = ""
        self.on_reload("applied")
        log.info("SLA policies reloaded", extra={"policies": policies.names(), "source": policies.source})
        return True

    async def watch(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            self.check()
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
