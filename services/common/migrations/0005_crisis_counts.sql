-- Crisis windows are read from per-minute counts, not by counting every hit. The baseline
-- spans a day: counting a day of hits per key for every batch grew with traffic (a brand at
-- 100 negative mentions a second would count 8.6 million rows per key per batch); a key now
-- reads at most one row per minute of window and baseline. crisis_hits stays: it dedupes
-- redelivered mentions (the counts only ever add what a hit insert really added) and holds
-- the examples an alert quotes.
CREATE TABLE crisis_counts (
    scope  text        NOT NULL,
    key    text        NOT NULL,
    minute timestamptz NOT NULL,  -- the hits' event time, truncated to the minute (UTC)
    n      integer     NOT NULL CHECK (n > 0),
    PRIMARY KEY (scope, key, minute)
);

INSERT INTO crisis_counts (scope, key, minute, n)
SELECT scope, key, date_trunc('minute', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
  FROM crisis_hits GROUP BY 1, 2, 3;
