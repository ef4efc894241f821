"""The operator commands answer a database or broker that fails with one line and an exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg
import pytest

from services.cli import main
from services.common import devstate
from services.common.embedded import free_port


@pytest.fixture
def nowhere(monkeypatch, tmp_path: Path):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/heatdesk")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setenv("HEATDESK_DEV_STATE_DIR", str(tmp_path))
    return port


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("argv", [["cases", "list"], ["cases", "show", "x"], ["retention", "--dry-run"]])
def test_a_database_that_refuses_connections(nowhere, capsys, argv):
    assert main(argv) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"heatdesk {argv[0]}: PostgreSQL did not answer at ") and line.endswith("connection refused")


@pytest.mark.parametrize("argv", [["deadletter", "list"], ["topics", "describe"]])
def test_a_broker_that_does_not_answer(nowhere, capsys, argv):
    assert main(argv) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot reach the Kafka broker at 127.0.0.1:{nowhere}: no broker answered" in line


@pytest.mark.parametrize(("error", "words"), [
    (asyncpg.InvalidPasswordError("password authentication failed for user \"x\""), "refused the credentials"),
    (asyncpg.InvalidCatalogNameError("database \"nope\" does not exist"), "heatdesk migrate --create-database"),
    (TimeoutError(), "did not answer"),
])
def test_credentials_refused_are_a_configuration_error(nowhere, monkeypatch, capsys, error, words):
    async def refuse(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(asyncpg, "connect", refuse)
    assert main(["cases", "list"]) == (1 if isinstance(error, TimeoutError) else 2)
    assert words in one_line(capsys.readouterr().err)


def test_the_dev_state_fills_only_what_the_environment_leaves_unset(tmp_path: Path):
    (tmp_path / "dev.json").write_text(json.dumps({"pid": os.getpid(), "database_url": "postgresql://a@127.0.0.1:6/h",
                                                   "kafka_bootstrap_servers": "127.0.0.1:7"}))
    base = {"HEATDESK_DEV_STATE_DIR": str(tmp_path)}
    env = devstate.cli_environ(base, announce=False)
    assert env["DATABASE_URL"] == "postgresql://a@127.0.0.1:6/h" and env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:7"
    env = devstate.cli_environ({**base, "DATABASE_URL": "postgresql://b@db/h"}, announce=False)
    assert env["DATABASE_URL"] == "postgresql://b@db/h" and env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:7"


def test_a_dev_state_whose_process_is_gone_is_ignored(tmp_path: Path):
    (tmp_path / "dev.json").write_text(json.dumps({"pid": 2**22 + 12345, "database_url": "postgresql://a@x/h"}))
    assert "DATABASE_URL" not in devstate.cli_environ({"HEATDESK_DEV_STATE_DIR": str(tmp_path)}, announce=False)


def test_heatdesk_dev_writes_and_removes_its_state(tmp_path: Path):
    path = devstate.write_state(tmp_path, "postgresql://p@127.0.0.1:5/h", "127.0.0.1:9092")
    assert devstate.read_state(tmp_path)["database_url"] == "postgresql://p@127.0.0.1:5/h"
    devstate.remove_state(tmp_path)
    assert not path.exists() and devstate.read_state(tmp_path) is None
