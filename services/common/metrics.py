"""The Prometheus metrics of DESIGN.md, on a registry owned by each service instance.

A registry per instance (not the process-global default) is what lets tests build and
tear down services without leaking counters between them. Label values are always from
bounded sets (channel, department, priority, stage, reason): never an id, author or text.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

#: Latency buckets in seconds spanning pipeline hops (ms) to SLA targets (days).
PIPELINE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)


class Metrics:
    """Every Heatdesk metric; a service touches the ones that concern it."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.mentions_ingested = Counter(
            "heatdesk_mentions_ingested_total", "Mentions accepted and acknowledged by the broker",
            ["channel"], registry=r)
        self.mentions_rejected = Counter(
            "heatdesk_mentions_rejected_total", "Mentions refused at ingest, by reason",
            ["channel", "reason"], registry=r)
        self.responses_ingested = Counter(
            "heatdesk_responses_ingested_total", "Brand replies and resolutions accepted", ["channel"], registry=r)
        self.duplicates_skipped = Counter(
            "heatdesk_ingest_duplicates_total", "Redelivered posts answered without publishing again", registry=r)
        self.http_request_duration = Histogram(
            "heatdesk_http_request_duration_seconds", "HTTP request latency by endpoint and status code",
            ["endpoint", "method", "code"], buckets=PIPELINE_BUCKETS, registry=r)
        self.mentions_classified = Counter(
            "heatdesk_mentions_classified_total", "Mentions classified, by department and intent",
            ["department", "intent"], registry=r)
        self.pipeline_latency = Histogram(
            "heatdesk_pipeline_latency_seconds", "Time from receipt at ingest to the end of a stage",
            ["stage"], buckets=PIPELINE_BUCKETS, registry=r)
        self.cases_opened = Counter(
            "heatdesk_cases_opened_total", "Cases opened", ["department", "priority"], registry=r)
        self.mentions_routed = Counter(
            "heatdesk_mentions_routed_total", "Mentions written to a case (new or existing)",
            ["department", "outcome"], registry=r)
        self.first_response = Histogram(
            "heatdesk_first_response_seconds", "Customer's post to the brand's first response (event time)",
            ["department", "channel", "priority"], buckets=RESPONSE_BUCKETS, registry=r)
        self.resolution = Histogram(
            "heatdesk_resolution_seconds", "Customer's post to resolution (event time)",
            ["department", "channel", "priority"], buckets=RESPONSE_BUCKETS, registry=r)
        self.sla_timers_armed = Counter(
            "heatdesk_sla_timers_armed_total", "SLA timers armed", ["kind"], registry=r)
        self.sla_warnings = Counter(
            "heatdesk_sla_warnings_total", "SLA warnings fired", ["department", "kind"], registry=r)
        self.sla_breaches = Counter(
            "heatdesk_sla_breaches_total", "SLA breaches fired", ["department", "kind"], registry=r)
        self.notifications_sent = Counter(
            "heatdesk_notifications_sent_total", "Notifications delivered", ["target", "outcome"], registry=r)
        self.rules_reloads = Counter(
            "heatdesk_rules_reloads_total", "Routing rules file changes, applied or refused", ["outcome"], registry=r)
        self.sla_actions_applied = Counter(
            "heatdesk_sla_actions_applied_total", "SLA actions route carried out (autoclose, reassign)", ["outcome"],
            registry=r)
        self.responses_applied = Counter(
            "heatdesk_responses_applied_total", "Responses by what route did with them", ["outcome"], registry=r)
        self.open_cases = Gauge(
            "heatdesk_open_cases", "Cases not yet resolved", ["department"], registry=r)
        self.consumer_lag = Gauge(
            "heatdesk_consumer_lag", "Records behind the partition end, summed per topic",
            ["group", "topic"], registry=r)
        self.batch_duration = Histogram(
            "heatdesk_batch_duration_seconds", "Time to process one polled batch until its offsets are committed",
            ["group"], buckets=PIPELINE_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "heatdesk_batch_records", "Records per polled batch", ["group"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000), registry=r)
        self.records_consumed = Counter(
            "heatdesk_records_consumed_total", "Records consumed", ["group", "topic"], registry=r)
        self.batch_retries = Counter(
            "heatdesk_batch_retries_total", "Batches retried after a retriable error", ["group"], registry=r)
        self.deadletters = Counter(
            "heatdesk_deadletter_total", "Records sent to deadletter.v1", ["stage", "reason"], registry=r)
        self.outbox_published = Counter(
            "heatdesk_outbox_published_total", "Outbox rows published to Kafka", ["topic"], registry=r)
        # notify: SLA steps, response figures, delivery and crisis (issue 6)
        self.next_response = Histogram(
            "heatdesk_next_response_seconds", "Customer's follow-up to the brand's next human reply (business time)",
            ["department", "channel", "priority"], buckets=RESPONSE_BUCKETS, registry=r)
        self.sla_clocks_ended = Counter(
            "heatdesk_sla_clocks_ended_total", "SLA clocks that ended: answered/resolved in time (met), late "
            "(breached) or moot (cancelled)", ["department", "priority", "kind", "outcome"], registry=r)
        self.sla_corrections = Counter(
            "heatdesk_sla_corrections_total", "Stopped clocks measured again after a late event (an earlier reply "
            "or first post): while settling (the figures recorded are the corrected ones) or late (after they were "
            "recorded)", ["kind", "when"], registry=r)
        self.sla_escalations = Counter(
            "heatdesk_sla_escalations_total", "Escalation steps fired, by chain step", ["department", "kind", "step"],
            registry=r)
        self.sla_actions = Counter(
            "heatdesk_sla_actions_total", "Time-based rule steps fired (reassign, escalate, notify, autoclose)",
            ["department", "action"], registry=r)
        self.response_rate = Gauge(
            "heatdesk_response_rate", "Share of the cases opened in the last 7 days (event time) that got a human "
            "response", ["department"], registry=r)
        self.sla_open_clocks = Gauge(
            "heatdesk_sla_open_clocks", "SLA clocks not stopped, by kind and state", ["kind", "state"], registry=r)
        self.notifications_undeliverable = Gauge(
            "heatdesk_notifications_undeliverable", "Notifications marked failed (the dead letter), by target kind",
            ["target"], registry=r)
        self.sla_policy_reloads = Counter(
            "heatdesk_sla_policy_reloads_total", "SLA policies file changes, applied or refused", ["outcome"], registry=r)
        self.crisis_alerts = Counter(
            "heatdesk_crisis_alerts_total", "Crisis episodes opened (PR paged)", ["scope"], registry=r)


class Children:
    """The children of one labelled metric, each looked up once per label values and kept.

    `labels()` validates its arguments and takes a lock on every call (0.8-1.4 us); the paths
    that touch a metric once per post or record call this instead. Label values are bounded,
    so the cache is too.
    """

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
