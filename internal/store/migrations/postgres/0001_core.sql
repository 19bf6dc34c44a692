-- Core domain: accounts, credentials, videos, engagement state, messages,
-- the privacy policy and the transactional outbox. Times are Unix
-- microseconds (BIGINT) so both dialects store them the same way.
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
	notifications_seen_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE service_tokens (
	id         TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
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

CREATE TABLE video_creators (
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	PRIMARY KEY (video_id, account_id)
);
CREATE INDEX video_creators_account ON video_creators(account_id, video_id);

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

CREATE TABLE messages (
	id           TEXT PRIMARY KEY,
	sender_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	recipient_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	video_id     TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	text         TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	opened_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_recipient ON messages(recipient_id, created_at);
CREATE INDEX messages_sender ON messages(sender_id, created_at);

CREATE TABLE privacy_policies (
	version      INTEGER PRIMARY KEY,
	text         TEXT NOT NULL,
	published_at BIGINT NOT NULL
);

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
