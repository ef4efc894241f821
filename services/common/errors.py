"""One error hierarchy for every Heatdesk service.

Each error says whether trying again can help (`retriable`), so retry loops read one flag
instead of matching exception types, and its docstring tells the operator what to do.
"""

from __future__ import annotations


class HeatdeskError(Exception):
    """Base of every error Heatdesk raises on purpose."""

    retriable: bool = False


class ConfigError(HeatdeskError):
    """A setting is missing or malformed.

    Fix the named environment variable (see docs/reference/settings.md) and
    restart the service; retrying without a change cannot help.
    """


class DependencyUnavailable(HeatdeskError):
    """The broker or the database did not answer in time.

    The service backs off and retries by itself and reports not-ready meanwhile; if it
    persists, check the broker/database address, credentials and network policy.
    """

    retriable = True


class PublishFailed(DependencyUnavailable):
    """The broker did not acknowledge a record.

    Nothing was committed for the input that produced it, so it is processed again once the
    broker answers. Ingest answers 503 with Retry-After meanwhile.
    """


class RecordRejected(HeatdeskError):
    """The broker refused a record for what it is (too large, invalid), not for being down.

    Retrying the same record cannot help. A consumer dead-letters the input that produced it;
    ingest answers 413. Raise the broker's `message.max.bytes` or shrink the payload.
    """


class ProducerFencedOut(HeatdeskError):
    """Another process started with this process's transactional id, so the broker fenced this one.

    With exactly-once on, each classify process owns one transactional id (from its static
    member id: the pod name). A newer process with the same id means this one is a zombie
    (a pod that was presumed dead); it stops, and its open transaction was aborted. If two
    live processes share an id, give each its own HEATDESK_KAFKA_GROUP_INSTANCE_ID.
    """


class InvalidInput(HeatdeskError):
    """Input from outside (an HTTP body, a CLI argument) failed validation.

    The caller gets the precise field errors; nothing was written or published.
    """

    def __init__(self, title: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(title)
        self.title = title
        self.errors = errors or []


#: Every `PoisonRecord.reason` a service raises: the `reason` label of `heatdesk_deadletter_total`.
#: Consumers export each at zero from the start, so the first dead letter of a kind is an
#: increase that `increase()` - and the HeatdeskDeadLettersGrowing alert - can see.
DEADLETTER_REASONS = (
    "missing_header", "bad_header", "unsupported_specversion", "unsupported_type",  # the CloudEvent envelope
    "empty_body", "invalid_json", "invalid_body",                                   # the body
    "schema_violation", "unknown_department",                                      # the event's data
    "output_rejected", "processing_error",                                         # what the handler made of it
    "unfetched_mention",                                                           # ingest: a post known by id only
)


class PoisonRecord(HeatdeskError):
    """A record on a topic cannot be processed now or ever (bad JSON, wrong schema version).

    It is written to `deadletter.v1` with this reason and the partition moves on. Inspect
    the dead letter, fix the producer, and re-publish the corrected record.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
