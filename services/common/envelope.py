"""CloudEvents 1.0 in Kafka binary content mode, with orjson bodies.

Attributes travel as `ce_*` headers and the body is the event data itself, so
subscribers that know nothing of CloudEvents still read plain JSON, and those that do
get id/type/source/time without parsing the body. (CloudEvents Kafka protocol binding.)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from services.common.errors import PoisonRecord
from services.common.ids import uuid7
from services.common.timeutil import format_rfc3339, parse_rfc3339, utcnow

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = Sequence[tuple[str, bytes]]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One CloudEvent: `data` is the JSON body, `key` the Kafka partition key."""

    type: str
    source: str
    data: dict[str, Any]
    key: str | None = None
    id: str = dataclasses.field(default_factory=uuid7)
    time: datetime = dataclasses.field(default_factory=utcnow)
    subject: str | None = None
    dataschema: str | None = None
    _body: bytes | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_specversion", _SPECVERSION),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", format_rfc3339(self.time).encode()),
            ("content-type", _CONTENT_TYPE),
        ]
        if self.subject:
            headers.append(("ce_subject", self.subject.encode()))
        dataschema = self.dataschema or _default_schema(self.type)
        if dataschema:
            headers.append(("ce_dataschema", dataschema.encode()))
        return headers

    def body(self) -> bytes:
        """The JSON body, encoded once: route stores each case event in `case_events` and in the
        outbox and sends it to the broker, all with these bytes. So `data` must not change once
        the body has been asked for (an Event is immutable by contract, its `data` by convention)."""
        if self._body is None:
            object.__setattr__(self, "_body", orjson.dumps(self.data))
        return self._body  # type: ignore[return-value]

    def key_bytes(self) -> bytes | None:
        return self.key.encode() if self.key is not None else None


_SPECVERSION = SPECVERSION.encode()
_CONTENT_TYPE = CONTENT_TYPE.encode()


@functools.cache  # a handful of event types; every published event asks
def _default_schema(event_type: str) -> str | None:
    from services.common.schemas import SCHEMA_FILES, schema_uri

    return schema_uri(event_type) if event_type in SCHEMA_FILES else None


def header_map(headers: Headers | None) -> dict[str, bytes]:
    return {k: v for k, v in (headers or ())}


def decode(headers: Headers | None, value: bytes | None, key: bytes | None = None,
           expected_types: frozenset[str] | None = None) -> Event:
    """Decode a Kafka record into an Event, or raise PoisonRecord with a precise reason."""
    h = header_map(headers)
    missing = [name for name in ("ce_id", "ce_type", "ce_source", "ce_specversion") if name not in h]
    if missing:
        raise PoisonRecord("missing_header", ", ".join(missing))
    try:
        specversion = h["ce_specversion"].decode()
        event_type = h["ce_type"].decode()
        event_id = h["ce_id"].decode()
        source = h["ce_source"].decode()
        time = parse_rfc3339(h["ce_time"].decode()) if "ce_time" in h else utcnow()
    except (UnicodeDecodeError, ValueError) as exc:
        raise PoisonRecord("bad_header", str(exc)) from exc
    if specversion != SPECVERSION:
        raise PoisonRecord("unsupported_specversion", specversion)
    if expected_types is not None and event_type not in expected_types:
        raise PoisonRecord("unsupported_type", event_type)
    if value is None:
        raise PoisonRecord("empty_body")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonRecord("invalid_json", str(exc)) from exc
    if not isinstance(data, dict):
        raise PoisonRecord("invalid_body", "event data must be a JSON object")
    subject = h["ce_subject"].decode(errors="replace") if "ce_subject" in h else None
    dataschema = h["ce_dataschema"].decode(errors="replace") if "ce_dataschema" in h else None
    return Event(type=event_type, source=source, data=data, id=event_id, time=time, subject=subject,
                 dataschema=dataschema, key=key.decode(errors="replace") if key is not None else None)
