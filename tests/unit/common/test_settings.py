"""services.common.settings: typed settings from an environment mapping."""

from __future__ import annotations

import dataclasses

import pytest

from services.common.errors import ConfigError
from services.common.settings import describe, env_name, load, parse_mapping
from services.ingest.settings import IngestSettings


@dataclasses.dataclass(frozen=True)
class Sample:
    count: int = 1
    ratio: float = 0.5
    enabled: bool = False
    name: str = "default"
    hosts: tuple[str, ...] = ()
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    limit: int | None = None
    label: str | None = None
    kafka_bootstrap_servers: str = "k:9092"
    database_url: str = "postgresql://db/heatdesk"


@dataclasses.dataclass(frozen=True)
class Required:
    token: str


@dataclasses.dataclass(frozen=True)
class Unsupported:
    items: list[str] = dataclasses.field(default_factory=list)


def test_empty_environment_gives_the_defaults():
    assert load(Sample, {}) == Sample()


def test_every_supported_type_is_parsed():
    s = load(Sample, {
        "HEATDESK_COUNT": "42",
        "HEATDESK_RATIO": "0.25",
        "HEATDESK_ENABLED": "true",
        "HEATDESK_NAME": "heatdesk-a",
        "HEATDESK_HOSTS": " a:1 , b:2,,c:3 ",
        "HEATDESK_WEIGHTS": "a=1, b=2.5",
        "HEATDESK_LIMIT": "7",
        "HEATDESK_LABEL": "blue",
    })
    assert s.count == 42 and isinstance(s.count, int)
    assert s.ratio == 0.25 and isinstance(s.ratio, float)
    assert s.enabled is True
    assert s.name == "heatdesk-a"
    assert s.hosts == ("a:1", "b:2", "c:3")
    assert s.weights == {"a": 1.0, "b": 2.5}
    assert s.limit == 7
    assert s.label == "blue"


@pytest.mark.parametrize("raw,expected", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), (" on ", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_bool_spellings(raw, expected):
    assert load(Sample, {"HEATDESK_ENABLED": raw}).enabled is expected


def test_empty_string_sets_an_optional_field_to_none():
    s = load(Sample, {"HEATDESK_LIMIT": "", "HEATDESK_LABEL": ""})
    assert s.limit is None and s.label is None


def test_unrelated_and_unprefixed_variables_are_ignored():
    s = load(Sample, {"COUNT": "9", "HEATDESK_OTHER": "x", "PATH": "/bin"})
    assert s == Sample()


@pytest.mark.parametrize("var,raw", [
    ("HEATDESK_COUNT", "forty"),
    ("HEATDESK_COUNT", "1.5"),
    ("HEATDESK_RATIO", "fast"),
    ("HEATDESK_ENABLED", "maybe"),
    ("HEATDESK_WEIGHTS", "a=1,b"),
    ("HEATDESK_WEIGHTS", "a=heavy"),
    ("HEATDESK_LIMIT", "lots"),
])
def test_bad_values_raise_config_error_naming_the_variable(var, raw):
    with pytest.raises(ConfigError) as info:
        load(Sample, {var: raw})
    assert var in str(info.value)
    assert repr(raw) in str(info.value)


def test_unprefixed_conventional_names_are_read():
    s = load(Sample, {"KAFKA_BOOTSTRAP_SERVERS": "b1:9092,b2:9092", "DATABASE_URL": "postgresql://x/y"})
    assert s.kafka_bootstrap_servers == "b1:9092,b2:9092"
    assert s.database_url == "postgresql://x/y"


def test_prefixed_form_is_the_fallback_for_unprefixed_names():
    s = load(Sample, {"HEATDESK_KAFKA_BOOTSTRAP_SERVERS": "p:9092", "HEATDESK_DATABASE_URL": "postgresql://p/q"})
    assert s.kafka_bootstrap_servers == "p:9092"
    assert s.database_url == "postgresql://p/q"


def test_unprefixed_name_wins_over_prefixed():
    s = load(Sample, {"DATABASE_URL": "postgresql://conventional/db",
                      "HEATDESK_DATABASE_URL": "postgresql://prefixed/db"})
    assert s.database_url == "postgresql://conventional/db"


def test_env_name():
    assert env_name("ingest_port") == "HEATDESK_INGEST_PORT"
    assert env_name("kafka_bootstrap_servers") == "KAFKA_BOOTSTRAP_SERVERS"
    assert env_name("database_url") == "DATABASE_URL"


def test_missing_required_field_is_a_config_error():
    with pytest.raises(ConfigError):
        load(Required, {})
    assert load(Required, {"HEATDESK_TOKEN": "t"}).token == "t"


def test_unsupported_type_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="HEATDESK_ITEMS"):
        load(Unsupported, {"HEATDESK_ITEMS": "a,b"})


