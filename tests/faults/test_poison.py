"""Poison records: dead-lettered with their reason, the partition moves on, a metric counts them.

Records that no retry can fix are written straight to the topics a producer other than
ingest (a replay tool, a bug in another team's service) could write, all with one key so
they share one partition with good mentions before and after them:

- bytes that are not JSON;
- the right data under a newer, unknown event type (`…mention.received.v2`);
- a text that crashes classify: longer than the NLP pipeline's limit of 1,000,000
  characters (spaCy refuses it with E088; ingest's 1 MiB body limit keeps it out of
  ingest, but not out of the topic);
- a text that crashes route: a NUL character, which PostgreSQL refuses to store in `text`
  and `jsonb` (ingest strips control characters; a foreign producer does not).

Each is dead-lettered once by the stage it crashes, with its original bytes, the reason,
the stage and the source topic/partition/offset; the good mentions around them become
cases; `heatdesk_deadletter_total{stage,reason}` counts each.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.common.consumer_loop import DEADLETTER_VALUE_LIMIT
from services.common.envelope import Event, header_map
from services.common.timeutil import utcnow
from services.common.topics import DEADLETTER, MENTIONS_RAW, EventType
from services.ingest.channels.generic import parse_generic_mention
from services.ingest.publish import mention_event
from tests.support import mention_body, metric_sum, read_topic, wait_for

pytestmark = pytest.mark.integration

KEY = b"x:poison-author"


def raw_mention(external_id: str, text: str) -> Event:
    body = mention_body(external_id, "placeholder", author_id="poison-author")
    mention = parse_generic_mention(body, utcnow())
    mention["text"] = text  # what a foreign producer might publish, past ingest's normalisation
    return mention_event(mention)


def record(event: Event, *, value: bytes | None = None, ce_type: str | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    headers = [(k, ce_type.encode() if k == "ce_type" and ce_type else v) for k, v in event.headers()]
    return (event.body() if value is None else value), headers


async def test_poison_records_are_dead_lettered_and_the_partition_moves_on(fault_stack, fault_report):
    stack = await fault_stack()
    await stack.start(services=("classify", "route", "notify"))
    good_before = raw_mention("poison-good-1", "you charged me twice, refund me")
    not_json = raw_mention("poison-not-json", "x")
    newer = raw_mention("poison-v2", "refund please")
    too_long = raw_mention("poison-long", "refund " * 142_858)  # 1,000,006 characters
    with_nul = raw_mention("poison-nul", "refund me\x00 now")
    good_after = raw_mention("poison-good-2", "still no refund, where is it?")
    records = [record(good_before), record(not_json, value=b'{"id": "broken'),
               record(newer, ce_type=EventType.MENTION_RECEIVED.replace(".v1", ".v2")),
               record(too_long), record(with_nul), record(good_after)]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.monotonic()
    try:
        for value, headers in records:
            await producer.send_and_wait(MENTIONS_RAW, value=value, key=KEY, headers=headers)
    finally:
        await producer.stop()

    db = await stack.db()
    try:
        async def both_good_routed() -> bool:
            return await db.fetchval("SELECT count(*) FROM mentions WHERE external_id IN ('poison-good-1', "
                                     "'poison-good-2')") == 2

        await wait_for(both_good_routed, timeout=60)
        moved_on_s = time.monotonic() - started
        assert await db.fetchval("SELECT count(*) FROM mentions") == 2
    finally:
        await db.close()

    letters = await read_topic(stack.bootstrap, DEADLETTER, until=lambda rs: len(rs) >= 4, settle=2.0, timeout=60)
    by_subject = {}
    for letter in letters:
        h = header_map(letter.headers)
        by_subject[h["orig_ce_subject"].decode()] = (h, letter.value)
    assert len(letters) == 4, [header_map(r.headers)["heatdesk_dlq_reason"] for r in letters]
    expected = {not_json.subject: ("classify", "invalid_json", b'{"id": "broken'),
                newer.subject: ("classify", "unsupported_type", newer.body()),
                too_long.subject: ("classify", "processing_error", too_long.body()),
                with_nul.subject: ("route", "processing_error", None)}
    for subject, (stage, reason, original) in expected.items():
        headers, value = by_subject[subject]
        assert headers["heatdesk_dlq_stage"].decode() == stage, subject
        assert headers["heatdesk_dlq_reason"].decode() == reason, (subject, headers["heatdesk_dlq_detail"])
        assert headers["heatdesk_dlq_topic"] in (MENTIONS_RAW.encode(), b"mentions.classified.v1")
        int(headers["heatdesk_dlq_offset"])
        if original is not None:
            assert value == original  # the original bytes, untouched
        else:  # route dead-letters the classified record: the mention inside it is the original
            assert orjson.loads(value)["mention"]["text"] == with_nul.data["text"]
    assert b"E088" in by_subject[too_long.subject][0]["heatdesk_dlq_detail"]

    counted: Counter[tuple[str, str]] = Counter()
    for service in ("classify", "route"):
        metrics = await stack.one(service).metrics()
        for stage, reason in {(s, r) for s, r, _ in expected.values()}:
            counted[(stage, reason)] += int(metric_sum(metrics, "heatdesk_deadletter_total", stage=stage, reason=reason))
    assert counted == Counter({("classify", "invalid_json"): 1, ("classify", "unsupported_type"): 1,
                               ("classify", "processing_error"): 1, ("route", "processing_error"): 1})
    for service in ("classify", "route", "notify"):
        assert await stack.one(service).ready()  # nothing stuck retrying
    fault_report(fault="poison: invalid JSON, v2 type, 1M-char text (classify), NUL text (route)", sent=6, lost=0,
                 duplicated=len(letters) - 4, recovery_s=round(moved_on_s, 2),
                 note="4 dead letters with reason+stage+offset; both good mentions routed; recovery = until the "
                      "mention after the poison was routed")


async def test_poison_record_near_the_size_limit_is_dead_lettered_too(fault_stack):
    stack = await fault_stack()
    await stack.start(services=("classify",))
    # 1,047,300 characters: over spaCy's limit (a poison record), and with the mention's other fields and its
    # headers ~1,048,400 bytes - within the 1 MiB (1,048,576) that a producer and Kafka accept by default.
    near_limit = raw_mention("poison-near-limit", "r" * 1_047_300)
    good_after = raw_mention("poison-near-limit-good", "refund me please")
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")  # default limits: it fits
    await producer.start()
    try:
        for event in (near_limit, good_after):
            value, headers = record(event)
            await producer.send_and_wait(MENTIONS_RAW, value=value, key=KEY, headers=headers)
    finally:
        await producer.stop()
    classify = stack.one("classify")

    def moved_on_or_died(records: list) -> bool:  # noqa: ANN001 - consumer records
        return not classify.alive or any(header_map(r.headers).get("ce_subject") == good_after.subject.encode()
                                         for r in records)

    classified = await read_topic(stack.bootstrap, "mentions.classified.v1", until=moved_on_or_died, timeout=60,
                                  settle=0.5)
    assert classify.alive, f"classify exited with {classify.popen.returncode}:\n{classify.tail(1500)}"
    assert [header_map(r.headers)["ce_subject"] for r in classified] == [good_after.subject.encode()]
    letters = await read_topic(stack.bootstrap, DEADLETTER, until=lambda rs: len(rs) >= 1, timeout=10)
    letter = header_map(letters[0].headers)
    assert letter["orig_ce_subject"] == near_limit.subject.encode()
    # Cut to fit, and says so: the full size and where the whole record still is.
    assert int(letter["heatdesk_dlq_value_truncated"]) > len(letters[0].value) == DEADLETTER_VALUE_LIMIT
    assert letter["heatdesk_dlq_reason"] and letter["heatdesk_dlq_topic"] == MENTIONS_RAW.encode()
    # Replaying the cut value would publish a corrupted record: the operator is told to pass the fixed one.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "deadletter", "replay", "--partition", str(letters[0].partition),
        "--offset", str(letters[0].offset), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and b"holds only the first 65536 of" in err and b"--file" in err, err
