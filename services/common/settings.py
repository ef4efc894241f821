"""Typed, frozen settings read from the environment (twelve-factor).

Every service declares one frozen dataclass of its settings. Field `foo_bar` is read
from `HEATDESK_FOO_BAR`; the two settings every Kafka/PostgreSQL operator already knows
are read from their conventional unprefixed names as well (`KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL`). Parsing happens once at start, so a typo fails the start with a
`ConfigError` that names the variable instead of failing later.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from services.common.errors import ConfigError

PREFIX = "HEATDESK_"

#: Settings that are read from an unprefixed, conventional variable name first.
UNPREFIXED = {
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "database_url": "DATABASE_URL",
}

T = TypeVar("T")


def env_name(field_name: str) -> str:
    """The environment variable that sets `field_name`."""
    return UNPREFIXED.get(field_name, PREFIX + field_name.upper())


def _parse(raw: str, kind: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw == "":
            return None
        return _parse(raw, inner[0], name)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is str:
            return raw
        if origin is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if origin is dict or kind is dict:
            return parse_mapping(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {getattr(kind, '__name__', kind)}: {exc}") from exc
    raise ConfigError(f"{name}: unsupported setting type {kind!r}")


def parse_mapping(raw: str) -> dict[str, float]:
    """Parse `a=1,b=2.5` into a mapping of names to numbers."""
    result: dict[str, float] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{part!r} is not key=value")
        result[key.strip()] = float(value)
    return result


def _read_secret_file(name: str, path: str) -> str:
    """`NAME_FILE=/path`: the value of NAME read from a mounted secret (trailing newline dropped)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from exc


def load(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Build settings `cls` from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = env_name(field.name)
        raw = env.get(name)
        if raw is None and env.get(name + "_FILE"):
            raw = _read_secret_file(name, env[name + "_FILE"])
        if raw is None and field.name in UNPREFIXED:
            raw = env.get(PREFIX + field.name.upper())
        if raw is None:
            continue
        values[field.name] = _parse(raw, hints[field.name], name)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default, doc) rows for `heatdesk config` and docs/reference/settings.md."""
    rows = []
    for field in dataclasses.fields(cls):
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else "")  # type: ignore[misc]
        if isinstance(default, tuple):
            default = ",".join(default)
        if isinstance(default, dict):
            default = ",".join(f"{k}={v:g}" for k, v in default.items())
        rows.append((env_name(field.name), str(default), field.metadata.get("doc", "")))
    return rows
