-- Days of per-viewer aggregation state. A day's viewer-day state (in
-- memory, the journal and the spill) and its per-creator daily counts are
-- kept while the day is open, and dropped once its viewer salt is destroyed
-- (closed_seq: the event log's last sequence then) and aggregation has
-- applied the log up to that sequence: no event of the day can come after.
-- first_at is the time of the oldest journal row that may hold the day's
-- state, which holds back journal compaction while the day is kept.
CREATE TABLE rollup_days (
	day        BIGINT NOT NULL PRIMARY KEY,
	first_at   BIGINT NOT NULL,
	closed_seq BIGINT
) WITHOUT ROWID;

-- Exact mode only: the days each viewer (the keyed pseudonym of account and
-- video) viewed a video, as sorted 4-byte little-endian Unix days.
CREATE TABLE viewer_history (
	video_id TEXT NOT NULL,
	actor    TEXT NOT NULL,
	days     BLOB NOT NULL,
	PRIMARY KEY (video_id, actor)
) WITHOUT ROWID;

-- Exact mode only (rollup/viewers.go): per video and day, how many of the
-- day's viewers had viewed the video before, by how many days before (gap,
-- 1 to 364), as cumulative counts: 6-byte records (gap uint16, viewers with
-- a gap up to it uint32), little-endian, by gap.
CREATE TABLE video_viewer_gaps (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	gaps     BLOB NOT NULL,
	PRIMARY KEY (video_id, day)
) WITHOUT ROWID;

-- Exact mode only: how many of the day's viewers viewed the video again on
-- a later day (within 364 days).
ALTER TABLE video_day ADD COLUMN viewers_back BIGINT NOT NULL DEFAULT 0;
