-- Read receipts and co-creators by consent.
--
-- accounts.read_receipts: whether the senders of direct messages to this
-- account may see when it opened them (1) or not (0, the default).
-- messages.receipt: 1 when the message was opened while its recipient had
-- read receipts on. A sender sees opened_at only when receipt = 1 and the
-- recipient still has read receipts on.
ALTER TABLE accounts ADD COLUMN read_receipts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN receipt INTEGER NOT NULL DEFAULT 0;

-- video_invitations are co-creators a video lists who have not accepted
-- yet. video_creators keeps only the owner and accepted co-creators, so
-- aggregation, account analytics, the activity feed and public listings
-- never see a pending one.
CREATE TABLE video_invitations (
	video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	invited_at BIGINT NOT NULL,
	PRIMARY KEY (video_id, account_id)
);
CREATE INDEX video_invitations_account ON video_invitations(account_id, invited_at);
-- When a co-creator accepted (0 for owners and rows older than this).
ALTER TABLE video_creators ADD COLUMN accepted_at BIGINT NOT NULL DEFAULT 0;

-- Co-creators listed before this version never consented: they become
-- pending invitations, dated when the video was created.
INSERT INTO video_invitations (video_id, account_id, position, invited_at)
SELECT c.video_id, c.account_id, c.position, v.created_at
FROM video_creators c JOIN videos v ON v.id = c.video_id
WHERE c.account_id <> v.owner_id;
DELETE FROM video_creators
WHERE account_id <> (SELECT v.owner_id FROM videos v WHERE v.id = video_creators.video_id);
