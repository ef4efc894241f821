-- Case API: assignment, and the indexes its keyset pagination walks.

ALTER TABLE cases
    ADD COLUMN assignee    text,
    ADD COLUMN assigned_at timestamptz;

-- Sort by SLA due time (then id) and by newest first, each a keyset walk.
CREATE INDEX cases_due_keyset ON cases (first_response_due_at, id);
CREATE INDEX cases_opened_keyset ON cases (opened_at DESC, id DESC);
CREATE INDEX cases_departments ON cases USING gin (departments);
