-- Analytics rollups. Hours are Unix hours (seconds / 3600), days Unix days
-- (seconds / 86400), both UTC. Counters are signed deltas summed by
-- aggregation: likes, comments and saves net of their undo events. Nothing
-- here holds an account id of a viewer, sharer or saver: viewer_days keys on
-- the daily-salted pseudonym, actor_firsts on the keyed one.

-- Per video and hour, kept for the recent hours only (the hourly chart);
-- older hours live on in video_day.
CREATE TABLE video_hour (
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
);

-- Per video and day: the daily series and every range total.
CREATE TABLE video_day (
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
);

-- One-way marginals of views and viewers by traffic source, age band,
-- gender and country, per video and day. Shares and saves are never broken
-- down.
CREATE TABLE video_dim_day (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	dim      TEXT NOT NULL,
	bucket   TEXT NOT NULL,
	views    BIGINT NOT NULL DEFAULT 0,
	viewers  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, day, dim, bucket)
);

-- The same per creator account (every creator of a video gets its numbers),
-- plus followers gained and lost.
CREATE TABLE account_hour (
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
);

CREATE TABLE account_day (
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
);

CREATE TABLE account_dim_day (
	account_id TEXT NOT NULL,
	day        BIGINT NOT NULL,
	dim        TEXT NOT NULL,
	bucket     TEXT NOT NULL,
	views      BIGINT NOT NULL DEFAULT 0,
	viewers    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, day, dim, bucket)
);

-- Distinct viewers: one row per (video, day, daily viewer pseudonym) with
-- that viewer's views, for the per-viewer daily cap. Pruned once the day's
-- salt is destroyed, when nothing can be linked to it any more.
CREATE TABLE viewer_days (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	viewer   TEXT NOT NULL,
	views    BIGINT NOT NULL DEFAULT 0,
	completions BIGINT NOT NULL DEFAULT 0,
	watch_ms BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, day, viewer)
);

-- The current like and save state of each (video, actor pseudonym), so
-- likes and saves count the current state whatever the platform sends:
-- a second like without an unlike in between changes nothing.
CREATE TABLE actor_state (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	state    INTEGER NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
);

-- First shares and saves of each (video, actor pseudonym), ever: a share or
-- a save counts once per account and video.
CREATE TABLE actor_firsts (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
);

-- Counted first shares and saves per (account, creator, day) pseudonym:
-- the cap against a friend who shares many of one creator's videos.
CREATE TABLE creator_day_counts (
	creator_day TEXT NOT NULL,
	kind        TEXT NOT NULL,
	day         BIGINT NOT NULL,
	n           BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (creator_day, kind)
);

-- Monthly sums of the audience marginals (month = year * 12 + month - 1),
-- so a year's breakdown reads a dozen months instead of 365 days.
CREATE TABLE video_dim_month (
	video_id TEXT NOT NULL,
	month    BIGINT NOT NULL,
	dim      TEXT NOT NULL,
	bucket   TEXT NOT NULL,
	views    BIGINT NOT NULL DEFAULT 0,
	viewers  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, month, dim, bucket)
);

CREATE TABLE account_dim_month (
	account_id TEXT NOT NULL,
	month      BIGINT NOT NULL,
	dim        TEXT NOT NULL,
	bucket     TEXT NOT NULL,
	views      BIGINT NOT NULL DEFAULT 0,
	viewers    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, month, dim, bucket)
);
