"""The case store against the real database and broker: threading, responses, reopen, repeat authors, rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import Event
from services.common.timeutil import format_rfc3339, utcnow
from services.common.topics import CASE_EVENTS, MENTIONS_CLASSIFIED, RESPONSES, SLA_ALERTS, EventType, department_topic
from services.ingest.channels.common import build_response
from services.route.app import RouteService
from services.route.settings import RouteSettings
from tests.integration.test_route import classified_event
from tests.support import Running, events, produce_events, read_topic, validate_event, wait_for

pytestmark = pytest.mark.integration


def _service(service_env: dict[str, str], **extra: str) -> RouteService:
    return RouteService(loader.load(RouteSettings, {**service_env, "HEATDESK_ROUTE_PORT": str(free_port()), **extra}))


def response_event(external_id: str, at, kind: str = "reply", automated: bool = False, **refs: str) -> Event:
    response = build_response(channel=refs.pop("channel", "x"), external_id=external_id, kind=kind,
                              author={"id": "AcmeHelp"}, created_at=at, received_at=at, raw=None, text="We're on it",
                              automated=automated, **refs)
    return Event(type=EventType.RESPONSE_RECORDED, source="test", data=response, key="k", subject=response["id"])


async def lifecycle(broker, n: int) -> list[Event]:
    out = events(await read_topic(broker.bootstrap, CASE_EVENTS, until=lambda rs: len(rs) >= n, settle=1.0))
    for e in out:
        validate_event(e)
    return out


async def test_a_tweet_a_reply_a_dm_and_an_email_from_one_customer_are_one_case(service_env, broker, db):
    t0 = utcnow() - timedelta(hours=1)
    at = lambda minutes: format_rfc3339(t0 + timedelta(minutes=minutes))  # noqa: E731
    tweet = classified_event("tw-1", "@acme charged twice for my subscription, refund me", author_id="1001",
                             created_at=at(0))
    reply = classified_event("tw-2", "@acme hello?? anyone?", author_id="1001", created_at=at(30), in_reply_to="tw-1")
    dm = classified_event("dm-1", "my account email is Jordan.P@example.com", author_id="1001", created_at=at(40),
                          kind="direct_message")
    email = classified_event("msg-1@example.com", "Following up on the double charge, still no refund",
                             author_id="jordan.p@example.com", channel="email", created_at=at(55), kind="email")
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [tweet, reply, dm])
    async with Running(_service(service_env)):
        await lifecycle(broker, 3)
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [email])
        out = await lifecycle(broker, 4)
    assert [e.type for e in out] == [EventType.CASE_OPENED] + [EventType.CASE_MENTION_ADDED] * 3
    assert len({e.data["case"]["id"] for e in out}) == 1
    row = await db.fetchrow("SELECT count(*) AS n, max(mention_count) AS mentions FROM cases")
    assert (row["n"], row["mentions"]) == (1, 4)
    channels = sorted(r["channel"] for r in await db.fetch("SELECT channel FROM mentions"))
    assert channels == ["email", "x", "x", "x"]


async def test_responses_first_response_pending_follow_up_resolution_and_reopen(service_env, broker, db):
    t0 = utcnow() - timedelta(hours=2)
    complaint = classified_event("c-1", "my parcel is lost and nobody answers, this is terrible", author_id="2002",
                                 created_at=format_rfc3339(t0))
    bot = response_event("r-bot", t0 + timedelta(minutes=1), automated=True, in_reply_to="c-1")
    agent = response_event("r-1", t0 + timedelta(minutes=20), in_reply_to="c-1", customer_id="2002")
    follow_up = classified_event("c-2", "still not here, terrible", author_id="2002",
                                 created_at=format_rfc3339(t0 + timedelta(minutes=50)))
    resolution = response_event("r-2", t0 + timedelta(minutes=70), kind="resolution", customer_id="2002")
    again = classified_event("c-3", "the replacement parcel is lost too, awful", author_id="2002",
                             created_at=format_rfc3339(t0 + timedelta(minutes=90)))
    async with Running(_service(service_env)):
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [complaint])
        await lifecycle(broker, 1)
        await produce_events(broker.bootstrap, RESPONSES, [bot, agent, agent])  # a redelivered response too
        await lifecycle(broker, 3)
        state = await db.fetchrow("SELECT status, first_response_at FROM cases")
        assert state["status"] == "pending" and state["first_response_at"] == t0 + timedelta(minutes=20)
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [follow_up])
        await lifecycle(broker, 4)
        assert await db.fetchval("SELECT status FROM cases") == "open"  # the customer wrote again
        await produce_events(broker.bootstrap, RESPONSES, [resolution])
        await lifecycle(broker, 5)
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [again])
        out = await lifecycle(broker, 6)
    assert [e.type for e in out] == [EventType.CASE_OPENED, EventType.CASE_RESPONDED, EventType.CASE_RESPONDED,
                                     EventType.CASE_MENTION_ADDED, EventType.CASE_RESOLVED, EventType.CASE_REOPENED]
    bot_event, agent_event = out[1], out[2]
    assert bot_event.data["response"]["automated"] is True and bot_event.data["response"]["first"] is False
    assert agent_event.data["response"]["first"] is True
    case = await db.fetchrow("SELECT status, reopened_count, mention_count, first_response_at FROM cases")
    assert (case["status"], case["reopened_count"], case["mention_count"]) == ("open", 1, 3)
    assert case["first_response_at"] == t0 + timedelta(minutes=20)  # the old figure is not rewritten
    assert await db.fetchval("SELECT count(*) FROM responses") == 3  # the duplicate was not stored twice


async def test_an_answer_that_arrives_before_its_post_is_applied_when_the_post_is_routed(service_env, broker, db):
    t0 = utcnow() - timedelta(minutes=30)
    answer = response_event("r-early", t0 + timedelta(minutes=5), in_reply_to="late-1")
    post = classified_event("late-1", "where is my refund", author_id="3003", created_at=format_rfc3339(t0))
    async with Running(_service(service_env)):
        await produce_events(broker.bootstrap, RESPONSES, [answer])
        await wait_for(lambda: db.fetchval("SELECT count(*) FROM responses"))
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [post])
        out = await lifecycle(broker, 2)
    assert [e.type for e in out] == [EventType.CASE_OPENED, EventType.CASE_RESPONDED]
    assert await db.fetchval("SELECT case_id IS NOT NULL FROM responses")


async def test_a_reply_to_a_post_never_seen_waits_then_is_matched_by_its_customer(service_env, broker, db):
    """The reply chain first: a reply to an unknown post does not guess at once (that is how replies
    landed on the customer's other case); after HEATDESK_ROUTE_REPLY_WAIT_S it is matched by customer."""
    t0 = utcnow() - timedelta(minutes=30)
    post = classified_event("seen-1", "my order never came", author_id="4004", created_at=format_rfc3339(t0))
    answer = response_event("r-orphan", t0 + timedelta(minutes=5), in_reply_to="never-routed", customer_id="4004")
    async with Running(_service(service_env, HEATDESK_ROUTE_REPLY_WAIT_S="2")) as svc:
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [post])
        await wait_for(lambda: db.fetchval("SELECT count(*) FROM cases"))
        await produce_events(broker.bootstrap, RESPONSES, [answer])
        await wait_for(lambda: db.fetchval("SELECT count(*) FROM responses"))
        assert await db.fetchval("SELECT case_id FROM responses") is None  # waiting for its post
        await wait_for(lambda: db.fetchval("SELECT case_id IS NOT NULL FROM responses"), timeout=30)
        out = await lifecycle(broker, 2)
        applied = svc.metrics.registry.get_sample_value("heatdesk_responses_applied_total",
                                                        {"outcome": "applied_after_wait"})
    assert [e.type for e in out] == [EventType.CASE_OPENED, EventType.CASE_RESPONDED]
    case = await db.fetchrow("SELECT first_response_at, status FROM cases")
    assert case["first_response_at"] == t0 + timedelta(minutes=5) and case["status"] == "pending"
    assert await db.fetchval("SELECT waited_until IS NOT NULL FROM responses") and applied == 1


