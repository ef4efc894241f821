"""Settings of the classify service (`HEATDESK_CLASSIFY_*` and the shared ones)."""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class ClassifySettings(ServiceSettings):
    classify_port: int = setting(8081, "Port of /metrics and probes")
    classify_group_id: str = setting("heatdesk-classify", "Consumer group of classify")
    classify_batch_size: int = setting(256, "Mentions per nlp.pipe batch")
    classify_config: str = setting("", "Classify rules configuration (JSON: departments, cues, flags, products, "
                                       "competitors); empty for the shipped default")
