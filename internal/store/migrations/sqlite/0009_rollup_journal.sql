-- The aggregation journal (formerly rollup_state) by partition set: each
-- aggregator applies the event log's partitions it owns, and writes one row
-- per batch naming them (parts: a bitmap, bit p of byte p/8 for partition
-- p; empty for all partitions, as every row of earlier versions). Two
-- aggregators of disjoint partitions may end a batch at the same sequence
-- (a message of single events holds events of every partition), hence the
-- key. Keys in seen and viewers are 64-bit hashes: nothing names anyone.
CREATE TABLE rollup_journal (
	seq     BIGINT NOT NULL,
	parts   BLOB NOT NULL,
	at      BIGINT NOT NULL,
	seen    BLOB NOT NULL,
	viewers BLOB NOT NULL,
	PRIMARY KEY (seq, parts)
);
CREATE INDEX rollup_journal_at ON rollup_journal(at);
INSERT INTO rollup_journal (seq, parts, at, seen, viewers) SELECT seq, X'', at, seen, viewers FROM rollup_state;
DROP TABLE rollup_state;
