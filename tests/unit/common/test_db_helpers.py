"""services.common.db: the pure helpers (migrations on disk, DSN handling)."""

from __future__ import annotations

import hashlib
import re

import pytest

from services.common.db import Migration, load_migrations, redact, split_database


def test_migrations_are_sorted_unique_and_start_at_one():
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    assert versions, "no migrations found in the package"
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] == 1


def test_migrations_have_names_and_sql():
    for m in load_migrations():
        assert re.fullmatch(r"[a-z0-9_]+", m.name)
        assert m.sql.strip(), f"migration {m.version:04d}_{m.name} is empty"


def test_checksum_is_sha256_of_sql_and_stable():
    first = {m.version: m.checksum for m in load_migrations()}
    second = {m.version: m.checksum for m in load_migrations()}
    assert first == second
    for m in load_migrations():
        assert m.checksum == hashlib.sha256(m.sql.encode()).hexdigest()
        assert re.fullmatch(r"[0-9a-f]{64}", m.checksum)


def test_checksum_changes_with_the_sql():
    assert Migration(1, "a", "SELECT 1;").checksum != Migration(1, "a", "SELECT 2;").checksum
    assert Migration(1, "a", "SELECT 1;").checksum == Migration(7, "b", "SELECT 1;").checksum


@pytest.mark.parametrize("dsn,expected", [
    ("postgresql://heat:s3cret@db:5432/heatdesk", "postgresql://heat:***@db:5432/heatdesk"),
    ("postgresql://heat:p%40ss@db/heatdesk?sslmode=require", "postgresql://heat:***@db/heatdesk?sslmode=require"),
    ("postgresql://:only@db/heatdesk", "postgresql://:***@db/heatdesk"),
])
def test_redact_hides_the_password(dsn, expected):
    assert redact(dsn) == expected


@pytest.mark.parametrize("dsn", [
    "postgresql://postgres@127.0.0.1:5432/heatdesk",
    "postgresql://db/heatdesk",
    "postgresql:///heatdesk?host=/var/run/postgresql",
])
def test_redact_leaves_passwordless_dsn_alone(dsn):
    assert redact(dsn) == dsn


def test_redact_hides_a_query_string_password():
    assert "s3cret" not in redact("postgresql://db/heatdesk?user=heat&password=s3cret")


def test_split_database():
    admin, name = split_database("postgresql://heat:pw@db:5432/heatdesk?sslmode=require")
    assert admin == "postgresql://heat:pw@db:5432/postgres?sslmode=require"
    assert name == "heatdesk"


def test_split_database_without_a_path_targets_postgres():
    assert split_database("postgresql://heat@db:5432") == ("postgresql://heat@db:5432/postgres", "postgres")


def test_split_database_decodes_the_name():
    assert split_database("postgresql://db/my%20db")[1] == "my db"
