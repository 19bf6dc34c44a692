-- The changes to videos' creators, video by video: a row for every change
-- to video_creators (an insert, an update, a delete, cascades from a
-- deleted video or account included), in the changing transaction.
-- Aggregation keeps videos' creators in memory and, at every batch, drops
-- from that cache the videos changed since the last change it read
-- (RollupTx.CreatorsChanges). 0005's generation emptied the whole cache at
-- every change, so each new video (a new row of video_creators) made the
-- next batch read the creators of every video it touched again.
--
-- Changes are pruned to the newest few thousand (creatorsChangesKept);
-- creators_changes_pruned holds the last change pruned, so that a reader
-- that had not read it yet knows to empty its whole cache instead.
DROP TRIGGER video_creators_generation_insert;
DROP TRIGGER video_creators_generation_update;
DROP TRIGGER video_creators_generation_delete;
DROP TABLE creators_generation;
CREATE TABLE creators_changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	video_id TEXT NOT NULL
);
CREATE TABLE creators_changes_pruned (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	upto INTEGER NOT NULL
);
INSERT INTO creators_changes_pruned (id, upto) VALUES (1, 0);
CREATE TRIGGER video_creators_changes_insert AFTER INSERT ON video_creators
BEGIN
	INSERT INTO creators_changes (video_id) VALUES (NEW.video_id);
END;
CREATE TRIGGER video_creators_changes_update AFTER UPDATE ON video_creators
BEGIN
	INSERT INTO creators_changes (video_id) VALUES (OLD.video_id);
	INSERT INTO creators_changes (video_id) SELECT NEW.video_id WHERE NEW.video_id <> OLD.video_id;
END;
CREATE TRIGGER video_creators_changes_delete AFTER DELETE ON video_creators
BEGIN
	INSERT INTO creators_changes (video_id) VALUES (OLD.video_id);
END;
