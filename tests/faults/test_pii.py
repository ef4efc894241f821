"""Personal data (card numbers, email addresses, phone numbers) masked in logs and on department topics.

What route publishes to `cases.<department>.v1` carries the mention text, subject and
entities masked and no raw payload; the database keeps the original (the system of
record, emptied by the retention job). `HEATDESK_PII_ALLOW` leaves chosen kinds unmasked.
Every log line, whatever logger writes it, goes through the same masking.
"""

from __future__ import annotations

import orjson
import pytest

from services.common import pii
from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.embedded import free_port
from services.common.errors import ConfigError
from services.common.topics import MENTIONS_CLASSIFIED, department_topic
from services.route.app import RouteService
from services.route.settings import RouteSettings
from tests.integration.test_route import classified_event
from tests.support import Running, count_at_least, events, json_log_capture, produce_events, read_topic, validate_event

CARD, EMAIL, PHONE = "4111 1111 1111 1111", "jo.doe@example.com", "+44 20 7946 0958"
TEXT = f"you charged my card {CARD} twice! refund me, mail {EMAIL} or call {PHONE}, order #12345678"


@pytest.mark.parametrize(("text", "masked"), [
    (f"card {CARD}.", "card [card ending 1111]."),
    ("card 5500-0000-0000-0004", "card [card ending 0004]"),
    ("amex 378282246310005", "amex [card ending 0005]"),
    ("order 1234567890123456", "order 1234567890123456"),  # 16 digits failing the Luhn check: an order number
    (f"write to {EMAIL}!", "write to [email]!"),
    ("me: Jo.Doe+care@mail.example.co.uk", "me: [email]"),
    (f"call {PHONE} now", "call [phone] now"),
    ("call (555) 123-4567", "call [phone]"),
    ("555.123.4567 or 020 7946 0958", "[phone] or [phone]"),
    ("order #12345678, ref 2026-11-24, 10:30", "order #12345678, ref 2026-11-24, 10:30"),
    ("id bef540fc-e34e-5a95-844e-85ab93e259cd at 127.0.0.1:8080", "id bef540fc-e34e-5a95-844e-85ab93e259cd at 127.0.0.1:8080"),
])
def test_mask(text, masked):
    assert pii.mask(text) == masked
    assert pii.mask(masked) == masked  # idempotent


def test_allowed_kinds_stay_and_unknown_kinds_are_refused():
    assert pii.mask(TEXT, allow={"email", "phone"}) == TEXT.replace(CARD, "[card ending 1111]")
    assert pii.mask(TEXT, allow=pii.KINDS) == TEXT
    with pytest.raises(ConfigError, match="HEATDESK_PII_ALLOW"):
        loader.load(ServiceSettings, {"HEATDESK_PII_ALLOW": "email,ssn"})
    assert loader.load(ServiceSettings, {"HEATDESK_PII_ALLOW": "email, phone"}).pii_allow == ("email", "phone")


def log_line(allow: frozenset[str] | None = None, **extra: object) -> dict:
    logger, stream = json_log_capture("tests.pii", pii.PiiLogFilter(allow))
    try:
        raise ValueError(f"could not parse {TEXT}")
    except ValueError:
        logger.warning("mention from %s rejected: %s", EMAIL, TEXT, exc_info=True, extra=extra)
    return orjson.loads(stream.getvalue())


def test_logs_mask_message_arguments_extras_and_tracebacks():
    line = log_line(frozenset(), mention={"text": TEXT, "tags": [PHONE]}, detail=TEXT, count=3)
    rendered = orjson.dumps(line).decode()
    for secret in (CARD, EMAIL, PHONE, "4111111111111111"):
        assert secret not in rendered
    assert line["msg"].startswith("mention from [email] rejected: you charged my card [card ending 1111]")
    assert line["mention"]["tags"] == ["[phone]"] and line["count"] == 3
    assert "ValueError: could not parse you charged my card [card ending 1111]" in line["exc"]
    assert "order #12345678" in line["detail"]  # what an agent needs stays
    assert EMAIL in orjson.dumps(log_line(frozenset({"email"}))).decode()


@pytest.mark.integration
async def test_department_topics_get_masked_text_and_no_raw_payload(service_env, broker, db):
    ev = classified_event("pii-1", TEXT, channel="email")
    ev.data["mention"]["subject"] = f"Refund for {EMAIL}"  # as the email channel sets it
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [ev])
    svc = RouteService(loader.load(RouteSettings, {**service_env, "HEATDESK_ROUTE_PORT": str(free_port())}))
    pii.configure(())
    try:
        async with Running(svc):
            routed = events(await read_topic(broker.bootstrap, department_topic("billing"), until=count_at_least(1)))
    finally:
        pii.configure(None)
    (event,) = routed
    validate_event(event)
    mention = event.data["mention"]
    assert mention["raw"] is None
    assert mention["text"] == ("you charged my card [card ending 1111] twice! refund me, mail [email] or call [phone], "
                               "order #12345678")
    assert mention["subject"] == "Refund for [email]"
    published = orjson.dumps(event.data).decode()
    for secret in (CARD, EMAIL, PHONE):
        assert secret not in published
    stored = await db.fetchrow("SELECT text, raw FROM mentions WHERE external_id = 'pii-1'")
    assert stored["text"] == TEXT and stored["raw"] is not None  # the system of record keeps the original


@pytest.mark.integration
async def test_a_setting_lets_chosen_kinds_through(service_env, broker, db):
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [classified_event("pii-2", TEXT)])
    svc = RouteService(loader.load(RouteSettings, {**service_env, "HEATDESK_ROUTE_PORT": str(free_port())}))
    pii.configure(("email",))
    try:
        async with Running(svc):
            (event,) = events(await read_topic(broker.bootstrap, department_topic("billing"), until=count_at_least(1)))
    finally:
        pii.configure(None)
    assert EMAIL in event.data["mention"]["text"] and CARD not in event.data["mention"]["text"]
