"""services.common.consumer_loop: retry classification and dead-letter headers."""

from __future__ import annotations

import inspect

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import ConsumerRecord

from services.common.consumer_loop import _as_poison, deadletter_headers, is_retriable
from services.common.envelope import header_map
from services.common.errors import ConfigError, DependencyUnavailable, HeatdeskError, InvalidInput, PoisonRecord, PublishFailed
from services.common.timeutil import parse_rfc3339
from services.common.topics import EventType


def make_record(headers=(("ce_type", b"com.heatdesk.mention.received.v1"), ("ce_id", b"abc")),
                **overrides) -> ConsumerRecord:
    fields = dict(topic="mentions.raw.v1", partition=3, offset=1234, timestamp=1_767_225_600_000, timestamp_type=0,
                  key=b"x:cust-1", value=b"{not json", checksum=None, serialized_key_size=8,
                  serialized_value_size=9, headers=list(headers))
    fields.update(overrides)
    return ConsumerRecord(**fields)


def test_consumer_record_fields_used_here_exist():
    params = inspect.signature(ConsumerRecord).parameters
    assert {"topic", "partition", "offset", "key", "value", "headers"} <= set(params)


@pytest.mark.parametrize("exc,expected", [
    (DependencyUnavailable("db down"), True),
    (PublishFailed("no ack"), True),
    (PoisonRecord("invalid_json"), False),
    (InvalidInput("bad body"), False),
    (ConfigError("bad setting"), False),
    (HeatdeskError("generic"), False),
    (KafkaError(), True),
    (KafkaConnectionError(), True),
    (KafkaTimeoutError(), True),
    (OSError("connection reset"), True),
    (ConnectionRefusedError(), True),
    (TimeoutError(), True),
    (ValueError("bad"), False),
    (KeyError("field"), False),
    (RuntimeError("boom"), False),
])
def test_is_retriable(exc, expected):
    assert is_retriable(exc) is expected


def test_retriable_flag_on_custom_subclass_is_honoured():
    class Flaky(HeatdeskError):
        retriable = True

    assert is_retriable(Flaky()) is True


def test_deadletter_headers_describe_the_failure():
    record = make_record()
    h = header_map(deadletter_headers(record, "classify", "invalid_json", "line 1 column 2"))
    assert h["heatdesk_dlq_reason"] == b"invalid_json"
    assert h["heatdesk_dlq_stage"] == b"classify"
    assert h["heatdesk_dlq_detail"] == b"line 1 column 2"
    assert h["heatdesk_dlq_topic"] == b"mentions.raw.v1"
    assert h["heatdesk_dlq_partition"] == b"3"
    assert h["heatdesk_dlq_offset"] == b"1234"


def test_deadletter_headers_are_a_cloudevent():
    h = header_map(deadletter_headers(make_record(), "route", "schema_violation", ""))
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_type"] == EventType.DEADLETTERED.encode()
    assert h["ce_source"] == b"heatdesk/route"
    assert h["ce_id"]
    assert parse_rfc3339(h["ce_time"].decode()).tzinfo is not None
    assert h["content-type"] == b"application/octet-stream"


def test_deadletter_headers_keep_original_headers_prefixed_in_order():
    record = make_record(headers=[("ce_type", b"t"), ("ce_id", b"i"), ("traceparent", b"00-ab-cd-01")])
    headers = deadletter_headers(record, "classify", "unsupported_type", "t")
    orig = [(k, v) for k, v in headers if k.startswith("orig_")]
    assert orig == [("orig_ce_type", b"t"), ("orig_ce_id", b"i"), ("orig_traceparent", b"00-ab-cd-01")]
    # the dead letter's own ce_type is not overwritten by the original one
    assert header_map(headers)["ce_type"] == EventType.DEADLETTERED.encode()


def test_deadletter_headers_without_original_headers():
    headers = deadletter_headers(make_record(headers=()), "classify", "missing_header", "ce_id")
    assert not [k for k, _ in headers if k.startswith("orig_")]
    assert all(isinstance(v, bytes) for _, v in headers)


def test_deadletter_detail_is_truncated():
    h = header_map(deadletter_headers(make_record(), "classify", "processing_error", "é" * 5000))
    assert len(h["heatdesk_dlq_detail"].decode()) == 2000


def test_deadletter_ids_are_unique():
    record = make_record()
    a = header_map(deadletter_headers(record, "classify", "r", ""))["ce_id"]
    b = header_map(deadletter_headers(record, "classify", "r", ""))["ce_id"]
    assert a != b


def test_as_poison_keeps_poison_and_wraps_other_errors():
    original = PoisonRecord("schema_violation", "no id")
    assert _as_poison(original) is original
    wrapped = _as_poison(KeyError("author"))
    assert wrapped.reason == "processing_error"
    assert "KeyError" in wrapped.detail and "author" in wrapped.detail


def test_every_dead_letter_reason_raised_is_exported_at_zero():
    """The consumers export DEADLETTER_REASONS at zero from the start; a reason raised but not
    listed would appear at 1 on its first dead letter, an increase no alert can see."""
    import re
    from pathlib import Path

    from services.common.errors import DEADLETTER_REASONS

    root = Path(__file__).resolve().parents[3] / "services"
    raised = {m for path in root.rglob("*.py") for m in re.findall(r'PoisonRecord\(\s*"([a-z_]+)"', path.read_text())}
    assert raised  # the pattern still finds the raise sites
    assert raised <= set(DEADLETTER_REASONS), raised - set(DEADLETTER_REASONS)
    assert {_as_poison(RuntimeError("x")).reason, _as_poison(_rejected()).reason} <= set(DEADLETTER_REASONS)


def _rejected() -> BaseException:
    from services.common.errors import RecordRejected

    return RecordRejected("too large")
