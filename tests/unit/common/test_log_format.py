"""services.common.log: one JSON object per log record."""

from __future__ import annotations

import io
import logging
import sys
import time

import orjson
import pytest

from services.common.log import JsonFormatter


@pytest.fixture
def capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = JsonFormatter("ingest")
    formatter.converter = time.gmtime  # type: ignore[assignment]
    handler.setFormatter(formatter)
    logger = logging.getLogger("heatdesk.unit.logtest")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.handlers[:] = []


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_record(capture):
    logger, stream = capture
    logger.info("first")
    logger.warning("second %s", "line\nbreak")
    entries = lines(stream)
    assert len(entries) == 2
    assert entries[1]["msg"] == "second line\nbreak"


def test_standard_fields(capture):
    logger, stream = capture
    logger.warning("mention %s rejected", "m-1")
    (entry,) = lines(stream)
    assert entry["level"] == "warning"
    assert entry["service"] == "ingest"
    assert entry["logger"] == "heatdesk.unit.logtest"
    assert entry["msg"] == "mention m-1 rejected"
    assert entry["ts"].endswith("Z")
    assert "exc" not in entry
    # LogRecord internals are not leaked
    assert not {"args", "levelno", "pathname", "msecs", "created"} & set(entry)


def test_extra_fields_are_top_level(capture):
    logger, stream = capture

    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    logger.info("retrying", extra={"attempt": 3, "topic": "mentions.raw.v1", "thing": Opaque()})
    (entry,) = lines(stream)
    assert entry["attempt"] == 3
    assert entry["topic"] == "mentions.raw.v1"
    assert entry["thing"] == "opaque!"


def test_exceptions_are_included(capture):
    logger, stream = capture
    try:
        raise ValueError("kaput")
    except ValueError:
        logger.exception("handler failed")
    (entry,) = lines(stream)
    assert entry["level"] == "error"
    assert "Traceback" in entry["exc"]
    assert "ValueError: kaput" in entry["exc"]


def test_timestamp_format_in_utc():
    formatter = JsonFormatter("route")
    formatter.converter = time.gmtime  # type: ignore[assignment]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.created = 1_767_225_600.0
    record.msecs = 42.0
    entry = orjson.loads(formatter.format(record))
    assert entry["ts"] == "2026-01-01T00:00:00.042Z"
    assert entry["service"] == "route"


def test_exc_info_tuple_on_record():
    formatter = JsonFormatter("notify")
    try:
        raise KeyError("case")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    assert "KeyError" in orjson.loads(formatter.format(record))["exc"]


def test_an_extra_never_replaces_the_standard_level(capture):
    logger, stream = capture
    logger.info("sla step fired", extra={"level": "breach", "service": "x"})
    (entry,) = lines(stream)
    assert entry["level"] == "info" and entry["service"] == "ingest"
    assert entry["extra_level"] == "breach" and entry["extra_service"] == "x"
