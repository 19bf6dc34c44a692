-- The creators' reads merge the rows deferred (internal/store/
-- deferred_overlay.go), and each process keeps an index of a deferred
-- batch by its id: an id must never be used again once its row is
-- deleted, so the table's ids are AUTOINCREMENT now (a rowid table's
-- would start again at 1 once emptied).
CREATE TABLE creator_rows_deferred_ids (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	at   BIGINT NOT NULL,
	n    BIGINT NOT NULL,
	rows BLOB NOT NULL
);
INSERT INTO creator_rows_deferred_ids (id, at, n, rows) SELECT id, at, n, rows FROM creator_rows_deferred;
DROP TABLE creator_rows_deferred;
ALTER TABLE creator_rows_deferred_ids RENAME TO creator_rows_deferred;
