-- Updates in place (HOT: heap-only tuples) for the rows every mention rewrites.
--
-- Each routed mention updates its case (last_mention_at, counts, flags) and its author
-- (followers), and notify upserts the case's SLA row and clocks. An update is HOT, and writes
-- no index entry, only when no indexed column changes and the row's page has room for the new
-- version. Two things stopped that:
-- 1. cases_person_recent indexed last_mention_at, which every mention changes, so every case
--    update wrote an entry into each of the table's seven indexes (a GIN one among them).
--    Nothing reads the index's order: route looks cases up by person with conditions on
--    last_mention_at, resolved_at and status joined by OR, and the reply matcher orders by an
--    expression; a person has a handful of cases, so an index on person_id serves them alike.
-- 2. Pages were filled to 100 %, so the new version went to another page even when no indexed
--    column changed. 20 % is now left free on each page of these four tables.
-- Measured on the benchmark machine (services/route/store.write_cases, 3,000 cases updated six
-- times): 23.3-23.9 us of PostgreSQL CPU per case update before, 18.9-19.4 us after.
-- The fill factor applies to pages written from now on; existing pages fill as they are reused.
DROP INDEX cases_person_recent;
CREATE INDEX cases_person ON cases (person_id);
ALTER TABLE cases SET (fillfactor = 80);
ALTER TABLE authors SET (fillfactor = 80);
ALTER TABLE sla_cases SET (fillfactor = 80);
ALTER TABLE sla_timers SET (fillfactor = 80);
