-- Aggregation's spilled state in runs (internal/store/spill_runs.go): a
-- row holds up to 256 entries of one table (tbl 0: event ids by arrival
-- hour; 1: viewer-days by day) and one period, in key order, packed in
-- entries; first_key and last_key bound its keys, lvl is the bit length of
-- their span rounded up to a multiple of four. id orders the runs: a key
-- in two runs has its value in the newer. The store moves the rows of the
-- two tables of one row per entry into runs and drops them in the same
-- transaction (moveSpillRows).
CREATE TABLE rollup_spill_runs (
	id        INTEGER PRIMARY KEY,
	tbl       INTEGER NOT NULL,
	lvl       INTEGER NOT NULL,
	first_key INTEGER NOT NULL,
	last_key  INTEGER NOT NULL,
	period    INTEGER NOT NULL,
	n         INTEGER NOT NULL,
	entries   BLOB NOT NULL
);
CREATE INDEX rollup_spill_runs_key ON rollup_spill_runs (tbl, lvl, last_key, first_key);
CREATE INDEX rollup_spill_runs_period ON rollup_spill_runs (tbl, period);
