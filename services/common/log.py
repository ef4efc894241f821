"""Structured JSON logs on stdout, one object per line (twelve-factor: logs are a stream).

Two filters on the one handler every logger goes through keep what must not be in logs
out of them, whatever the code that logs:
- `PiiLogFilter` masks card numbers, email addresses and phone numbers (unless
  `HEATDESK_PII_ALLOW` allows a kind), see `services.common.pii`;
- `SecretsLogFilter` replaces the value of every secret setting found in the environment
  (or in its `NAME_FILE`) with `***`, wherever it would appear: a DSN password, a token,
  a webhook URL carrying its token. Nothing logs secrets on purpose; this is the net
  under a future mistake (a repr of a client, an exception quoting a URL).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from services.common.pii import PiiLogFilter

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.converter = time.gmtime  # type: ignore[assignment]  # the "Z" in ts means UTC

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                # An extra never replaces ts, level, service, logger or msg: `level` is always a
                # standard level name that log shippers can filter on.
                entry[f"extra_{key}" if key in entry else key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


#: Settings whose value is a secret: by name (…PASSWORD, …SECRET, …TOKEN(S), …KEY), plus the
#: webhook URL (Slack and Teams put the credential in the path).
_SECRET_NAME = re.compile(r"^(HEATDESK_|KAFKA_).*(PASSWORD|SECRET|TOKENS?|_KEY|_WEBHOOK_URL)$")
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values this process was given, longest first."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        secret_name = name[:-5] if name.endswith("_FILE") else name
        if not _SECRET_NAME.match(secret_name) and secret_name != "DATABASE_URL":
            continue
        if name.endswith("_FILE"):
            try:
                with open(value, encoding="utf-8") as handle:
                    value = handle.read().rstrip("\n")
            except OSError:
                continue
        if secret_name == "DATABASE_URL":
            password = urlsplit(value).password
            found.update({password, unquote(password)} if password else set())
            continue
        found.add(value)
        if secret_name.endswith("_TOKENS"):  # source:token,source:token
            found.update(part.partition(":")[2] for part in value.split(","))
    return sorted((v.strip() for v in found if v and len(v.strip()) >= _MIN_SECRET_LEN), key=len, reverse=True)


class SecretsLogFilter(logging.Filter):
    """Replaces every known secret value in a record (message, extras, traceback) with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            message = str(record.msg)
        record.msg, record.args = self._scrub(message), ()
        for key, value in list(record.__dict__.items()):
            if key in _RESERVED or key.startswith("_") or isinstance(value, (int, float, bool, type(None))):
                continue
            if not isinstance(value, (str, Mapping, list, tuple)):
                value = str(value)  # what the JSON formatter would print for it
            setattr(record, key, self._scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True


def configure(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, aiokafka's, aiohttp's) through the JSON formatter."""
    formatter = JsonFormatter(service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(PiiLogFilter())
    handler.addFilter(SecretsLogFilter(secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every retried connection at ERROR; keep its noise at WARNING and up.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
