-- Aggregation's per-event state (event ids seen within the dedupe window,
-- viewer-days) lives in memory; each applied batch writes its changes here,
-- in the transaction that commits the batch and the checkpoint, so the
-- state can be rebuilt exactly on start. Keys are 64-bit hashes of event ids
-- and of (video, day, daily viewer pseudonym): nothing here names anyone.
-- The per-row tables this replaces are emptied into it on first start.
CREATE TABLE rollup_state (
	seq     BIGINT PRIMARY KEY,
	at      BIGINT NOT NULL,
	seen    BLOB NOT NULL,
	viewers BLOB NOT NULL
);
CREATE INDEX rollup_state_at ON rollup_state(at);
