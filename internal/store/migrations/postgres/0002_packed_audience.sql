-- Audience rows packed: one row per video (or creator account) and day
-- (or month) holds every audience bucket's views and viewers of that
-- period (internal/store/audience.go gives the encoding), instead of one
-- row per dimension and bucket. The store moves the rows of the tables
-- they replace into them and drops those tables in the same transaction
-- (moveAudienceRows in internal/store/audience_migrate.go).
CREATE TABLE video_audience_day (
	video_id TEXT NOT NULL,
	day      BIGINT NOT NULL,
	counts   BYTEA NOT NULL,
	PRIMARY KEY (video_id, day)
);

CREATE TABLE video_audience_month (
	video_id TEXT NOT NULL,
	month    BIGINT NOT NULL,
	counts   BYTEA NOT NULL,
	PRIMARY KEY (video_id, month)
);

CREATE TABLE account_audience_day (
	account_id TEXT NOT NULL,
	day        BIGINT NOT NULL,
	counts     BYTEA NOT NULL,
	PRIMARY KEY (account_id, day)
);

CREATE TABLE account_audience_month (
	account_id TEXT NOT NULL,
	month      BIGINT NOT NULL,
	counts     BYTEA NOT NULL,
	PRIMARY KEY (account_id, month)
);
