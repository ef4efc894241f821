"""Fixtures shared by the classify unit tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.classify.synth_threats import generate_threats


@pytest.fixture(scope="session")
def gate_texts() -> list[str]:
    """The labelled rows and the template threats: the texts on which a substring gate must
    never hide a pattern's match."""
    path = Path(__file__).resolve().parents[2] / "data" / "labelled_mentions.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    return texts + [r["text"] for r in generate_threats(3000)]