async def test_repeat_authors_are_counted_and_tagged(service_env, broker, db):
    t0 = utcnow() - timedelta(days=3)
    posts = []
    for i in range(3):  # three separate cases, each resolved before the next complaint (reopen off)
        at = t0 + timedelta(hours=10 * i)
        posts.append(classified_event(f"rep-{i}", "my card was declined again, terrible service", author_id="4004",
                                      created_at=format_rfc3339(at)))
        posts.append(response_event(f"res-{i}", at + timedelta(hours=1), kind="resolution", in_reply_to=f"rep-{i}"))
    async with Running(_service(service_env, HEATDESK_ROUTE_REOPEN="false")):
        for n, event in enumerate(posts, start=1):  # one at a time: each changes the case once
            topic = RESPONSES if event.type == EventType.RESPONSE_RECORDED else MENTIONS_CLASSIFIED
            await produce_events(broker.bootstrap, topic, [event])

            async def applied(n: int = n) -> bool:
                return await db.fetchval("SELECT count(*) FROM case_events") >= n

            await wait_for(applied, timeout=20)
        await lifecycle(broker, 6)
    rows = await db.fetch("SELECT repeat_cases, repeat_complaints, tags, flags FROM cases ORDER BY opened_at")
    assert [(r["repeat_cases"], r["repeat_complaints"]) for r in rows] == [(0, 0), (1, 1), (2, 2)]
    assert "repeat-author" in rows[2]["tags"] and "repeat_author" in rows[1]["flags"]


