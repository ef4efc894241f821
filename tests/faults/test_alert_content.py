"""What a customer writes must not steer or leak through the alerts notify sends.

A crisis alert quotes an example mention in its webhook text (Slack-compatible) and in its
JSON. Customers' text is hostile input: Slack reads `<!channel>`, `<!here>` and
`<https://…|label>` in a message as a broadcast ping and a disguised link, so the quote
must be escaped (`&`, `<`, `>` as Slack documents); and a card number, email address or
phone number in it must be masked like everything else that leaves the database.

Tested through notify's public behaviour: mentions posted to ingest, classified, counted
by notify's crisis detection, and the webhook call it makes.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.faults.load import WebhookSink
from tests.support import mention_body, wait_for

pytestmark = pytest.mark.integration

HOSTILE = ("<!channel> worst service ever, you stole my money and nobody answers, refund card "
           "4111 1111 1111 1111 at <https://evil.example/login|acme.com/refunds> or mail jo.doe@example.com")


async def test_a_crisis_alert_quotes_customers_escaped_and_masked(fault_stack):
    sink = WebhookSink().start()
    try:
        stack = await fault_stack(env={"HEATDESK_NOTIFY_WEBHOOK_URL": sink.url, "HEATDESK_NOTIFY_CRISIS_MIN_COUNT": "3"})
        await stack.start(services=("ingest", "classify", "notify"))
        async with aiohttp.ClientSession() as http:
            for i in range(4):
                async with http.post(stack.one("ingest").url("/v1/mentions"),
                                     json=mention_body(f"crisis-{i}", HOSTILE, author_id=f"angry-{i}")) as resp:
                    assert resp.status == 202

        def crisis_calls() -> list:
            return [c for c in sink.calls if c.body.get("heatdesk", {}).get("category") == "crisis"]

        await wait_for(crisis_calls, timeout=30)
        (call, *_) = crisis_calls()
        text = call.body["text"]
        assert "<!channel>" not in text and "<https://evil.example" not in text, text
        everything = str(call.body)
        for secret in ("4111 1111 1111 1111", "jo.doe@example.com"):
            assert secret not in everything, secret
    finally:
        sink.stop()
