"""A slow webhook target and an SMTP server that is down: retries with backoff, no duplicates,
and the rest of the pipeline keeps going.

Every case breaches its 2-second first-response target and pages the team lead on two
targets: the webhook, which answers each call after 0.3 s and refuses its first 20
calls with 500, and an email address whose SMTP server does not listen at first.

- Not blocked: every mention is routed and every breach fires (and is published) while no
  email can be sent and the webhook is still working through its queue.
- Backoff: each failed attempt is retried after `1 s, 2 s, 4 s …` with jitter (between half
  and all of it), read from notify's log lines.
- No duplicates: once the SMTP server is up every email arrives once per notification, and
  the webhook got each notification once, the refused calls being retried with the same
  `Idempotency-Key`.
"""

from __future__ import annotations

import json
import time

import pytest

from services.common.embedded import free_port
from tests.faults.load import Poster, SmtpSink, WebhookSink, mentions
from tests.faults.verify import audit
from tests.support import wait_for

pytestmark = pytest.mark.integration

MENTIONS = 100
CASES = 50
POLICIES = """\
version: 1
recipients:
  team_lead: [webhook, "email:oncall@example.com"]
policies:
  - name: default
    targets:
      first_response: 2s
    breach:
      notify: [team_lead]
"""


def retries(log_text: str) -> list[tuple[str, int, float]]:
    """(target kind, attempt, retry_in_s) of every "will retry" line of notify's log."""
    out = []
    for line in log_text.splitlines():
        if '"notification delivery failed; will retry"' in line:
            entry = json.loads(line)
            out.append((entry["target_kind"], int(entry["attempt"]), float(entry["retry_in_s"])))
    return out


async def test_slow_webhook_and_smtp_down_are_retried_without_duplicates_or_blocking(fault_stack, fault_report,
                                                                                     tmp_path):
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    webhook = WebhookSink(delay_s=0.3, fail_first=20).start()
    smtp = SmtpSink(port=free_port())
    try:
        stack = await fault_stack(env={"HEATDESK_NOTIFY_WEBHOOK_URL": webhook.url, "HEATDESK_SLA_POLICIES_PATH": str(policies),
                                       "HEATDESK_NOTIFY_SMTP_HOST": "127.0.0.1",
                                       "HEATDESK_NOTIFY_SMTP_PORT": str(smtp.port),
                                       "HEATDESK_NOTIFY_SMTP_TIMEOUT_S": "2", "HEATDESK_NOTIFY_MAX_ATTEMPTS": "12",
                                       "HEATDESK_NOTIFY_CRISIS": "false"})
        await stack.start()
        ingest_url = stack.one("ingest").url("")
        poster = Poster(lambda: ingest_url, mentions(MENTIONS, CASES, "sl"), concurrency=8).start()
        await poster.wait()
        db = await stack.db()
        try:
            async def breaches_fired() -> bool:
                return (await db.fetchval("SELECT count(*) FROM mentions") == MENTIONS
                        and await db.fetchval("SELECT count(*) FROM sla_steps WHERE step = 'breach'") == CASES)

            async def emails_retried() -> bool:
                return await db.fetchval("SELECT count(*) FROM notifications WHERE target LIKE 'email:%' "
                                         "AND attempts >= 3 AND status <> 'delivered'") == CASES

            await wait_for(breaches_fired, timeout=60)
            await wait_for(emails_retried, timeout=60)
            # The pipeline went on: all routed and fired, the webhook delivering, no email possible yet.
            delivered = dict(await db.fetch("SELECT split_part(target, ':', 1), count(*) FROM notifications "
                                            "WHERE status = 'delivered' GROUP BY 1"))
            assert delivered.get("webhook", 0) > 0 and "email" not in delivered, delivered
            smtp.start()
            smtp_up_at = time.monotonic()

            async def emails_delivered() -> bool:
                return await db.fetchval("SELECT count(*) FROM notifications WHERE target LIKE 'email:%' "
                                         "AND status = 'delivered'") == CASES

            await wait_for(emails_delivered, timeout=90)
            emails_recovered_s = time.monotonic() - smtp_up_at
            result = await audit(db, stack.bootstrap, poster, webhook, timeout=90)
            email_keys = {r["dedupe_key"] for r in await db.fetch(
                "SELECT dedupe_key FROM notifications WHERE target LIKE 'email:%'")}
            attempts = await db.fetchval("SELECT max(attempts) FROM notifications WHERE target LIKE 'email:%'")
        finally:
            await db.close()

        assert set(smtp.keys) == email_keys and set(smtp.keys.values()) == {1}  # every email once
        assert smtp.recipients == {"oncall@example.com": CASES}
        assert len(webhook.refused) == 20 and {c.key for c in webhook.refused} <= set(webhook.keys())
        assert webhook.max_in_flight > 1  # slow calls overlap: one slow target does not serialise delivery
        seen = retries(stack.one("notify").tail(50_000_000))
        assert {kind for kind, _, _ in seen} == {"webhook", "email"}
        for kind, attempt, wait in seen:
            base = min(300.0, 2.0 ** (attempt - 1))
            assert base / 2 - 0.01 <= wait <= base + 0.01, (kind, attempt, wait)
        assert max(attempt for kind, attempt, _ in seen if kind == "email") >= 3
        fault_report(fault="slow webhook (0.3 s/call, first 20 calls 500) + SMTP server down", sent=MENTIONS,
                     lost=len(result.lost), duplicated=result.duplicated + sum(n - 1 for n in smtp.keys.values()),
                     recovery_s=round(emails_recovered_s, 2),
                     note=(f"{CASES} cases: all routed and breached while email was down; {CASES} emails, up to "
                           f"{attempts} attempts each, delivered once each after the SMTP server came up "
                           f"(recovery = until the last one); {result.webhook_calls} webhook calls for "
                           f"{CASES} webhook notifications"))
        result.check()
    finally:
        smtp.stop()
        webhook.stop()
