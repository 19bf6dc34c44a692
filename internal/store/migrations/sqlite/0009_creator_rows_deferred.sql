-- Creators' rows deferred while aggregation trails the event log
-- (internal/rollup/deferred.go): a batch that does not write its
-- creators' rows keeps them here, one row per batch, committed with the
-- batch and its checkpoints; the batch that writes them adds every row
-- here to the creators' tables and deletes it, in its own transaction.
-- rows is the batch's rows in the encoding of deferred.go; n their count.
CREATE TABLE creator_rows_deferred (
	id   INTEGER PRIMARY KEY,
	at   BIGINT NOT NULL,
	n    BIGINT NOT NULL,
	rows BLOB NOT NULL
);