def test_parse_mapping():
    assert parse_mapping("critical=900, high = 3600,") == {"critical": 900.0, "high": 3600.0}
    assert parse_mapping("") == {}
    with pytest.raises(ValueError):
        parse_mapping("critical")


def test_ingest_settings_from_environment():
    s = load(IngestSettings, {
        "HEATDESK_INGEST_PORT": "9000",
        "HEATDESK_INGEST_PUBLISH_TIMEOUT_S": "2.5",
        "HEATDESK_KAFKA_IDEMPOTENCE": "yes",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "DATABASE_URL": "postgresql://pg/heatdesk",
    })
    assert s.ingest_port == 9000
    assert s.ingest_publish_timeout_s == 2.5
    assert s.kafka_idempotence is True
    assert s.kafka_bootstrap_servers == "kafka:9092"
    assert s.database_url == "postgresql://pg/heatdesk"
    # untouched fields keep their defaults
    assert s.ingest_max_body_bytes == IngestSettings().ingest_max_body_bytes
    assert s.ingest_retry_after_s == 5


def test_ingest_settings_are_frozen():
    s = load(IngestSettings, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.ingest_port = 1  # type: ignore[misc]


def test_ingest_settings_bad_port_names_variable():
    with pytest.raises(ConfigError, match="HEATDESK_INGEST_PORT"):
        load(IngestSettings, {"HEATDESK_INGEST_PORT": "80a"})


def test_load_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("HEATDESK_INGEST_PORT", "8181")
    assert load(IngestSettings).ingest_port == 8181


def test_describe_rows_for_ingest_settings():
    rows = describe(IngestSettings)
    by_var = {var: (default, doc) for var, default, doc in rows}
    assert len(rows) == len(dataclasses.fields(IngestSettings))
    assert rows[0][0] == "KAFKA_BOOTSTRAP_SERVERS"
    assert by_var["DATABASE_URL"][1] == "PostgreSQL DSN"
    assert by_var["HEATDESK_INGEST_PORT"] == ("8080", "Port of the ingest API, /metrics and probes")
    assert by_var["HEATDESK_INGEST_PUBLISH_TIMEOUT_S"][0] == "10.0"
    assert all(var.startswith("HEATDESK_") for var in by_var if var not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"))


def test_describe_renders_mapping_defaults_in_the_env_syntax_that_load_accepts():
    from services.common.config import setting

    @dataclasses.dataclass(frozen=True)
    class WithTargets:
        sla_first_response_targets: dict = setting({"critical": 900.0, "high": 3600.0}, "targets")

    rows = {var: default for var, default, _ in describe(WithTargets)}
    rendered = rows["HEATDESK_SLA_FIRST_RESPONSE_TARGETS"]
    assert rendered == "critical=900,high=3600"
    reloaded = load(WithTargets, {"HEATDESK_SLA_FIRST_RESPONSE_TARGETS": rendered})
    assert reloaded.sla_first_response_targets == WithTargets().sla_first_response_targets


def test_describe_without_doc_metadata_gives_empty_doc():
    rows = {var: (default, doc) for var, default, doc in describe(Sample)}
    assert rows["HEATDESK_COUNT"] == ("1", "")
    assert rows["HEATDESK_WEIGHTS"] == ("", "")


def test_describe_renders_tuple_defaults_in_env_syntax():
    @dataclasses.dataclass(frozen=True)
    class WithTuple:
        hosts: tuple[str, ...] = ("a", "b")

    (_, default, _), = describe(WithTuple)
    assert load(WithTuple, {"HEATDESK_HOSTS": default}).hosts == ("a", "b")
