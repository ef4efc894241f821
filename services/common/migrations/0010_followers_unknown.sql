-- A platform that sends no follower count (Meta, email, most replays) is "unknown", not
-- zero: rules such as "followers under 100" must not fire for a page with a million fans.
-- NULL now means unknown. A later post with a count fills it in; a post without one keeps
-- the count already known. Rows written before this migration keep their 0.
ALTER TABLE authors ALTER COLUMN followers DROP NOT NULL, ALTER COLUMN followers DROP DEFAULT;
