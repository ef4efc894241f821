"""Kafka over TLS with SASL (SCRAM-SHA-256/512, OAUTHBEARER) and PostgreSQL over TLS, for real.

The services' own client factories (`services.common.kafka`, `services.common.db`) are
configured by settings only, and talk through a proxy that plays the secured server
(see `tests/faults/tls.py`): it terminates TLS with a certificate of a throw-away CA,
requires a client certificate where mutual TLS is tested, verifies SCRAM proofs and
bearer tokens, and only then passes the connection to the embedded broker or PostgreSQL.
Each secured path is shown to work end to end and to refuse a client that gets it wrong.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiokafka.errors import KafkaError

from services.common import settings as loader
from services.common.config import ServiceSettings
from services.common.db import create_pool, is_retriable_db_error
from services.common.embedded import EmbeddedBroker, free_port
from services.common.errors import ConfigError
from services.common.kafka import ensure_topics, make_consumer, make_producer
from services.common.topics import MENTIONS_RAW, all_topics
from services.ingest.app import IngestService
from services.ingest.settings import IngestSettings
from tests.conftest import FAST_KAFKA_ENV
from tests.faults.proxy import TcpProxy
from tests.faults.stack import with_host
from tests.faults.tls import KafkaSasl, PgTls, Pki, make_pki
from tests.support import LocalServer, Running, mention_body

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def secured_broker(tmp_path: Path, pki: Pki):  # noqa: ANN201 - a factory
    """factory(gate) -> (broker, proxy): Tansu behind a TLS (+ mutual TLS) and SASL terminating proxy."""
    made = []

    def make(gate: KafkaSasl, require_client_cert: bool = True) -> tuple[EmbeddedBroker, TcpProxy]:
        proxy_port = free_port()
        broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "broker.log", advertised_port=proxy_port)
        broker.start()
        proxy = TcpProxy("127.0.0.1", broker.port, port=proxy_port, handshake=gate,
                         ssl_context=pki.server_context(require_client_cert=require_client_cert)).start()
        made.append((broker, proxy))
        return broker, proxy

    yield make
    for broker, proxy in made:
        proxy.close()
        broker.stop()


def kafka_env(proxy: TcpProxy, pki: Pki, **extra: str) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": proxy.address, "HEATDESK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "HEATDESK_KAFKA_SSL_CAFILE": str(pki.ca), "HEATDESK_KAFKA_SSL_CERTFILE": str(pki.client_cert),
            "HEATDESK_KAFKA_SSL_KEYFILE": str(pki.client_key), "HEATDESK_HTTP_HOST": "127.0.0.1",
            "HEATDESK_KAFKA_REQUEST_TIMEOUT_MS": "5000", **FAST_KAFKA_ENV, **extra}


async def roundtrip(env: dict[str, str], external_id: str) -> None:
    """ingest (in-process, these settings) accepts a post; a consumer with the same settings reads it."""
    port = free_port()
    settings = loader.load(IngestSettings, {**env, "HEATDESK_INGEST_PORT": str(port)})
    async with Running(IngestService(settings)):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/v1/mentions",
                                 json=mention_body(external_id, "refund me please")) as resp:
                assert resp.status == 202, await resp.text()
                mention_id = (await resp.json())["id"]
    consumer = make_consumer(settings, "test", f"tls-{external_id}", [MENTIONS_RAW])
    await consumer.start()
    try:
        seen: list[bytes] = []
        for _ in range(100):
            batches = await consumer.getmany(timeout_ms=200)
            seen += [dict(r.headers)["ce_subject"] for records in batches.values() for r in records]
            if mention_id.encode() in seen:
                return
        raise AssertionError(f"{mention_id} not read back over TLS+SASL; saw {seen}")
    finally:
        await consumer.stop()


async def create_topics(env: dict[str, str]) -> None:
    await ensure_topics(loader.load(ServiceSettings, env), all_topics())


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_kafka_over_mutual_tls_with_scram(secured_broker, pki, mechanism):
    gate = KafkaSasl(scram_users={"heatdesk": "s3cret-scram-pw"})
    _, proxy = secured_broker(gate)
    env = kafka_env(proxy, pki, HEATDESK_KAFKA_SASL_MECHANISM=mechanism, HEATDESK_KAFKA_SASL_USERNAME="heatdesk",
                    HEATDESK_KAFKA_SASL_PASSWORD="s3cret-scram-pw")
    await create_topics(env)
    await roundtrip(env, f"tls-{mechanism}")
    assert {m for m, _ in gate.authenticated} == {mechanism} and {u for _, u in gate.authenticated} == {"heatdesk"}
    assert not gate.failed and gate.dropped_unauthenticated == 0

    # Wrong password: the proof does not verify, the client is refused.
    wrong = loader.load(ServiceSettings, {**env, "HEATDESK_KAFKA_SASL_PASSWORD": "not-the-password"})
    producer = make_producer(wrong, "test")
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()
    assert any("wrong password" in f for f in gate.failed)

    # No client certificate: the TLS handshake is refused before SASL even starts.
    no_cert = loader.load(ServiceSettings, {**env, "HEATDESK_KAFKA_SSL_CERTFILE": "", "HEATDESK_KAFKA_SSL_KEYFILE": ""})
    producer = make_producer(no_cert, "test", request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()

    # A CA that did not sign the broker's certificate: the client refuses the broker.
    other_ca = loader.load(ServiceSettings, {**env, "HEATDESK_KAFKA_SSL_CAFILE": str(pki.other_ca)})
    producer = make_producer(other_ca, "test", request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()
    assert {u for _, u in gate.authenticated} == {"heatdesk"}  # nobody else got through


class TokenEndpoint(LocalServer):
    """An OAuth 2.0 token endpoint (client credentials, HTTP Basic client authentication)."""

    path = "/oauth2/token"

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.client = (client_id, client_secret)
        self.issued: list[str] = []
        self.requests: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append({k: str(v) for k, v in form.items()})
        auth = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
        if (auth.login, auth.password) != self.client or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"token-{len(self.issued)}-for-kafka"
        self.issued.append(token)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})


async def test_kafka_over_tls_with_oauthbearer_from_a_token_endpoint_and_from_a_file(secured_broker, pki, tmp_path):
    async with TokenEndpoint("heatdesk-ingest", "client-s3cret") as endpoint:
        token_file = tmp_path / "token"
        token_file.write_text("file-token-1\n")
        accepted = {"file-token-1"}
        gate = KafkaSasl(oauth_valid=lambda token: token in set(endpoint.issued) | accepted)
        _, proxy = secured_broker(gate, require_client_cert=False)
        base = kafka_env(proxy, pki, HEATDESK_KAFKA_SASL_MECHANISM="OAUTHBEARER", HEATDESK_KAFKA_SSL_CERTFILE="",
                         HEATDESK_KAFKA_SSL_KEYFILE="")
        with_endpoint = {**base, "HEATDESK_KAFKA_SASL_OAUTH_TOKEN_URL": endpoint.url,
                         "HEATDESK_KAFKA_SASL_OAUTH_CLIENT_ID": "heatdesk-ingest",
                         "HEATDESK_KAFKA_SASL_OAUTH_CLIENT_SECRET": "client-s3cret",
                         "HEATDESK_KAFKA_SASL_OAUTH_SCOPE": "kafka"}
        await create_topics(with_endpoint)
        await roundtrip(with_endpoint, "oauth-endpoint")
        # Every connection (admin, producer, consumer, each broker connection) authenticated with one token.
        assert endpoint.issued == ["token-0-for-kafka"]
        assert endpoint.requests[0] == {"grant_type": "client_credentials", "scope": "kafka"}
        assert {t for _, t in gate.authenticated} == {"token-0-for-kafka"} and len(gate.authenticated) >= 2

        with_file = {**base, "HEATDESK_KAFKA_SASL_OAUTH_TOKEN_PATH": str(token_file)}
        await roundtrip(with_file, "oauth-file")
        assert ("OAUTHBEARER", "file-token-1") in gate.authenticated
        token_file.write_text("file-token-2")  # rotated in place; not yet valid at the broker
        producer = make_producer(loader.load(ServiceSettings, with_file), "test", request_timeout_ms=3000)
        with pytest.raises(KafkaError):  # the new token is read at the next authentication, and refused
            await producer.start()
        await producer.stop()
        assert any("invalid bearer token" in f for f in gate.failed)

        bad_client = {**with_endpoint, "HEATDESK_KAFKA_SASL_OAUTH_CLIENT_SECRET": "wrong"}
        producer = make_producer(loader.load(ServiceSettings, bad_client), "test", request_timeout_ms=3000)
        with pytest.raises(Exception, match="token endpoint answered 401"):
            await producer.start()
        await producer.stop()

    with pytest.raises(ConfigError, match="OAUTHBEARER needs"):
        make_producer(loader.load(ServiceSettings, base), "test")


async def test_postgres_over_tls_verify_full(pg_server, pki, tmp_path):
    gate = PgTls(pki.server_context())
    pg = urlsplit(pg_server)
    with TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432, handshake=gate) as proxy:
        via_proxy = with_host(pg_server, "127.0.0.1", proxy.port)
        verify_full = f"{via_proxy}?sslmode=verify-full&sslrootcert={pki.ca}"
        pool = await create_pool(verify_full, 1, 2)
        try:
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 41 + 1") == 42
        finally:
            await pool.close()
        assert gate.tls_sessions >= 1 and gate.refused_plaintext == 0

        # The wrong CA: refused at once as a configuration error, not retried as an outage.
        with pytest.raises(ConfigError, match="certificate was refused"):
            await create_pool(f"{via_proxy}?sslmode=verify-full&sslrootcert={pki.other_ca}", 1, 1, attempts=3)
        # A client that does not ask for TLS gets nowhere.
        with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)) as refused:
            await asyncpg.connect(f"{via_proxy}?sslmode=disable", timeout=5)
        assert gate.refused_plaintext >= 1
        assert is_retriable_db_error(ssl.SSLCertVerificationError()) is False
        assert is_retriable_db_error(refused.value)  # a server that hangs up is an outage: retried
