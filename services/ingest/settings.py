"""Settings of the ingest service (`HEATDESK_INGEST_*` and the shared ones).

Secrets (tokens, app secrets, signing keys) can also be given as `<NAME>_FILE` pointing at
a mounted file (Kubernetes Secret volume), so they never appear in the environment listing.
"""

from __future__ import annotations

import dataclasses

from services.common.config import ServiceSettings, setting


@dataclasses.dataclass(frozen=True)
class IngestSettings(ServiceSettings):
    ingest_port: int = setting(8080, "Port of the ingest API, /metrics and probes")
    ingest_max_body_bytes: int = setting(1024 * 1024, "Largest accepted request body (413 beyond)")
    ingest_max_in_flight: int = setting(2000, "Publishes awaiting broker acknowledgement before 503 Retry-After")
    ingest_publish_timeout_s: float = setting(10.0, "How long a request waits for the broker before 503")
    ingest_retry_after_s: int = setting(5, "Retry-After seconds sent with 503")
    ingest_api_tokens: str = setting("", "source:token pairs for /v1/mentions, /v1/responses and email "
                                         "(empty: those endpoints are open - development only)")
    ingest_x_consumer_secret: str = setting("", "X app consumer secret: CRC answers and x-twitter-webhooks-signature")
    ingest_meta_app_secret: str = setting("", "Meta app secret: X-Hub-Signature-256 of Facebook/Instagram webhooks")
    ingest_meta_verify_token: str = setting("", "Meta webhook verify token (hub.verify_token)")
    ingest_graph_url: str = setting("https://graph.facebook.com/v21.0",
                                    "Graph API base URL, for Instagram mentions (which carry only ids)")
    ingest_graph_token: str = setting("", "Instagram token (instagram_manage_comments) that fetches mentioned "
                                          "comments and captions (empty: those mentions are dead-lettered)")
    ingest_graph_timeout_s: float = setting(5.0, "How long one Graph API fetch may take before the webhook gets 503")
    ingest_mailgun_signing_key: str = setting("", "Mailgun webhook signing key (verifies inbound-parse posts)")
    ingest_brand_accounts: tuple[str, ...] = setting((), "The brand's own accounts, channel:id-or-handle, e.g. "
                                                         "x:AcmeHelp,facebook:1061234,email:care@acme.com")
    ingest_rate_limit_per_s: float = setting(0.0, "Requests per second per source (0: unlimited)")
    ingest_rate_limit_burst: float = setting(200.0, "Burst size of the per-source rate limit")
    ingest_recent_ids: int = setting(100_000, "Recently acknowledged ids remembered to answer retries without republishing")
