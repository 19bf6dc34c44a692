-- Aggregation state. The checkpoint is the last event-log sequence whose
-- events are applied; it commits in the same transaction as the rollups it
-- produced. seen_events deduplicates events by id (for the dedupe window).
-- Nothing here holds an account id.
CREATE TABLE rollup_checkpoint (
	name TEXT PRIMARY KEY,
	seq  BIGINT NOT NULL
);

CREATE TABLE seen_events (
	event_id TEXT PRIMARY KEY,
	seen_at  BIGINT NOT NULL
);
CREATE INDEX seen_events_time ON seen_events(seen_at);

CREATE TABLE video_totals (
	video_id TEXT PRIMARY KEY,
	views    BIGINT NOT NULL DEFAULT 0,
	likes    BIGINT NOT NULL DEFAULT 0,
	comments BIGINT NOT NULL DEFAULT 0,
	shares   BIGINT NOT NULL DEFAULT 0,
	saves    BIGINT NOT NULL DEFAULT 0
);
