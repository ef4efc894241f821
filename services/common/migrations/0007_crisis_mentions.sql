-- One row per negative mention instead of one per key it counts under (brand/all, the brand
-- handles, each product, the topic: about three), each carrying the same excerpt. The row is
-- what dedupes a redelivered mention (its keys derive from the classified event) and what an
-- alert quotes; the windows read crisis_counts (0005). The per-key rows made the hit insert
-- the costliest statement of a benchmark burst.
CREATE TABLE crisis_mentions (
    mention_id uuid        PRIMARY KEY,
    created_at timestamptz NOT NULL,
    channel    text        NOT NULL,
    followers  integer     NOT NULL DEFAULT 0,
    score      real        NOT NULL DEFAULT 0,
    excerpt    text        NOT NULL,
    url        text,
    scopes     text[]      NOT NULL,  -- scopes[i], keys[i]: the i-th key the mention counts under
    keys       text[]      NOT NULL,
    CHECK (cardinality(scopes) = cardinality(keys))
);
CREATE INDEX crisis_mentions_created ON crisis_mentions (created_at);

INSERT INTO crisis_mentions (mention_id, created_at, channel, followers, score, excerpt, url, scopes, keys)
SELECT mention_id, min(created_at), min(channel), max(followers), max(score), min(excerpt), min(url),
       array_agg(scope ORDER BY scope, key), array_agg(key ORDER BY scope, key)
  FROM crisis_hits GROUP BY mention_id;

DROP TABLE crisis_hits;
