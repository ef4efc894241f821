"""The published contracts cannot drift from the code: AsyncAPI document and JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from services.common.asyncapi import document, render
from services.common.schemas import SCHEMA_FILES, all_schemas
from services.common.topics import EventType, all_topics

REPO = Path(__file__).resolve().parents[3]


def test_committed_asyncapi_document_is_what_the_code_generates():
    committed = (REPO / "docs" / "asyncapi.yaml").read_text()
    assert committed == render(), "docs/asyncapi.yaml is stale: run `heatdesk asyncapi > docs/asyncapi.yaml`"


def test_every_topic_and_event_type_is_in_the_asyncapi_document():
    doc = document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in all_topics()}
    documented = {m["name"] for m in doc["components"]["messages"].values()}
    declared = {v for k, v in vars(EventType).items() if k.isupper()}
    assert documented == declared
    for operation in doc["operations"].values():
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in doc["channels"]
    for message in doc["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref:
            assert (REPO / "docs" / ref).resolve().is_file(), ref


def test_every_schema_is_valid_and_every_event_type_but_dead_letters_has_one():
    for uri, schema in all_schemas().items():
        Draft202012Validator.check_schema(schema)
        assert uri == schema["$id"]
    declared = {v for k, v in vars(EventType).items() if k.isupper()}
    assert declared - set(SCHEMA_FILES) == {EventType.DEADLETTERED}


def test_the_asyncapi_yaml_parses():
    assert yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())["asyncapi"] == "3.0.0"
