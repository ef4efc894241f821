"""Secrets come from the environment or from mounted files, and never reach a log line.

The four services are started with every secret they know - a database password in the
DSN, ingest's API tokens and platform secrets (some as `NAME_FILE` mounted files), the
Kafka SASL password, the webhook URL with its token and the webhook signing secret, the
SMTP password - and then driven through the paths that log: requests with wrong tokens
and signatures, a database outage, a webhook and an SMTP server that cannot be reached,
a graceful stop. Not one secret, in any encoding, appears in any service's log.
"""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import quote

import aiohttp
import orjson
import pytest

from services.common.embedded import free_port
from services.common.log import SecretsLogFilter, secret_values
from tests.faults.stack import SERVICES
from tests.faults.test_slow_targets import POLICIES
from tests.support import json_log_capture, mention_body, wait_for

pytestmark = pytest.mark.integration

DB_PASSWORD = "pg-Pa55word-never-logged"
API_TOKEN = "tok-crm-0123456789abcdef-never-logged"
X_SECRET = "x-consumer-secret-never-logged"
META_SECRET = "meta-app-secret-never-logged"
META_VERIFY = "meta-verify-token-never-logged"
MAILGUN_KEY = "mailgun-signing-key-never-logged"
SASL_PASSWORD = "kafka-sasl-password-never-logged"
WEBHOOK_TOKEN = "T0000/B0000/XXXXwebhookTokenNeverLogged"
WEBHOOK_SECRET = "webhook-hmac-secret-never-logged"
SMTP_PASSWORD = "smtp-password-never-logged"
SECRETS = (DB_PASSWORD, API_TOKEN, X_SECRET, META_SECRET, META_VERIFY, MAILGUN_KEY, SASL_PASSWORD, WEBHOOK_TOKEN,
           WEBHOOK_SECRET, SMTP_PASSWORD)


def encodings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(), repr(secret)[1:-1]}