async def test_rules_escalate_legal_threat_and_high_reach(service_env, broker, db):
    legal = classified_event("l-1", "I will sue you and report you to the regulator over these fees",
                             author_id="5005")
    famous = classified_event("f-1", "@acme refund me now or I'm telling everyone and going to the press",
                              author_id="6006", followers=250_000)
    await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [legal, famous])
    async with Running(_service(service_env)):
        await lifecycle(broker, 4)
        legal_topic = events(await read_topic(broker.bootstrap, department_topic("legal"), until=lambda rs: len(rs) >= 1))
        pr_topic = events(await read_topic(broker.bootstrap, department_topic("pr"), until=lambda rs: len(rs) >= 1))
    cases = {r["conversation_key"]: r for r in await db.fetch("SELECT * FROM cases")}
    assert "legal" in cases["x:5005"]["departments"] and cases["x:5005"]["sla_policy"] == "legal"
    assert cases["x:6006"]["department"] == "pr" and cases["x:6006"]["priority"] == "critical"
    assert legal_topic[0].data["case"]["id"] == str(cases["x:5005"]["id"])
    assert any(e.data["case"]["id"] == str(cases["x:6006"]["id"]) for e in pr_topic)


async def test_a_broken_rules_file_is_refused_and_the_old_rules_stay(service_env, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - name: all-to-pr\n    when: {intent: complaint}\n    then: {department: pr}\n")
    svc = _service(service_env, HEATDESK_ROUTE_RULES_PATH=str(rules))
    assert [r.name for r in svc.rules.current().rules] == ["all-to-pr"]
    rules.write_text("version: 1\nrules:\n  - name: broken\n    when: {intnet: complaint}\n    then: {department: pr}\n")
    assert svc.rules.check() is False
    assert [r.name for r in svc.rules.current().rules] == ["all-to-pr"]
    assert "intnet" in svc.rules.last_error
    rules.write_text("version: 1\nrules:\n  - name: fixed\n    when: {intent: complaint}\n    then: {department: support}\n")
    assert svc.rules.check() is True
    assert [r.name for r in svc.rules.current().rules] == ["fixed"]
    refused = svc.metrics.rules_reloads.labels("refused")._value.get()
    applied = svc.metrics.rules_reloads.labels("applied")._value.get()
    assert (refused, applied) == (1, 1)


async def test_sla_actions_autoclose_a_pending_case_and_reassign_an_idle_one(service_env, broker, db):
    t0 = utcnow() - timedelta(days=8)
    waiting = classified_event("ac-1", "my parcel is late", author_id="7007", created_at=format_rfc3339(t0))
    idle = classified_event("ri-1", "the app crashes on login, terrible", author_id="8008",
                            created_at=format_rfc3339(t0))
    reply = response_event("ac-r", t0 + timedelta(minutes=10), in_reply_to="ac-1")
    async with Running(_service(service_env)):
        await produce_events(broker.bootstrap, MENTIONS_CLASSIFIED, [waiting, idle])
        await lifecycle(broker, 2)
        await produce_events(broker.bootstrap, RESPONSES, [reply])
        await lifecycle(broker, 3)
        cases = {r["conversation_key"]: r for r in await db.fetch("SELECT * FROM cases")}
        await db.execute("UPDATE cases SET assignee = 'kim' WHERE id = $1", cases["x:8008"]["id"])

        def alert(case_id, action: str, step: str) -> Event:
            at = format_rfc3339(t0 + timedelta(days=7))
            return Event(type=EventType.SLA_BREACHED, source="test", key=str(case_id), subject=str(case_id), data={
                "case_id": str(case_id), "timer": "resolution", "threshold": step, "department": "support",
                "priority": "normal", "channel": "x", "started_at": at, "due_at": at, "fired_at": at,
                "overdue_seconds": 0, "step_due_at": at, "action": action, "cycle": 0, "policy": "default"})

        close = alert(cases["x:7007"]["id"], "autoclose", "autoclose")
        reassign = alert(cases["x:8008"]["id"], "reassign", "reassign_idle")
        await produce_events(broker.bootstrap, SLA_ALERTS, [close, close, reassign, reassign])  # redelivered too
        out = await lifecycle(broker, 5)
    assert sorted(e.type for e in out[3:]) == sorted([EventType.CASE_RESOLVED, EventType.CASE_ESCALATED])
    closed = await db.fetchrow("SELECT status, first_response_at FROM cases WHERE id = $1", cases["x:7007"]["id"])
    assert closed["status"] == "resolved"
    resolved = next(e for e in out if e.type == EventType.CASE_RESOLVED)
    assert resolved.data["response"]["automated"] is True and resolved.data["response"]["first"] is False
    requeued = await db.fetchrow("SELECT assignee, priority FROM cases WHERE id = $1", cases["x:8008"]["id"])
    assert requeued["assignee"] is None and requeued["priority"] != cases["x:8008"]["priority"]
