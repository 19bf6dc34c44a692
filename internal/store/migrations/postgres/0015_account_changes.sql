-- The account directory (internal/directory) holds what ingestion reads of
-- every account in memory and follows the changes any process makes:
--
-- accounts.seq is the change number of the transaction that last wrote the
-- row's directory fields (created, synced). Every such transaction takes
-- the next number from account_changes 'seq', whose row stays locked until
-- it commits, so transactions commit in the order of their numbers: a
-- reader that sees number n committed sees every change up to n.
--
-- account_tombstones records deleted accounts' ids with the number of the
-- deleting transaction, so other processes drop them from memory. A
-- tombstone lives 10 minutes (directory.TombstoneRetention); 'pruned' is
-- the highest number pruned, and a process that has not applied up to it
-- reloads the whole directory instead.
ALTER TABLE accounts ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX accounts_seq ON accounts(seq);

CREATE TABLE account_changes (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO account_changes (name, value) VALUES ('seq', 0), ('pruned', 0);

CREATE TABLE account_tombstones (
	seq BIGINT NOT NULL,
	id  TEXT NOT NULL,
	at  BIGINT NOT NULL,
	PRIMARY KEY (seq, id)
);
CREATE INDEX account_tombstones_at ON account_tombstones(at);
