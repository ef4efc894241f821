-- Outbox rows live for milliseconds (written, published, deleted), yet a routed event with its
-- CloudEvents headers is a little over 2 kB, PostgreSQL's default TOAST threshold: every such
-- row was pglz-compressed (and often moved out of line) on insert only to be deleted at once.
-- Measured on the benchmark machine: 65-80 us of PostgreSQL CPU per 2.6 kB row against 12-18
-- us with the row kept inline. Rows up to a page's worth now stay inline and uncompressed;
-- larger ones are still toasted as before.
ALTER TABLE outbox SET (toast_tuple_target = 8160);
