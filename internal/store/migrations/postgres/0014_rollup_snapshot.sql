-- Snapshots of aggregation's in-memory state (internal/rollup/snapshot.go),
-- so that a start loads them and replays only the journal written since,
-- instead of the whole journal. One snapshot per partition set (parts, as
-- in rollup_journal: empty for all partitions): the generation in use
-- (gen), the format of its chunks, the log sequence of every partition it
-- reflects (seqs: 8-byte little-endian, by partition), what the chunks
-- hold (meta), how many there are and the checksum of the whole. A new
-- generation's chunks are written first, in transactions of their own; a
-- last transaction points this row at it and deletes the old chunks, so a
-- crash at any moment leaves the previous snapshot whole. Keys are 64-bit
-- hashes, as in the journal: nothing here names anyone.
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
