-- The generation of videos' creators: a counter that every change to
-- video_creators moves (an insert, an update, a delete, cascades from a
-- deleted video or account included), in the changing transaction.
-- Aggregation keeps videos' creators in memory and empties that cache when
-- it reads a generation other than the one it filled it at
-- (RollupTx.CreatorsGeneration), instead of every few seconds.
CREATE TABLE creators_generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO creators_generation (id, n) VALUES (1, 0);
CREATE TRIGGER video_creators_generation_insert AFTER INSERT ON video_creators
BEGIN
	UPDATE creators_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER video_creators_generation_update AFTER UPDATE ON video_creators
BEGIN
	UPDATE creators_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER video_creators_generation_delete AFTER DELETE ON video_creators
BEGIN
	UPDATE creators_generation SET n = n + 1 WHERE id = 1;
END;
