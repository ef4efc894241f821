-- A brand reply to a post Heatdesk has not seen waits for that post (route applies it when
-- the post is routed). After HEATDESK_ROUTE_REPLY_WAIT_S it is matched once more by its
-- conversation or customer, and `waited_until` records that this was tried, so the sweep
-- never reads the same reply twice.
ALTER TABLE responses ADD COLUMN waited_until timestamptz;
CREATE INDEX responses_waiting ON responses (received_at) WHERE case_id IS NULL AND waited_until IS NULL;
