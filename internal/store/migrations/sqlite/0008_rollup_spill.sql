-- Aggregation's per-event state beyond what it holds in memory: the
-- oldest event ids (by arrival hour) and viewer-days (by day) move here
-- when the tables in memory reach their limit. Keys are 64-bit hashes;
-- nothing here names anyone.
CREATE TABLE rollup_seen_spill (
	key  INTEGER PRIMARY KEY,
	hour BIGINT NOT NULL
);
CREATE INDEX rollup_seen_spill_hour ON rollup_seen_spill(hour);
CREATE TABLE rollup_viewer_spill (
	key INTEGER PRIMARY KEY,
	day BIGINT NOT NULL,
	val BIGINT NOT NULL
);
CREATE INDEX rollup_viewer_spill_day ON rollup_viewer_spill(day);
