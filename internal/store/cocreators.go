package store

import (
	"context"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
)

// Co-creators by consent. A video's accepted creators are the rows of
// video_creators (the owner, position 0, and accepted co-creators); the
// co-creators it lists who have not accepted are rows of video_invitations.
// Aggregation, account analytics, the activity feed and public listings read
// video_creators only, so a pending invitation gives access to nothing.

// CoCreators lists the co-creators of a video, accepted and pending, in the
// video's order. The owner is not among them.
func (s *Store) CoCreators(ctx context.Context, videoID string) ([]platform.CoCreator, error) {
	out := []platform.CoCreator{}
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT a.id, a.handle, x.status, x.since FROM (
	SELECT c.account_id AS account_id, 'accepted' AS status, c.accepted_at AS since, c.position AS position
	FROM video_creators c JOIN videos v ON v.id = c.video_id WHERE c.video_id = ? AND c.account_id <> v.owner_id
	UNION ALL
	SELECT i.account_id, 'pending', i.invited_at, i.position FROM video_invitations i WHERE i.video_id = ?
) x JOIN accounts a ON a.id = x.account_id ORDER BY x.position, a.handle`, videoID, videoID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c platform.CoCreator
			var since int64
			if err := rows.Scan(&c.AccountID, &c.Handle, &c.Status, &since); err != nil {
				return err
			}
			c.Since = fromMicros(since)
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// InviteCoCreator invites accountID to be a co-creator of the video, pending
// until it accepts, and returns its state. An account already accepted or
// invited keeps its state; more than max co-creators is EINVALID.
func (s *Store) InviteCoCreator(ctx context.Context, videoID, accountID string, max int, at time.Time) (*platform.CoCreator, error) {
	var c *platform.CoCreator
	err := s.update(ctx, func(t *tx) error {
		c = nil
		if err := s.lockVideo(ctx, t, videoID); err != nil {
			return err
		}
		var err error
		if c, err = coCreator(ctx, t, videoID, accountID); err != nil || c != nil {
			return err
		}
		var n, pos int
		if err := t.queryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(position), 0) FROM (
	SELECT position FROM video_creators WHERE video_id = ? UNION ALL SELECT position FROM video_invitations WHERE video_id = ?) x`,
			videoID, videoID).Scan(&n, &pos); err != nil {
			return err
		}
		if n-1 >= max {
			return platform.Errorf(platform.EINVALID, "a video has at most %d co-creators, invited ones included", max)
		}
		if _, err := t.exec(ctx, `INSERT INTO video_invitations (video_id, account_id, position, invited_at) VALUES (?, ?, ?, ?)`,
			videoID, accountID, pos+1, micros(at)); err != nil {
			return err
		}
		c = &platform.CoCreator{AccountID: accountID, Status: platform.CoCreatorPending, Since: at.UTC().Truncate(time.Microsecond)}
		return nil
	})
	return c, err
}

// lockVideo serializes changes to one video's co-creators, so that two
// invitations cannot both pass the limit and an acceptance cannot outlive a
// withdrawal it raced with: PostgreSQL locks the video's row; SQLite write
// transactions are serial already.
func (s *Store) lockVideo(ctx context.Context, t *tx, videoID string) error {
	if s.dialect != Postgres {
		return nil
	}
	_, err := t.exec(ctx, `SELECT id FROM videos WHERE id = ? FOR UPDATE`, videoID)
	return err
}

// coCreator returns accountID's state on the video (accepted or pending), or
// nil when it is neither. The owner counts as accepted.
func coCreator(ctx context.Context, t *tx, videoID, accountID string) (*platform.CoCreator, error) {
	rows, err := t.query(ctx, `SELECT 'accepted', accepted_at FROM video_creators WHERE video_id = ? AND account_id = ?
UNION ALL SELECT 'pending', invited_at FROM video_invitations WHERE video_id = ? AND account_id = ?`, videoID, accountID, videoID, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var c *platform.CoCreator
	for rows.Next() {
		var since int64
		c = &platform.CoCreator{AccountID: accountID}
		if err := rows.Scan(&c.Status, &since); err != nil {
			return nil, err
		}
		c.Since = fromMicros(since)
	}
	return c, rows.Err()
}

// AcceptCoCreation accepts accountID's invitation to the video: it becomes
// one of the video's creators. changed is false when it already was one;
// with neither an invitation nor a place among the creators it is
// ENOTFOUND.
func (s *Store) AcceptCoCreation(ctx context.Context, videoID, accountID string, at time.Time) (changed bool, err error) {
	err = s.update(ctx, func(t *tx) error {
		changed = false
		if err := s.lockVideo(ctx, t, videoID); err != nil {
			return err
		}
		c, err := coCreator(ctx, t, videoID, accountID)
		if err != nil {
			return err
		}
		switch {
		case c == nil:
			return platform.Errorf(platform.ENOTFOUND, "no invitation to be a co-creator of this video")
		case c.Status == platform.CoCreatorAccepted:
			return nil
		}
		var pos int
		if err := t.queryRow(ctx, `SELECT position FROM video_invitations WHERE video_id = ? AND account_id = ?`, videoID, accountID).Scan(&pos); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM video_invitations WHERE video_id = ? AND account_id = ?`, videoID, accountID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO video_creators (video_id, account_id, position, accepted_at) VALUES (?, ?, ?, ?)`,
			videoID, accountID, pos, micros(at)); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return changed, err
}

// RemoveCoCreator ends accountID's co-creation of the video, pending or
// accepted (declining, leaving, or the owner removing it). wasAccepted
// reports whether it was one of the video's creators; neither is
// ENOTFOUND. The owner is never removed: the caller checks.
func (s *Store) RemoveCoCreator(ctx context.Context, videoID, accountID string) (wasAccepted bool, err error) {
	err = s.update(ctx, func(t *tx) error {
		if err := s.lockVideo(ctx, t, videoID); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM video_creators WHERE video_id = ? AND account_id = ? AND account_id <> (SELECT owner_id FROM videos WHERE id = ?)`, videoID, accountID, videoID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		wasAccepted = n > 0
		res, err = t.exec(ctx, `DELETE FROM video_invitations WHERE video_id = ? AND account_id = ?`, videoID, accountID)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n+m == 0 {
			return platform.Errorf(platform.ENOTFOUND, "not a co-creator of this video")
		}
		return nil
	})
	return wasAccepted, err
}

// Invitations lists the pending co-creator invitations of an account, newest
// first, with their videos.
func (s *Store) Invitations(ctx context.Context, accountID string) ([]platform.Invitation, error) {
	out := []platform.Invitation{}
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+videoColumns+`, i.invited_at FROM video_invitations i JOIN videos v ON v.id = i.video_id
WHERE i.account_id = ? ORDER BY i.invited_at DESC, v.id DESC LIMIT 100`, accountID)
		if err != nil {
			return err
		}
		vs, extra, err := loadVideosWith(ctx, t, rows)
		if err != nil {
			return err
		}
		for i := range vs {
			out = append(out, platform.Invitation{Video: &vs[i], InvitedAt: fromMicros(extra[i])})
		}
		return nil
	})
	return out, err
}
