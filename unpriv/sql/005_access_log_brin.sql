-- access_log only grows, and in time order: a BRIN index on `at` serves
-- time-range queries over it (a day's reads, what to delete after N days)
-- at a small part of what a btree costs on every insert, which the
-- broker makes once per credential read.  Reads of one connection keep
-- their btree (connection, at).
DROP INDEX access_log_at;
CREATE INDEX access_log_at_brin ON access_log USING brin (at);
