"""`heatdesk replay` through a running ingest: original times kept, brand replies as responses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.common import settings as loader
from services.common.embedded import free_port
from services.common.topics import MENTIONS_RAW, RESPONSES
from services.ingest.app import IngestService
from services.ingest.replay import replay
from services.ingest.settings import IngestSettings
from tests.support import Running, events, read_topic

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "replay" / "twcs_sample.csv"
SHARED_TWCS = Path(os.environ.get("HEATDESK_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) \
    / "twcs_subset.csv"


def _service(service_env: dict[str, str]) -> IngestService:
    return IngestService(loader.load(IngestSettings, {**service_env, "HEATDESK_INGEST_PORT": str(free_port())}))


async def test_replay_of_a_twcs_file_keeps_times_and_splits_mentions_and_responses(service_env, broker):
    async with Running(_service(service_env)) as svc:
        summary = await replay(SAMPLE, target=f"http://127.0.0.1:{svc.settings.ingest_port}", progress=False)
        mentions = events(await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 3))
        responses = events(await read_topic(broker.bootstrap, RESPONSES, until=lambda rs: len(rs) >= 2))
    assert summary.outcome == {"accepted": 5, "invalid": 1}
    assert summary.by_kind == {"mention": 3, "response": 2, "invalid": 1}
    assert "line 8" in summary.first_errors[0]  # the empty row, by its line in the file
    by_id = {e.data["external_id"]: e.data for e in mentions}
    assert by_id["10"]["created_at"] == "2017-10-31T21:00:00Z" and by_id["10"]["author"]["id"] == "900001"
    assert by_id["12"]["in_reply_to"] == "11" and by_id["12"]["conversation_id"] == "10"
    first_reply = next(e.data for e in responses if e.data["external_id"] == "11")
    assert first_reply["in_reply_to"] == "10" and first_reply["customer_id"] == "900001"
    assert first_reply["created_at"] == "2017-10-31T21:30:00Z" and first_reply["author"]["id"] == "AcmeHelp"
    # The brand's broadcast (no parent) is neither a mention nor a response.
    assert "15" not in by_id and all(e.data["external_id"] != "15" for e in responses)


async def test_replay_again_is_all_duplicates(service_env):
    async with Running(_service(service_env)) as svc:
        target = f"http://127.0.0.1:{svc.settings.ingest_port}"
        await replay(SAMPLE, target=target, progress=False)
        again = await replay(SAMPLE, target=target, progress=False)
    assert again.outcome == {"duplicate": 5, "invalid": 1}


def test_replay_cli_reports_a_missing_file_with_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "services.cli", "replay", "/nonexistent.csv"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "no such file" in result.stderr


@pytest.mark.skipif(not SHARED_TWCS.is_file(), reason=f"evaluation data set not present at {SHARED_TWCS}")
async def test_replay_of_the_shared_twcs_subset(service_env, broker):
    async with Running(_service(service_env)) as svc:
        summary = await replay(SHARED_TWCS, target=f"http://127.0.0.1:{svc.settings.ingest_port}", progress=False)
        mentions = await read_topic(broker.bootstrap, MENTIONS_RAW, until=lambda rs: len(rs) >= 2778, timeout=60)
    assert summary.by_kind["mention"] == 2778 and summary.by_kind["response"] == 2201
    assert summary.outcome["accepted"] == 2778 + 2201 and summary.outcome["invalid"] == 1
    first = min(events(mentions), key=lambda e: e.data["created_at"])
    assert first.data["created_at"].startswith("2011")  # original times, not the replay's
