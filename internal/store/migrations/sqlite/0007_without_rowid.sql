-- Rollup tables become WITHOUT ROWID tables: their rows are small and
-- always found by their composite primary key, so storing them in the key's
-- B-tree halves what every upsert writes (a rowid table keeps the row and a
-- separate key index) and keeps each video's rows together for reads.
-- PostgreSQL has no counterpart (heap tables), so this migration is SQLite's
-- alone.

CREATE TABLE video_totals_new (
	video_id TEXT PRIMARY KEY,
	views    BIGINT NOT NULL DEFAULT 0,
	likes    BIGINT NOT NULL DEFAULT 0,
	comments BIGINT NOT NULL DEFAULT 0,
	shares   BIGINT NOT NULL DEFAULT 0,
	saves    BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO video_totals_new SELECT * FROM video_totals;
DROP TABLE video_totals;
ALTER TABLE video_totals_new RENAME TO video_totals;

CREATE TABLE video_hour_new (
	video_id    TEXT NOT NULL,
	hour        BIGINT NOT NULL,
	views       BIGINT NOT NULL DEFAULT 0,
	viewers     BIGINT NOT NULL DEFAULT 0,
	likes       BIGINT NOT NULL DEFAULT 0,
	comments    BIGINT NOT NULL DEFAULT 0,
	shares      BIGINT NOT NULL DEFAULT 0,
	saves       BIGINT NOT NULL DEFAULT 0,
	p_views     BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, hour)
) WITHOUT ROWID;
INSERT INTO video_hour_new SELECT * FROM video_hour;
DROP TABLE video_hour;
ALTER TABLE video_hour_new RENAME TO video_hour;

CREATE TABLE video_day_new (
	video_id    TEXT NOT NULL,
	day         BIGINT NOT NULL,
	views       BIGINT NOT NULL DEFAULT 0,
	viewers     BIGINT NOT NULL DEFAULT 0,
	watch_ms    BIGINT NOT NULL DEFAULT 0,
	completions BIGINT NOT NULL DEFAULT 0,
	likes       BIGINT NOT NULL DEFAULT 0,
	comments    BIGINT NOT NULL DEFAULT 0,
	shares      BIGINT NOT NULL DEFAULT 0,
	saves       BIGINT NOT NULL DEFAULT 0,
	-- Bounded contributions, for protected mode: views capped per viewer,
	-- video and day; one completion and capped watch time per viewer-day;
	-- sharers and savers counted once per account and video, in the period
	-- of their first share or save, within a per-creator daily cap.
	p_views       BIGINT NOT NULL DEFAULT 0,
	p_completions BIGINT NOT NULL DEFAULT 0,
	p_watch_ms    BIGINT NOT NULL DEFAULT 0,
	sharers       BIGINT NOT NULL DEFAULT 0,
	savers        BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, day)
) WITHOUT ROWID;
INSERT INTO video_day_new SELECT * FROM video_day;
DROP TABLE video_day;
ALTER TABLE video_day_new RENAME TO video_day;

CREATE TABLE video_dim_day_new (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	dim      TEXT NOT NULL,
	bucket   TEXT NOT NULL,
	views    BIGINT NOT NULL DEFAULT 0,
	viewers  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, day, dim, bucket)
) WITHOUT ROWID;
INSERT INTO video_dim_day_new SELECT * FROM video_dim_day;
DROP TABLE video_dim_day;
ALTER TABLE video_dim_day_new RENAME TO video_dim_day;

CREATE TABLE account_hour_new (
	account_id TEXT NOT NULL,
	hour       BIGINT NOT NULL,
	views      BIGINT NOT NULL DEFAULT 0,
	viewers    BIGINT NOT NULL DEFAULT 0,
	likes      BIGINT NOT NULL DEFAULT 0,
	comments   BIGINT NOT NULL DEFAULT 0,
	shares     BIGINT NOT NULL DEFAULT 0,
	saves      BIGINT NOT NULL DEFAULT 0,
	p_views    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, hour)
) WITHOUT ROWID;
INSERT INTO account_hour_new SELECT * FROM account_hour;
DROP TABLE account_hour;
ALTER TABLE account_hour_new RENAME TO account_hour;

