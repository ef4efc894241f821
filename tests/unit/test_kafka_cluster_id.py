"""services.common.embedded_kafka.new_cluster_id: ids kafka-storage accepts (pure logic)."""

from __future__ import annotations

import uuid

from services.common import embedded_kafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    # 0xF8 encodes as "-" first in URL-safe base64: kafka-storage would read "-t -…" as an option
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x08" + b"\x00" * 15)])
    monkeypatch.setattr(embedded_kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = embedded_kafka.new_cluster_id()
    assert cluster_id == "CAAAAAAAAAAAAAAAAAAAAA" and len(cluster_id) == 22
