-- notify: SLA clocks with cycles, pauses and steps; the per-case SLA state; fired steps
-- (the exactly-once key of every warning, breach and escalation); event dedupe; event-time
-- watermarks; shared per-target rate limits; crisis windows and episodes.

-- sla_timers: one row per (case, clock, cycle). A reopened case or a customer follow-up
-- starts a new cycle, so earlier figures are never rewritten.
ALTER TABLE sla_timers DROP CONSTRAINT sla_timers_pkey;
ALTER TABLE sla_timers ADD COLUMN cycle integer NOT NULL DEFAULT 0;
ALTER TABLE sla_timers ADD PRIMARY KEY (case_id, kind, cycle);
ALTER TABLE sla_timers DROP CONSTRAINT sla_timers_kind_check;
ALTER TABLE sla_timers ADD CONSTRAINT sla_timers_kind_check
    CHECK (kind IN ('first_response', 'next_response', 'resolution', 'autoclose'));
ALTER TABLE sla_timers DROP CONSTRAINT sla_timers_state_check;
-- armed: running, steps still to fire (due_at = the next one); fired: running, every step
-- fired; paused: waiting on the customer; stopped: answered, resolved or moot.
ALTER TABLE sla_timers ADD CONSTRAINT sla_timers_state_check
    CHECK (state IN ('armed', 'fired', 'paused', 'stopped'));
ALTER TABLE sla_timers ALTER COLUMN due_at DROP NOT NULL;
ALTER TABLE sla_timers
    ADD COLUMN policy         text,
    ADD COLUMN target_s       double precision,
    ADD COLUMN elapsed_s      double precision NOT NULL DEFAULT 0,  -- business seconds before resumed_at
    ADD COLUMN resumed_at     timestamptz,                          -- running since (NULL: paused/stopped)
    ADD COLUMN last_change_at timestamptz,
    ADD COLUMN breach_at      timestamptz,
    ADD COLUMN steps          jsonb       NOT NULL DEFAULT '[]',    -- [{name, offset_s, at, level, notify, action}]
    ADD COLUMN fired          text[]      NOT NULL DEFAULT '{}',    -- names of the steps already fired
    ADD COLUMN outcome        text CHECK (outcome IN ('met', 'breached', 'cancelled')),
    ADD COLUMN latency_s      double precision,                     -- business seconds when stopped
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();

-- Open clocks by kind and state (the gauge) without reading the stopped history.
CREATE INDEX sla_timers_active ON sla_timers (kind, state) WHERE state <> 'stopped';

-- Timers armed before this migration keep their one breach step.
UPDATE sla_timers
   SET target_s = extract(epoch FROM due_at - started_at), resumed_at = started_at, last_change_at = started_at,
       breach_at = due_at, policy = 'default',
       steps = jsonb_build_array(jsonb_build_object(
           'name', 'breach', 'offset_s', extract(epoch FROM due_at - started_at), 'at', to_jsonb(due_at),
           'level', 'breach', 'notify', jsonb_build_array('team_lead'), 'action', NULL)),
       fired = CASE WHEN state = 'fired' THEN ARRAY['breach'] ELSE '{}' END;

-- The SLA view of each case notify has seen (route owns `cases`; this is notify's own state).
CREATE TABLE sla_cases (
    case_id               uuid PRIMARY KEY,
    status                text        NOT NULL CHECK (status IN ('open', 'pending', 'resolved')),
    policy                text        NOT NULL,
    priority              text        NOT NULL,
    department            text        NOT NULL,
    channel               text        NOT NULL,
    public                boolean,
    tags                  text[]      NOT NULL DEFAULT '{}',
    opened_at             timestamptz NOT NULL,
    first_response_due_at timestamptz,
    first_responded       boolean     NOT NULL DEFAULT false,
    cycles                jsonb       NOT NULL DEFAULT '{}',
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sla_cases_opened ON sla_cases (opened_at);
CREATE INDEX sla_cases_open ON sla_cases (department) WHERE status <> 'resolved';

-- One row per step that fired: the unique key that makes each warning, breach, escalation
-- and rule fire once in effect, however many replicas scan and however often a clock moves.
CREATE TABLE sla_steps (
    case_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    cycle       integer     NOT NULL,
    step        text        NOT NULL,
    level       text        NOT NULL,
    due_at      timestamptz NOT NULL,
    fired_at    timestamptz NOT NULL,
    event_id    text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, kind, cycle, step)
);

-- Case events already applied (by CloudEvent id): a redelivered event changes nothing.
CREATE TABLE notify_events_seen (
    event_id text PRIMARY KEY,
    seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_events_seen_at ON notify_events_seen (seen_at);

-- Event-time mode: the newest event time per partition; the scanner's "now" is the
-- slowest active partition's, so a replay at any speed fires what live traffic fired.
CREATE TABLE notify_watermarks (
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    event_time timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Notifications: cycle and a dedupe key (case, clock, cycle, step, target), crisis alerts
-- without a case, and the key as the Idempotency-Key receivers see.
ALTER TABLE notifications ADD COLUMN cycle integer NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN dedupe_key text;
UPDATE notifications SET dedupe_key = case_id::text || ':' || timer_kind || ':0:' || threshold || ':' || target;
ALTER TABLE notifications ALTER COLUMN dedupe_key SET NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_dedupe_key UNIQUE (dedupe_key);
ALTER TABLE notifications DROP CONSTRAINT notifications_case_id_timer_kind_threshold_target_key;
ALTER TABLE notifications ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN category text NOT NULL DEFAULT 'sla' CHECK (category IN ('sla', 'crisis'));
CREATE INDEX notifications_failed ON notifications (target) WHERE status = 'failed';

-- Per-target rate limits shared by every replica: sends per target per fixed window.
CREATE TABLE notify_rate (
    target       text        NOT NULL,
    window_start timestamptz NOT NULL,
    sent         integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (target, window_start)
);

-- Crisis detection: negative mentions per scope (brand, product, topic) and key, kept for
-- the baseline horizon; an episode per spike, at most one open per (scope, key).
CREATE TABLE crisis_hits (
    scope      text        NOT NULL,
    key        text        NOT NULL,
    mention_id uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    channel    text        NOT NULL,
    followers  integer     NOT NULL DEFAULT 0,
    score      real        NOT NULL DEFAULT 0,
    excerpt    text        NOT NULL,
    url        text,
    PRIMARY KEY (scope, key, mention_id)
);
CREATE INDEX crisis_hits_window ON crisis_hits (scope, key, created_at);
CREATE INDEX crisis_hits_created ON crisis_hits (created_at);

CREATE TABLE crisis_episodes (
    id           bigserial PRIMARY KEY,
    scope        text        NOT NULL,
    key          text        NOT NULL,
    started_at   timestamptz NOT NULL,
    last_hot_at  timestamptz NOT NULL,
    peak_count   integer     NOT NULL,
    baseline     double precision NOT NULL,
    examples     jsonb       NOT NULL,
    ended_at     timestamptz
);
CREATE UNIQUE INDEX crisis_episodes_open ON crisis_episodes (scope, key) WHERE ended_at IS NULL;
