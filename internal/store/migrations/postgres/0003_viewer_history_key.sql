-- Viewers' history keyed by one 64-bit integer, a hash of the video and
-- the viewer's actor pseudonym (internal/store/viewer_history.go gives the
-- key, the video tag and the encoding of the days), instead of by the two
-- strings: the table is aggregation's largest. video_tag is 32 bits of a
-- hash of the video id, so that a history of another video under the same
-- key is told apart. days: the sorted Unix days of the viewer's views,
-- varint-encoded. The store moves the rows of the former table into it and
-- drops that table in the same transaction (moveViewerHistory).
ALTER TABLE viewer_history RENAME TO viewer_history_0001;
ALTER INDEX viewer_history_pkey RENAME TO viewer_history_0001_pkey;

CREATE TABLE viewer_history (
	key       BIGINT PRIMARY KEY,
	video_tag INTEGER NOT NULL,
	days      BYTEA NOT NULL
);