async def test_services_started_with_secrets_never_log_them(fault_stack, fault_report, tmp_path):
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)  # the team lead is paged by webhook and by email
    x_file, mailgun_file = tmp_path / "x-secret", tmp_path / "mailgun-key"
    x_file.write_text(X_SECRET + "\n")
    mailgun_file.write_text(MAILGUN_KEY)
    closed_port = free_port()
    stack = await fault_stack(pg_proxy=True, env={
        "HEATDESK_LOG_LEVEL": "DEBUG", "HEATDESK_SLA_POLICIES_PATH": str(policies),
        "HEATDESK_INGEST_API_TOKENS": f"crm:{API_TOKEN}",
        "HEATDESK_INGEST_X_CONSUMER_SECRET_FILE": str(x_file),
        "HEATDESK_INGEST_META_APP_SECRET": META_SECRET, "HEATDESK_INGEST_META_VERIFY_TOKEN": META_VERIFY,
        "HEATDESK_INGEST_MAILGUN_SIGNING_KEY_FILE": str(mailgun_file),
        "HEATDESK_KAFKA_SASL_PASSWORD": SASL_PASSWORD, "HEATDESK_KAFKA_SASL_USERNAME": "heatdesk",
        "HEATDESK_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{closed_port}/services/{WEBHOOK_TOKEN}",
        "HEATDESK_NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HEATDESK_NOTIFY_SMTP_HOST": "127.0.0.1", "HEATDESK_NOTIFY_SMTP_PORT": str(closed_port),
        "HEATDESK_NOTIFY_SMTP_USERNAME": "alerts", "HEATDESK_NOTIFY_SMTP_PASSWORD": SMTP_PASSWORD,
    })
    stack.env["DATABASE_URL"] = stack.env["DATABASE_URL"].replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    assert DB_PASSWORD in stack.env["DATABASE_URL"]
    await stack.start()
    ingest = stack.one("ingest")
    async with aiohttp.ClientSession() as http:
        url = ingest.url("/v1/mentions")
        for token in (API_TOKEN[:-1], "Bearer nonsense", API_TOKEN):
            async with http.post(url, json=mention_body(f"sec-{len(token)}", "refund me, you charged me twice"),
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == (202 if token == API_TOKEN else 401)
        async with http.post(ingest.url("/v1/channels/x"), data=b"{}", headers={
                "Content-Type": "application/json", "x-twitter-webhooks-signature": "sha256=AAAA"}) as resp:
            assert resp.status == 401
        async with http.get(ingest.url(f"/v1/channels/meta?hub.mode=subscribe&hub.verify_token={META_VERIFY}x"
                                       "&hub.challenge=1")) as resp:
            assert resp.status == 403
        async with http.post(ingest.url("/v1/channels/email"), data={"signature": "00", "timestamp": "1",
                                                                     "token": "t", "from": "a@b.example"}) as resp:
            assert resp.status == 401
    db = await stack.db()
    try:
        async def delivery_failed() -> bool:  # the webhook and SMTP server are unreachable: failed attempts logged
            return await db.fetchval("SELECT count(*) FROM notifications WHERE attempts >= 1 AND last_error IS NOT NULL"
                                     ) >= 2

        await wait_for(delivery_failed, timeout=30)
    finally:
        await db.close()
    assert stack.pg_proxy is not None
    stack.pg_proxy.cut()  # database errors and retries get logged
    route = stack.one("route")
    async with aiohttp.ClientSession() as http:
        async with http.post(ingest.url("/v1/mentions"), json=mention_body("sec-outage", "still no refund"),
                             headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
            assert resp.status == 202
    deadline = time.monotonic() + 20
    while "retrying the batch" not in route.tail(10_000_000):
        assert time.monotonic() < deadline, route.tail()
        await asyncio.sleep(0.1)
    stack.pg_proxy.resume()
    await route.wait_ready(timeout=30)
    codes = {p.name: await p.terminate() for s in reversed(SERVICES) for p in stack.live(s)}
    assert set(codes.values()) == {0}, codes

    logs = {p.name: p.log_path.read_text() for ps in stack.procs.values() for p in ps}
    assert all(logs.values()) and "retrying the batch" in logs["route-0"] and "will retry" in logs["notify-0"]
    leaks = {(name, secret) for name, text in logs.items() for secret in SECRETS
             for form in encodings(secret) if form in text}
    assert not leaks, leaks
    for text in logs.values():  # and every line is a JSON object (nothing printed around the logger)
        for line in text.splitlines():
            orjson.loads(line)
    fault_report(fault="secrets in logs (10 secrets, 4 services, error paths, DB outage)", sent=1, lost=0,
                 duplicated=0, recovery_s="", note=f"{sum(len(t.splitlines()) for t in logs.values())} log lines "
                                                   f"grepped: no secret in any encoding")


def test_the_secrets_filter_scrubs_what_code_might_let_slip(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("file-secret-value-123\n")
    env = {"DATABASE_URL": f"postgresql://app:{quote('p@ss/word!', safe='')}@db:5432/heatdesk",
           "HEATDESK_INGEST_API_TOKENS": "crm:crm-token-0123456789,shop:shop-token-0123456789",
           "HEATDESK_INGEST_MAILGUN_SIGNING_KEY_FILE": str(key_file), "HEATDESK_NOTIFY_WEBHOOK_URL": "https://hooks/x/Y/z",
           "HEATDESK_LOG_LEVEL": "DEBUG", "HEATDESK_INGEST_PORT": "8080"}
    secrets = secret_values(env)
    assert {"p@ss/word!", "crm-token-0123456789", "file-secret-value-123", "https://hooks/x/Y/z"} <= set(secrets)
    assert "DEBUG" not in secrets and "8080" not in secrets
    logger, stream = json_log_capture("tests.secrets", SecretsLogFilter(secrets))
    try:
        raise RuntimeError(f"connect failed: {env['DATABASE_URL']} (password p@ss/word!)")
    except RuntimeError:
        logger.error("token %s refused", "crm-token-0123456789", exc_info=True,
                     extra={"url": "https://hooks/x/Y/z", "nested": {"k": ["file-secret-value-123"]}})
    line = stream.getvalue()
    for secret in ("p@ss/word!", quote("p@ss/word!", safe=""), "crm-token-0123456789", "file-secret-value-123", "hooks/x/Y/z"):
        assert secret not in line, secret
    entry = orjson.loads(line)
    assert entry["msg"] == "token *** refused" and entry["nested"] == {"k": ["***"]}
