-- Route: people across channels, richer cases, responses, and the indexes batch routing needs.

-- One person behind several channel identities (an email address or handle shared).
ALTER TABLE authors ADD COLUMN person_id bigint;
UPDATE authors SET person_id = id;
ALTER TABLE authors ALTER COLUMN person_id SET NOT NULL;
CREATE INDEX authors_person ON authors (person_id);
CREATE INDEX authors_handle_key ON authors (lower(ltrim(handle, '@'))) WHERE handle IS NOT NULL;
CREATE INDEX authors_external_key ON authors (lower(external_id));

ALTER TABLE cases
    ADD COLUMN person_id         bigint,
    ADD COLUMN departments       text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN tags              text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN flags             text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN repeat_cases      integer NOT NULL DEFAULT 0,
    ADD COLUMN repeat_complaints integer NOT NULL DEFAULT 0,
    ADD COLUMN complaint_count   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_response_at  timestamptz,
    ADD COLUMN reopened_count    integer NOT NULL DEFAULT 0,
    ADD COLUMN public            boolean NOT NULL DEFAULT true;
UPDATE cases c SET person_id = a.person_id, departments = ARRAY[c.department] FROM authors a WHERE a.id = c.author_id;
ALTER TABLE cases ALTER COLUMN person_id SET NOT NULL;
CREATE INDEX cases_person_recent ON cases (person_id, last_mention_at DESC);

CREATE INDEX mentions_conversation ON mentions (channel, conversation_id) WHERE conversation_id IS NOT NULL;

-- Brand replies and resolutions; kept even when they match no case yet (the customer's post
-- may be routed after the answer arrives), and applied once it is.
CREATE TABLE responses (
    id              uuid PRIMARY KEY,
    case_id         uuid REFERENCES cases (id),
    kind            text        NOT NULL CHECK (kind IN ('reply', 'resolution', 'reopen')),
    channel         text        NOT NULL,
    external_id     text        NOT NULL,
    in_reply_to     text,
    conversation_id text,
    customer_id     text,
    author_id       text        NOT NULL,
    automated       boolean     NOT NULL DEFAULT false,
    public          boolean     NOT NULL DEFAULT true,
    text            text,
    created_at      timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    applied_at      timestamptz,
    raw             jsonb
);
CREATE INDEX responses_unmatched_reply ON responses (channel, in_reply_to) WHERE case_id IS NULL;
CREATE INDEX responses_case ON responses (case_id, created_at);
