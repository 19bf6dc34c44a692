-- Crowd's schema. Times are Unix microseconds (BIGINT) so both dialects
-- store them the same way; days and hours are Unix days and hours, UTC
-- (internal/period), months year * 12 + month - 1. Changes to this schema
-- come as further numbered files, never as edits to this one.

-- Core domain: accounts, credentials, videos, engagement state, messages,
-- the privacy policy and the transactional outbox.

-- read_receipts: whether the senders of direct messages to this account
-- may see when it opened them (1) or not (0, the default).
-- seq: the change number of the transaction that last wrote the row's
-- directory fields (see account_changes).
CREATE TABLE accounts (
	id                    TEXT PRIMARY KEY,
	handle                TEXT NOT NULL UNIQUE,
	display_name          TEXT NOT NULL DEFAULT '',
	password_hash         TEXT NOT NULL DEFAULT '',
	birth_date            TEXT NOT NULL DEFAULT '',
	gender                TEXT NOT NULL DEFAULT 'undisclosed',
	country               TEXT NOT NULL DEFAULT '',
	type                  TEXT NOT NULL DEFAULT 'personal',
	dm_policy             TEXT NOT NULL DEFAULT 'everyone',
	created_at            BIGINT NOT NULL,
	notifications_seen_at BIGINT NOT NULL DEFAULT 0,
	read_receipts         INTEGER NOT NULL DEFAULT 0,
	seq                   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX accounts_seq ON accounts(seq);

CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

-- last_used_at: when the token was last used (0: never), updated at most
-- once a minute per token, so operators can see which tokens are live
-- before revoking one.
CREATE TABLE service_tokens (
	id           TEXT PRIMARY KEY,
	token_hash   TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE apps (
	id         TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE INDEX apps_account ON apps(account_id);

CREATE TABLE follows (
	follower_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	followee_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at  BIGINT NOT NULL,
	PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows(followee_id, created_at);

CREATE TABLE videos (
	id         TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	title      TEXT NOT NULL,
	caption    TEXT NOT NULL DEFAULT '',
	hashtags   TEXT NOT NULL DEFAULT '[]',
	sound      TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX videos_owner ON videos(owner_id, created_at);

-- The owner and the co-creators who accepted (accepted_at: when; 0 for
-- the owner). Co-creators who have not accepted yet are in
-- video_invitations, so aggregation, account analytics, the activity feed
-- and public listings never see a pending one.
CREATE TABLE video_creators (
	video_id    TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	position    INTEGER NOT NULL,
	accepted_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (video_id, account_id)
);
CREATE INDEX video_creators_account ON video_creators(account_id, video_id);

CREATE TABLE video_invitations (
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	invited_at BIGINT NOT NULL,
	PRIMARY KEY (video_id, account_id)
);
CREATE INDEX video_invitations_account ON video_invitations(account_id, invited_at);

CREATE TABLE likes (
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (video_id, account_id)
);
CREATE INDEX likes_account ON likes(account_id);
CREATE INDEX likes_video_time ON likes(video_id, created_at);

CREATE TABLE saves (
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, video_id)
);
CREATE INDEX saves_video ON saves(video_id);

CREATE TABLE comments (
	id         TEXT PRIMARY KEY,
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	author_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	text       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX comments_video ON comments(video_id, created_at);
CREATE INDEX comments_author ON comments(author_id);

-- receipt: 1 when the message was opened while its recipient had read
-- receipts on. A sender sees opened_at only when receipt = 1 and the
-- recipient still has read receipts on.
CREATE TABLE messages (
	id           TEXT PRIMARY KEY,
	sender_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	recipient_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	video_id     TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	text         TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	opened_at    BIGINT NOT NULL DEFAULT 0,
	receipt      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_recipient ON messages(recipient_id, created_at);
CREATE INDEX messages_sender ON messages(sender_id, created_at);

CREATE TABLE privacy_policies (
	version      INTEGER PRIMARY KEY,
	text         TEXT NOT NULL,
	published_at BIGINT NOT NULL
);

-- The first privacy policy. Published at the epoch so that no account is
-- notified of it: every account accepted it when registering.
INSERT INTO privacy_policies (version, text, published_at) VALUES (1,
'Crowd shows creators the crowd, never the faces. Creators see how many people viewed, liked, commented on, shared and saved their videos, and aggregate audience numbers by age group, gender and country. Nobody (creators, co-creators, business accounts, third-party apps or anyone reading a public counter) can learn who shared, saved or viewed a video. Your birth date, gender and country are shown to nobody but you; they feed only aggregate numbers that are released with noise, after a delay, and only for large enough audiences. Likes and comments are public actions: a creator sees who liked and who commented. A direct message shows its sender to its recipient. Deleting your account deletes your private data; your anonymous contribution to numbers already published stays.',
0);

-- The outbox holds analytics events written in the same transaction as the
-- action that caused them; the relay moves them to the event log and deletes
-- them. Payloads are pseudonymized events: no account ids of viewers,
-- sharers or savers.
CREATE TABLE outbox (
	seq           BIGSERIAL PRIMARY KEY,
	partition_key TEXT NOT NULL,
	event_id      TEXT NOT NULL,
	payload       BYTEA NOT NULL
);

-- The account directory (internal/directory) holds what ingestion reads of
-- every account in memory and follows the changes any process makes.
-- Every transaction that writes accounts' directory fields (created,
-- synced) takes the next number from account_changes 'seq' and stamps it
-- on the rows (accounts.seq); the counter's row stays locked until it
-- commits, so transactions commit in the order of their numbers: a reader
-- that sees number n committed sees every change up to n.
--
-- account_tombstones records deleted accounts' ids with the number of the
-- deleting transaction, so other processes drop them from memory. A
-- tombstone lives 10 minutes (directory.TombstoneRetention); 'pruned' is
-- the highest number pruned, and a process that has not applied up to it
-- reloads the whole directory instead.
CREATE TABLE account_changes (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO account_changes (name, value) VALUES ('seq', 0), ('pruned', 0);

CREATE TABLE account_tombstones (
	seq BIGINT NOT NULL,
	id  TEXT NOT NULL,
	at  BIGINT NOT NULL,
	PRIMARY KEY (seq, id)
);
CREATE INDEX account_tombstones_at ON account_tombstones(at);

-- Settings of the instance that must survive restarts and be checked at
-- start: the disclosure mode the data was last served in ("disclosure").
CREATE TABLE instance_settings (
	name       TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Every change of the disclosure mode, with whether the operator forced a
-- switch to exact after protected numbers were released
-- (--allow-exact-after-protected).
CREATE TABLE disclosure_changes (
	seq        BIGSERIAL PRIMARY KEY,
	changed_at BIGINT NOT NULL,
	from_mode  TEXT NOT NULL, -- '' for the first mode recorded
	to_mode    TEXT NOT NULL,
	forced     INTEGER NOT NULL
);

-- Aggregation (internal/rollup). Nothing here holds an account id of a
-- viewer, sharer or saver: actors are keyed pseudonyms, and the per-event
-- state is kept as 64-bit hashes.

-- The checkpoint of each event-log partition ("p<partition>"): the last
-- log sequence whose events of that partition are applied. It commits in
-- the same transaction as the rollups it produced.
CREATE TABLE rollup_checkpoint (
	name TEXT PRIMARY KEY,
	seq  BIGINT NOT NULL
);

-- Aggregation's per-event state (event ids seen within the dedupe window,
-- viewer-days) lives in memory; each applied batch writes its changes to
-- the journal, in the transaction that commits the batch and the
-- checkpoints, so the state can be rebuilt exactly on start. Each
-- aggregator applies the event log's partitions it owns, and writes one
-- row per batch naming them (parts: a bitmap, bit p of byte p/8 for
-- partition p; empty for all partitions). Two aggregators of disjoint
-- partitions may end a batch at the same sequence (a message of single
-- events holds events of every partition), hence the key. Keys in seen and
-- viewers are 64-bit hashes of event ids and of (video, day, daily viewer
-- pseudonym): nothing names anyone.
CREATE TABLE rollup_journal (
	seq     BIGINT NOT NULL,
	parts   BYTEA NOT NULL,
	at      BIGINT NOT NULL,
	seen    BYTEA NOT NULL,
	viewers BYTEA NOT NULL,
	PRIMARY KEY (seq, parts)
);
CREATE INDEX rollup_journal_at ON rollup_journal(at);

-- The per-event state beyond what aggregation holds in memory: the oldest
-- event ids (by arrival hour) and viewer-days (by day) move here when the
-- tables in memory reach their limit. Keys are 64-bit hashes.
CREATE TABLE rollup_seen_spill (
	key  BIGINT PRIMARY KEY,
	hour BIGINT NOT NULL
);
CREATE INDEX rollup_seen_spill_hour ON rollup_seen_spill(hour);
CREATE TABLE rollup_viewer_spill (
	key BIGINT PRIMARY KEY,
	day BIGINT NOT NULL,
	val BIGINT NOT NULL
);
CREATE INDEX rollup_viewer_spill_day ON rollup_viewer_spill(day);

-- Snapshots of aggregation's in-memory state (internal/rollup/snapshot.go),
-- so that a start loads them and replays only the journal written since,
-- instead of the whole journal. One snapshot per partition set (parts, as
-- in rollup_journal): the generation in use (gen), the format of its
-- chunks, the log sequence of every partition it reflects (seqs: 8-byte
-- little-endian, by partition), what the chunks hold (meta), how many
-- there are and the checksum of the whole. A new generation's chunks are
-- written first, in transactions of their own; a last transaction points
-- this row at it and deletes the old chunks, so a crash at any moment
-- leaves the previous snapshot whole. Keys are 64-bit hashes, as in the
-- journal.
CREATE TABLE rollup_snapshot (
	parts    BYTEA NOT NULL PRIMARY KEY,
	gen      BIGINT NOT NULL,
	format   INTEGER NOT NULL,
	seqs     BYTEA NOT NULL,
	meta     BYTEA NOT NULL,
	chunks   INTEGER NOT NULL,
	checksum BIGINT NOT NULL,
	at       BIGINT NOT NULL
);
CREATE TABLE rollup_snapshot_chunks (
	parts    BYTEA NOT NULL,
	gen      BIGINT NOT NULL,
	n        INTEGER NOT NULL,
	checksum BIGINT NOT NULL,
	data     BYTEA NOT NULL,
	PRIMARY KEY (parts, gen, n)
);

-- Days of per-viewer aggregation state. A day's viewer-day state (in
-- memory, the journal and the spill) and its per-account daily counts are
-- kept while the day is open, and dropped once its viewer salt is destroyed
-- (closed_seq: the event log's last sequence then) and aggregation has
-- applied the log up to that sequence: no event of the day can come after.
-- first_at is the time of the oldest journal row that may hold the day's
-- state, which holds back journal compaction while the day is kept.
CREATE TABLE rollup_days (
	day        BIGINT NOT NULL PRIMARY KEY,
	first_at   BIGINT NOT NULL,
	closed_seq BIGINT
);

-- Public counters per video. Counters here and below are signed deltas
-- summed by aggregation: likes, comments and saves net of their undo
-- events.
CREATE TABLE video_totals (
	video_id TEXT PRIMARY KEY,
	views    BIGINT NOT NULL DEFAULT 0,
	likes    BIGINT NOT NULL DEFAULT 0,
	comments BIGINT NOT NULL DEFAULT 0,
	shares   BIGINT NOT NULL DEFAULT 0,
	saves    BIGINT NOT NULL DEFAULT 0
);

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
	-- of their first share or save, within a per-account daily cap.
	p_views       BIGINT NOT NULL DEFAULT 0,
	p_completions BIGINT NOT NULL DEFAULT 0,
	p_watch_ms    BIGINT NOT NULL DEFAULT 0,
	sharers       BIGINT NOT NULL DEFAULT 0,
	savers        BIGINT NOT NULL DEFAULT 0,
	-- Exact mode only: how many of the day's viewers viewed the video
	-- again on a later day (within 364 days).
	viewers_back  BIGINT NOT NULL DEFAULT 0,
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
	-- Bounded contributions, as in video_day.
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

-- Monthly sums of the audience marginals, so a year's breakdown reads a
-- dozen months instead of 365 days.
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

-- Counted first shares and saves per cap key (creator_day: the account-day
-- pseudonym; docs/PRIVACY.md, "The daily cap is per account, across all
-- videos") and kind.
CREATE TABLE creator_day_counts (
	creator_day TEXT NOT NULL,
	kind        TEXT NOT NULL,
	day         BIGINT NOT NULL,
	n           BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (creator_day, kind)
);

-- Exact mode only: the days each viewer (the keyed pseudonym of account and
-- video) viewed a video, as sorted 4-byte little-endian Unix days.
CREATE TABLE viewer_history (
	video_id TEXT NOT NULL,
	actor    TEXT NOT NULL,
	days     BYTEA NOT NULL,
	PRIMARY KEY (video_id, actor)
);

-- Exact mode only (rollup/viewers.go): per video and day, how many of the
-- day's viewers had viewed the video before, by how many days before (gap,
-- 1 to 364), as cumulative counts: 6-byte records (gap uint16, viewers with
-- a gap up to it uint32), little-endian, by gap.
CREATE TABLE video_viewer_gaps (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	gaps     BYTEA NOT NULL,
	PRIMARY KEY (video_id, day)
);

-- Released cells (protected mode): one noisy number per subject, metric,
-- bucket and period, computed once when its period has closed plus the
-- release delay, and never changed. Stored with what produced it, so an
-- audit can recompute it.
CREATE TABLE cells (
	subject        TEXT NOT NULL,   -- "video:<id>" or "account:<id>"
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
);
