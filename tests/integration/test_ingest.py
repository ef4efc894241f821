"""ingest against the real broker: what is answered 202 is on the topic; what is refused is not."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.envelope import header_map
from services.common.topics import MENTIONS_RAW, EventType
from services.ingest.app import IngestService
from services.ingest.settings import IngestSettings
from tests.support import Running, events, mention_body, metric_sum, parse_metrics, read_topic, validate_event, with_subject

pytestmark = pytest.mark.integration


def _service(service_env: dict[str, str], **extra: str) -> IngestService:
    env = {**service_env, "HEATDESK_INGEST_PORT": str(free_port()), **extra}
    return IngestService(loader.load(IngestSettings, env))


async def test_accepted_mention_is_published_as_a_cloudevent(service_env, broker):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        body = mention_body("tw-100", "@acme you charged me twice this month, refund me")
        async with http.post(f"{base}/v1/mentions", json=body) as resp:
            assert resp.status == 202
            mention_id = (await resp.json())["id"]
        records = await read_topic(broker.bootstrap, MENTIONS_RAW, until=with_subject(mention_id))
        assert len(records) == 1
        record = records[0]
        headers = header_map(record.headers)
        assert headers["ce_type"] == EventType.MENTION_RECEIVED.encode()
        assert headers["ce_specversion"] == b"1.0"
        assert record.key == b"x:cust-1"  # channel + author id keeps a customer in one partition
        (event,) = events(records)
        validate_event(event)
        assert event.data["id"] == mention_id
        assert event.data["text"] == body["text"]
        assert event.data["raw"] == body
        async with http.get(f"{base}/metrics") as resp:
            metrics = parse_metrics(await resp.text())
        assert metric_sum(metrics, "heatdesk_mentions_ingested_total", channel="x") == 1


async def test_same_source_id_gets_the_same_mention_id(service_env):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/mentions"
        ids = []
        for _ in range(2):
            async with http.post(url, json=mention_body("tw-dup", "where is my parcel?")) as resp:
                assert resp.status == 202
                ids.append((await resp.json())["id"])
        assert ids[0] == ids[1]


@pytest.mark.parametrize("data,content_type,status,slug", [
    (b"{not json", "application/json", 400, "invalid-json"),
    (b"channel=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    (orjson.dumps({"channel": "x", "text": ""}), "application/json", 422, "invalid-mention"),
    (orjson.dumps([1, 2]), "application/json", 422, "invalid-mention"),
    (orjson.dumps(mention_body("tw-bad", "hi", created_at="yesterday")), "application/json", 422, "invalid-mention"),
    (orjson.dumps(mention_body("tw-big", "x" * 3000)), "application/json", 413, "payload-too-large"),
])
async def test_bad_input_gets_problem_json_and_nothing_is_published(service_env, broker, data, content_type,
                                                                     status, slug):
    svc = _service(service_env, HEATDESK_INGEST_MAX_BODY_BYTES="2048")
    async with Running(svc), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{svc.settings.ingest_port}/v1/mentions"
        async with http.post(url, data=data, headers={"Content-Type": content_type}) as resp:
            assert resp.status == status
            assert resp.content_type == "application/problem+json"
            problem = await resp.json(content_type=None)
            assert problem["status"] == status
            assert problem["type"].endswith(slug)
            if status == 422:
                assert problem["errors"] and all("pointer" in e for e in problem["errors"])
        # A good mention afterwards is the only record on the topic.
        async with http.post(url, json=mention_body("tw-good", "my order never arrived")) as resp:
            good_id = (await resp.json())["id"]
        records = await read_topic(broker.bootstrap, MENTIONS_RAW, until=with_subject(good_id), settle=1.0)
        assert [e.data["id"] for e in events(records)] == [good_id]
        async with http.get(f"http://127.0.0.1:{svc.settings.ingest_port}/metrics") as resp:
            metrics = parse_metrics(await resp.text())
        assert metric_sum(metrics, "heatdesk_mentions_rejected_total") == 1


async def test_broker_down_answers_503_with_retry_after(service_env, broker):
    svc = _service(service_env, HEATDESK_INGEST_PUBLISH_TIMEOUT_S="1.5", HEATDESK_KAFKA_REQUEST_TIMEOUT_MS="2000")
    async with Running(svc), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 200
        broker.stop()
        async with http.post(f"{base}/v1/mentions", json=mention_body("tw-503", "refund please")) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"].isdigit()
            assert (await resp.json(content_type=None))["type"].endswith("broker-unavailable")
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 503


async def test_probes_and_unknown_routes(service_env):
    async with Running(_service(service_env)) as svc, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{svc.settings.ingest_port}"
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"]["kafka"]["ok"] is True
        async with http.get(f"{base}/v1/nope") as resp:
            assert resp.status == 404
            assert resp.content_type == "application/problem+json"
        async with http.get(f"{base}/v1/mentions") as resp:
            assert resp.status == 405
            assert resp.content_type == "application/problem+json"