CREATE TABLE account_day_new (
	account_id     TEXT NOT NULL,
	day            BIGINT NOT NULL,
	views          BIGINT NOT NULL DEFAULT 0,
	viewers        BIGINT NOT NULL DEFAULT 0,
	watch_ms       BIGINT NOT NULL DEFAULT 0,
	completions    BIGINT NOT NULL DEFAULT 0,
	likes          BIGINT NOT NULL DEFAULT 0,
	comments       BIGINT NOT NULL DEFAULT 0,
	shares         BIGINT NOT NULL DEFAULT 0,
	saves          BIGINT NOT NULL DEFAULT 0,
	followers_gained BIGINT NOT NULL DEFAULT 0,
	followers_lost   BIGINT NOT NULL DEFAULT 0,
	-- Bounded contributions, for protected mode: views capped per viewer,
	-- video and day; one completion and capped watch time per viewer-day;
	-- sharers and savers counted once per account and video, in the period
	-- of their first share or save, within a per-creator daily cap.
	p_views       BIGINT NOT NULL DEFAULT 0,
	p_completions BIGINT NOT NULL DEFAULT 0,
	p_watch_ms    BIGINT NOT NULL DEFAULT 0,
	sharers       BIGINT NOT NULL DEFAULT 0,
	savers        BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, day)
) WITHOUT ROWID;
INSERT INTO account_day_new SELECT * FROM account_day;
DROP TABLE account_day;
ALTER TABLE account_day_new RENAME TO account_day;

CREATE TABLE account_dim_day_new (
	account_id TEXT NOT NULL,
	day        BIGINT NOT NULL,
	dim        TEXT NOT NULL,
	bucket     TEXT NOT NULL,
	views      BIGINT NOT NULL DEFAULT 0,
	viewers    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, day, dim, bucket)
) WITHOUT ROWID;
INSERT INTO account_dim_day_new SELECT * FROM account_dim_day;
DROP TABLE account_dim_day;
ALTER TABLE account_dim_day_new RENAME TO account_dim_day;

CREATE TABLE video_dim_month_new (
	video_id TEXT NOT NULL,
	month    BIGINT NOT NULL,
	dim      TEXT NOT NULL,
	bucket   TEXT NOT NULL,
	views    BIGINT NOT NULL DEFAULT 0,
	viewers  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, month, dim, bucket)
) WITHOUT ROWID;
INSERT INTO video_dim_month_new SELECT * FROM video_dim_month;
DROP TABLE video_dim_month;
ALTER TABLE video_dim_month_new RENAME TO video_dim_month;

CREATE TABLE account_dim_month_new (
	account_id TEXT NOT NULL,
	month      BIGINT NOT NULL,
	dim        TEXT NOT NULL,
	bucket     TEXT NOT NULL,
	views      BIGINT NOT NULL DEFAULT 0,
	viewers    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, month, dim, bucket)
) WITHOUT ROWID;
INSERT INTO account_dim_month_new SELECT * FROM account_dim_month;
DROP TABLE account_dim_month;
ALTER TABLE account_dim_month_new RENAME TO account_dim_month;

CREATE TABLE actor_state_new (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	state    INTEGER NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
) WITHOUT ROWID;
INSERT INTO actor_state_new SELECT * FROM actor_state;
DROP TABLE actor_state;
ALTER TABLE actor_state_new RENAME TO actor_state;

CREATE TABLE actor_firsts_new (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
) WITHOUT ROWID;
INSERT INTO actor_firsts_new SELECT * FROM actor_firsts;
DROP TABLE actor_firsts;
ALTER TABLE actor_firsts_new RENAME TO actor_firsts;

CREATE TABLE creator_day_counts_new (
	creator_day TEXT NOT NULL,
	kind        TEXT NOT NULL,
	day         BIGINT NOT NULL,
	n           BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (creator_day, kind)
) WITHOUT ROWID;
INSERT INTO creator_day_counts_new SELECT * FROM creator_day_counts;
DROP TABLE creator_day_counts;
ALTER TABLE creator_day_counts_new RENAME TO creator_day_counts;

CREATE TABLE cells_new (
	subject        TEXT NOT NULL,   -- "video:<id>"
	granularity    TEXT NOT NULL,   -- day or hour
	period         BIGINT NOT NULL, -- Unix day or hour
	metric         TEXT NOT NULL,
	dim            TEXT NOT NULL,   -- '' for a total
	bucket         TEXT NOT NULL,   -- '' for a total
	value          BIGINT NOT NULL,
	mechanism      TEXT NOT NULL,
	eps_num        BIGINT NOT NULL,
	eps_den        BIGINT NOT NULL,
	sensitivity    BIGINT NOT NULL,
	kid            BIGINT NOT NULL,
	schema_version INTEGER NOT NULL,
	released_at    BIGINT NOT NULL,
	PRIMARY KEY (subject, granularity, period, metric, dim, bucket)
) WITHOUT ROWID;
INSERT INTO cells_new SELECT * FROM cells;
DROP TABLE cells;
ALTER TABLE cells_new RENAME TO cells;
