"""services.common.envelope: CloudEvents 1.0 in Kafka binary mode."""

from __future__ import annotations

from datetime import UTC, datetime, timezone

import orjson
import pytest

from services.common.envelope import CONTENT_TYPE, SPECVERSION, Event, decode, header_map
from services.common.errors import PoisonRecord
from services.common.timeutil import parse_rfc3339

TYPE = "com.example.unit.tested.v1"  # a type without a published schema


def make_event(**overrides) -> Event:
    fields = dict(type=TYPE, source="heatdesk/test", data={"a": 1, "text": "héllo", "nested": {"n": [1, 2]}},
                  key="x:cust-1", id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                  time=datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC))
    fields.update(overrides)
    return Event(**fields)


def test_headers_carry_the_cloudevents_attributes():
    h = header_map(make_event().headers())
    assert h["ce_specversion"] == b"1.0" == SPECVERSION.encode()
    assert h["ce_id"] == b"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert h["ce_type"] == TYPE.encode()
    assert h["ce_source"] == b"heatdesk/test"
    assert h["ce_time"] == b"2026-01-31T12:00:00.123456Z"
    assert h["content-type"] == b"application/json" == CONTENT_TYPE.encode()
    assert "ce_subject" not in h


def test_headers_are_bytes_and_subject_optional():
    headers = make_event(subject="case-1", dataschema="https://example.test/s.json").headers()
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
    h = header_map(headers)
    assert h["ce_subject"] == b"case-1"
    assert h["ce_dataschema"] == b"https://example.test/s.json"


def test_ce_time_is_utc_with_z_even_for_other_offsets():
    from datetime import timedelta
    ev = make_event(time=datetime(2026, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert header_map(ev.headers())["ce_time"] == b"2026-01-31T12:00:00Z"


def test_default_id_and_time():
    ev = Event(type=TYPE, source="s", data={})
    assert ev.id and ev.id != Event(type=TYPE, source="s", data={}).id
    assert ev.time.tzinfo is not None
    assert header_map(ev.headers())["ce_time"].endswith(b"Z")


def test_body_is_json_of_data_and_key_bytes():
    ev = make_event()
    assert orjson.loads(ev.body()) == ev.data
    assert ev.key_bytes() == b"x:cust-1"
    assert make_event(key=None).key_bytes() is None


def test_round_trip_through_decode():
    ev = make_event(subject="case-9")
    back = decode(ev.headers(), ev.body(), ev.key_bytes(), expected_types=frozenset({TYPE}))
    assert back.type == ev.type
    assert back.source == ev.source
    assert back.id == ev.id
    assert back.time == ev.time
    assert back.data == ev.data
    assert back.key == ev.key
    assert back.subject == "case-9"


def test_round_trip_keeps_dataschema():
    ev = make_event(dataschema="https://example.test/s.json")
    assert decode(ev.headers(), ev.body(), ev.key_bytes()).dataschema == ev.dataschema


def test_decode_without_ce_time_uses_now_and_without_key_gives_none():
    headers = [(k, v) for k, v in make_event().headers() if k != "ce_time"]
    ev = decode(headers, b"{}")
    assert ev.time.tzinfo is not None
    assert ev.key is None


def _poison(headers, value, **kwargs) -> PoisonRecord:
    with pytest.raises(PoisonRecord) as info:
        decode(headers, value, **kwargs)
    return info.value


@pytest.mark.parametrize("dropped", ["ce_id", "ce_type", "ce_source", "ce_specversion"])
def test_missing_header(dropped):
    headers = [(k, v) for k, v in make_event().headers() if k != dropped]
    exc = _poison(headers, b"{}")
    assert exc.reason == "missing_header"
    assert dropped in exc.detail


def test_no_headers_at_all_is_missing_header():
    assert _poison(None, b"{}").reason == "missing_header"


def test_unsupported_specversion():
    headers = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in make_event().headers()]
    exc = _poison(headers, b"{}")
    assert exc.reason == "unsupported_specversion"
    assert exc.detail == "0.3"


def test_unsupported_type():
    exc = _poison(make_event().headers(), b"{}", expected_types=frozenset({"com.heatdesk.other.v1"}))
    assert exc.reason == "unsupported_type"
    assert exc.detail == TYPE


def test_any_type_accepted_without_expected_types():
    assert decode(make_event().headers(), b"{}").type == TYPE


def test_invalid_json():
    assert _poison(make_event().headers(), b"{not json").reason == "invalid_json"


@pytest.mark.parametrize("body", [b"[1, 2]", b"\"text\"", b"42", b"null"])
def test_invalid_body_when_not_an_object(body):
    assert _poison(make_event().headers(), body).reason == "invalid_body"


def test_empty_body_for_a_tombstone():
    assert _poison(make_event().headers(), None).reason == "empty_body"


def test_bad_time_header_is_poison():
    headers = [(k, b"yesterday" if k == "ce_time" else v) for k, v in make_event().headers()]
    assert _poison(headers, b"{}").reason == "bad_header"


def test_poison_record_message_and_fields():
    exc = PoisonRecord("invalid_json", "line 1")
    assert exc.reason == "invalid_json" and exc.detail == "line 1"
    assert str(exc) == "invalid_json: line 1"
    assert str(PoisonRecord("empty_body")) == "empty_body"
    assert exc.retriable is False


def test_decoded_time_is_parsed_rfc3339():
    ev = make_event()
    back = decode(ev.headers(), ev.body())
    assert back.time == parse_rfc3339("2026-01-31T12:00:00.123456Z")
