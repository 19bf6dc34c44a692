-- A day's packed audience moves into that day's rollup row: video_day and
-- account_day gain a column audience (NULL where the day has no audience;
-- the encoding of internal/store/audience.go), the rows of
-- video_audience_day and account_audience_day move into it, and those two
-- tables go. A batch then writes each video-day and creator-day once,
-- counters and buckets in one upsert, where it wrote two rows of the same
-- key in two tables (docs/PERFORMANCE.md, "A day's audience in its day
-- row"). The monthly tables stay: they have no counters of their own.
-- PostgreSQL keeps the tables of its own (audienceIn in audience.go says
-- why).
ALTER TABLE video_day ADD COLUMN audience BLOB;
ALTER TABLE account_day ADD COLUMN audience BLOB;
INSERT INTO video_day (video_id, day, audience)
	SELECT video_id, day, counts FROM video_audience_day WHERE true
	ON CONFLICT (video_id, day) DO UPDATE SET audience = excluded.audience;
INSERT INTO account_day (account_id, day, audience)
	SELECT account_id, day, counts FROM account_audience_day WHERE true
	ON CONFLICT (account_id, day) DO UPDATE SET audience = excluded.audience;
DROP TABLE video_audience_day;
DROP TABLE account_audience_day;
