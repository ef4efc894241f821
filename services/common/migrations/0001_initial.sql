-- Heatdesk initial schema: the case store (route), SLA timers and notifications (notify),
-- and the transactional outbox both use to publish what they commit.

CREATE TABLE authors (
    id            bigserial PRIMARY KEY,
    channel       text        NOT NULL,
    external_id   text        NOT NULL,
    handle        text,
    display_name  text,
    followers     integer     NOT NULL DEFAULT 0,
    verified      boolean     NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);

CREATE TABLE cases (
    id                    uuid PRIMARY KEY,
    status                text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
    department            text        NOT NULL,
    priority              text        NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
    priority_score        integer     NOT NULL CHECK (priority_score BETWEEN 0 AND 100),
    channel               text        NOT NULL,
    author_id             bigint      NOT NULL REFERENCES authors (id),
    conversation_key      text        NOT NULL,
    sla_policy            text        NOT NULL,
    opened_at             timestamptz NOT NULL,  -- event time: the customer's first post
    last_mention_at       timestamptz NOT NULL,
    first_response_due_at timestamptz,
    first_response_at     timestamptz,
    resolved_at           timestamptz,
    mention_count         integer     NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_open_conversation ON cases (conversation_key) WHERE status <> 'resolved';
CREATE INDEX cases_department_status ON cases (department, status);

CREATE TABLE mentions (
    id              uuid PRIMARY KEY,  -- deterministic from (channel, external_id)
    case_id         uuid        NOT NULL REFERENCES cases (id),
    channel         text        NOT NULL,
    external_id     text        NOT NULL,
    conversation_id text,
    in_reply_to     text,
    author_id       bigint      NOT NULL REFERENCES authors (id),
    text            text        NOT NULL,
    language        text,
    url             text,
    created_at      timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    routed_at       timestamptz NOT NULL DEFAULT now(),
    classification  jsonb       NOT NULL,
    raw             jsonb,
    UNIQUE (channel, external_id)
);
CREATE INDEX mentions_case ON mentions (case_id);

CREATE TABLE case_events (
    seq         bigserial PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    case_id     uuid        NOT NULL REFERENCES cases (id),
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case ON case_events (case_id, seq);

-- Rows are written in the same transaction as the state they announce, then published;
-- a crash between commit and publish is repaired by the relay sweeping unpublished rows.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    producer     text        NOT NULL,
    topic        text        NOT NULL,
    key          text,
    headers      jsonb       NOT NULL,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (producer, id) WHERE published_at IS NULL;

CREATE TABLE sla_timers (
    case_id    uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('first_response', 'next_response', 'resolution')),
    department text        NOT NULL,
    priority   text        NOT NULL,
    channel    text        NOT NULL,
    started_at timestamptz NOT NULL,
    due_at     timestamptz NOT NULL,
    state      text        NOT NULL DEFAULT 'armed' CHECK (state IN ('armed', 'fired', 'stopped')),
    fired_at   timestamptz,
    stopped_at timestamptz,
    PRIMARY KEY (case_id, kind)
);
-- The scanner reads only armed timers in due order: cost follows due rows, not open timers.
CREATE INDEX sla_timers_due ON sla_timers (due_at) WHERE state = 'armed';

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    case_id         uuid        NOT NULL,
    timer_kind      text        NOT NULL,
    threshold       text        NOT NULL,
    target          text        NOT NULL,  -- which sender: webhook, email
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (case_id, timer_kind, threshold, target)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
