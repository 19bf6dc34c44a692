package store

import (
	"context"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// Likes, saves and follows are idempotent: setting a state that already holds
// changes nothing and writes no event, so a client retrying a request never
// counts twice.

// toggle inserts (on) or deletes (off) one state row and writes ev only when
// the state changed. It reports whether it did.
func (s *Store) toggle(ctx context.Context, insert, del string, a, b string, at time.Time, on bool, ev event.Event) (bool, error) {
	var changed bool
	err := s.update(ctx, func(t *tx) error {
		q, args := del, []any{a, b}
		if on {
			q, args = insert, []any{a, b, micros(at)}
		}
		res, err := t.exec(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if changed = n > 0; changed {
			return insertEvents(ctx, t, ev)
		}
		return nil
	})
	return changed, err
}

// SetLike likes (on) or unlikes a video. ev is written when the state changed.
func (s *Store) SetLike(ctx context.Context, videoID, accountID string, at time.Time, on bool, ev event.Event) (bool, error) {
	return s.toggle(ctx,
		`INSERT INTO likes (video_id, account_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		`DELETE FROM likes WHERE video_id = ? AND account_id = ?`,
		videoID, accountID, at, on, ev)
}

// SetSave saves (on) or unsaves a video to the account's favorites.
func (s *Store) SetSave(ctx context.Context, videoID, accountID string, at time.Time, on bool, ev event.Event) (bool, error) {
	return s.toggle(ctx,
		`INSERT INTO saves (video_id, account_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		`DELETE FROM saves WHERE video_id = ? AND account_id = ?`,
		videoID, accountID, at, on, ev)
}

// SetFollow makes follower follow (on) or unfollow followee.
func (s *Store) SetFollow(ctx context.Context, followerID, followeeID string, at time.Time, on bool, ev event.Event) (bool, error) {
	return s.toggle(ctx,
		`INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		`DELETE FROM follows WHERE follower_id = ? AND followee_id = ?`,
		followerID, followeeID, at, on, ev)
}

// Follows reports whether follower follows followee.
func (s *Store) Follows(ctx context.Context, followerID, followeeID string) (bool, error) {
	var n int
	err := s.view(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM follows WHERE follower_id = ? AND followee_id = ?`, followerID, followeeID).Scan(&n)
	})
	return n > 0, err
}

// Saved lists the videos an account saved, most recently saved first. Only
// the account itself may see this list.
//
// It also returns the cursor that continues the list after its last video
// (the save time, which the video itself does not carry), or "" at the end.
func (s *Store) Saved(ctx context.Context, accountID string, p Page) ([]platform.Video, string, error) {
	var out []platform.Video
	var next string
	err := s.view(ctx, func(t *tx) error {
		q := `SELECT ` + videoColumns + ` FROM saves sv JOIN videos v ON v.id = sv.video_id WHERE sv.account_id = ?`
		args := []any{accountID}
		if c, id, ok := parseCursor(p.Before); ok {
			q += ` AND (sv.created_at < ? OR (sv.created_at = ? AND v.id < ?))`
			args = append(args, c, c, id)
		}
		q += ` ORDER BY sv.created_at DESC, v.id DESC LIMIT ?`
		n := limit(p.Limit)
		rows, err := t.query(ctx, q, append(args, n)...)
		if err != nil {
			return err
		}
		if out, err = loadVideos(ctx, t, rows); err != nil {
			return err
		}
		if len(out) == n {
			last := out[n-1].ID
			var at int64
			if err := t.queryRow(ctx, `SELECT created_at FROM saves WHERE account_id = ? AND video_id = ?`, accountID, last).Scan(&at); err != nil {
				return err
			}
			next = Cursor(fromMicros(at), last)
		}
		return nil
	})
	return out, next, err
}

// CreateComment inserts a comment and its event.
func (s *Store) CreateComment(ctx context.Context, c *platform.Comment, ev event.Event) error {
	return s.update(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO comments (id, video_id, author_id, text, created_at) VALUES (?, ?, ?, ?, ?)`,
			c.ID, c.VideoID, c.AuthorID, c.Text, micros(c.CreatedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, t, ev)
	})
}

// Comment returns one comment.
func (s *Store) Comment(ctx context.Context, id string) (*platform.Comment, error) {
	var c platform.Comment
	err := s.view(ctx, func(t *tx) error {
		var created int64
		err := t.queryRow(ctx, `SELECT c.id, c.video_id, c.author_id, a.handle, c.text, c.created_at FROM comments c JOIN accounts a ON a.id = c.author_id WHERE c.id = ?`, id).
			Scan(&c.ID, &c.VideoID, &c.AuthorID, &c.Author, &c.Text, &created)
		c.CreatedAt = fromMicros(created)
		return err
	})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil, platform.Errorf(platform.ENOTFOUND, "comment not found")
	}
	return &c, err
}

// DeleteComment deletes a comment and writes ev.
func (s *Store) DeleteComment(ctx context.Context, id string, ev event.Event) error {
	return s.update(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM comments WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return platform.Errorf(platform.ENOTFOUND, "comment not found")
		}
		return insertEvents(ctx, t, ev)
	})
}

// Comments lists a video's comments, newest first.
func (s *Store) Comments(ctx context.Context, videoID string, p Page) ([]platform.Comment, error) {
	out := []platform.Comment{}
	err := s.view(ctx, func(t *tx) error {
		q, args := pageQuery(`SELECT c.id, c.video_id, c.author_id, a.handle, c.text, c.created_at FROM comments c JOIN accounts a ON a.id = c.author_id WHERE c.video_id = ?`, []any{videoID}, "c", p)
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c platform.Comment
			var created int64
			if err := rows.Scan(&c.ID, &c.VideoID, &c.AuthorID, &c.Author, &c.Text, &created); err != nil {
				return err
			}
			c.CreatedAt = fromMicros(created)
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// Activity lists public actions on an account's videos and account — likes,
// comments and new followers, with who — newest first. Shares, saves and
// views are not in it, by construction: the store keeps no such rows.
func (s *Store) Activity(ctx context.Context, accountID string, limitN int) ([]platform.Activity, error) {
	out := []platform.Activity{}
	n := limit(limitN)
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `
SELECT kind, actor, video_id, comment_id, text, created_at FROM (
	SELECT 'like' AS kind, a.handle AS actor, l.video_id AS video_id, '' AS comment_id, '' AS text, l.created_at AS created_at
	FROM likes l JOIN video_creators vc ON vc.video_id = l.video_id JOIN accounts a ON a.id = l.account_id
	WHERE vc.account_id = ? AND l.account_id <> ?
	UNION ALL
	SELECT 'comment', a.handle, c.video_id, c.id, c.text, c.created_at
	FROM comments c JOIN video_creators vc ON vc.video_id = c.video_id JOIN accounts a ON a.id = c.author_id
	WHERE vc.account_id = ? AND c.author_id <> ?
	UNION ALL
	SELECT 'follow', a.handle, '', '', '', f.created_at
	FROM follows f JOIN accounts a ON a.id = f.follower_id
	WHERE f.followee_id = ?
) act ORDER BY created_at DESC, kind, actor LIMIT ?`, accountID, accountID, accountID, accountID, accountID, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a platform.Activity
			var created int64
			if err := rows.Scan(&a.Kind, &a.Actor, &a.VideoID, &a.CommentID, &a.Text, &created); err != nil {
				return err
			}
			a.CreatedAt = fromMicros(created)
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}
