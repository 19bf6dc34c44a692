package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/crowd-dev/crowd/internal/platform"
)

// CreateVideo inserts a video with its creators: the owner first, then the
// co-creators in the given order (account ids in v.CreatorIDs), and the
// co-creators it invites (v.InvitedIDs), pending until they accept.
func (s *Store) CreateVideo(ctx context.Context, v *platform.Video) error {
	tags, err := json.Marshal(v.Hashtags)
	if err != nil {
		return err
	}
	return s.update(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO videos (id, owner_id, title, caption, hashtags, sound, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.OwnerID, v.Title, v.Caption, string(tags), v.Sound, micros(v.CreatedAt)); err != nil {
			return err
		}
		for i, id := range v.CreatorIDs {
			if _, err := t.exec(ctx, `INSERT INTO video_creators (video_id, account_id, position, accepted_at) VALUES (?, ?, ?, ?)`, v.ID, id, i, micros(v.CreatedAt)); err != nil {
				return err
			}
		}
		for i, id := range v.InvitedIDs {
			if _, err := t.exec(ctx, `INSERT INTO video_invitations (video_id, account_id, position, invited_at) VALUES (?, ?, ?, ?)`, v.ID, id, len(v.CreatorIDs)+i, micros(v.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

const videoColumns = `v.id, v.owner_id, v.title, v.caption, v.hashtags, v.sound, v.created_at`

// loadVideos scans videos from rows and fills their creators.
func loadVideos(ctx context.Context, t *tx, rows *sql.Rows) ([]platform.Video, error) {
	vs, _, err := loadVideosCols(ctx, t, rows, false)
	return vs, err
}

// loadVideosWith is loadVideos for rows with one more integer column after
// the video's, returned alongside.
func loadVideosWith(ctx context.Context, t *tx, rows *sql.Rows) ([]platform.Video, []int64, error) {
	return loadVideosCols(ctx, t, rows, true)
}

func loadVideosCols(ctx context.Context, t *tx, rows *sql.Rows, withExtra bool) ([]platform.Video, []int64, error) {
	var out []platform.Video
	var extras []int64
	for rows.Next() {
		var v platform.Video
		var tags string
		var created, extra int64
		dest := []any{&v.ID, &v.OwnerID, &v.Title, &v.Caption, &tags, &v.Sound, &created}
		if withExtra {
			dest = append(dest, &extra)
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, nil, err
		}
		extras = append(extras, extra)
		if err := json.Unmarshal([]byte(tags), &v.Hashtags); err != nil {
			rows.Close()
			return nil, nil, err
		}
		v.CreatedAt = fromMicros(created)
		out = append(out, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		return out, extras, nil
	}
	ids := make([]any, len(out))
	index := make(map[string]int, len(out))
	for i := range out {
		ids[i] = out[i].ID
		index[out[i].ID] = i
	}
	crows, err := t.query(ctx, `SELECT c.video_id, c.account_id, a.handle FROM video_creators c JOIN accounts a ON a.id = c.account_id WHERE c.video_id IN (`+placeholders(len(ids))+`) ORDER BY c.video_id, c.position`, ids...)
	if err != nil {
		return nil, nil, err
	}
	defer crows.Close()
	for crows.Next() {
		var vid, aid, handle string
		if err := crows.Scan(&vid, &aid, &handle); err != nil {
			return nil, nil, err
		}
		v := &out[index[vid]]
		v.CreatorIDs = append(v.CreatorIDs, aid)
		v.Creators = append(v.Creators, handle)
	}
	for i := range out {
		if len(out[i].Creators) > 0 {
			out[i].Owner = out[i].Creators[0]
		}
		if out[i].Hashtags == nil {
			out[i].Hashtags = []string{}
		}
	}
	return out, extras, crows.Err()
}

// Video returns a video with its creators.
func (s *Store) Video(ctx context.Context, id string) (*platform.Video, error) {
	var v *platform.Video
	err := s.view(ctx, func(t *tx) (err error) {
		v, err = video(ctx, t, id)
		return err
	})
	return v, err
}

func video(ctx context.Context, t *tx, id string) (*platform.Video, error) {
	rows, err := t.query(ctx, `SELECT `+videoColumns+` FROM videos v WHERE v.id = ?`, id)
	if err != nil {
		return nil, err
	}
	vs, err := loadVideos(ctx, t, rows)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "video not found")
	}
	return &vs[0], nil
}

// Page selects a slice of a list ordered newest first: Limit items created
// before the cursor Before (an opaque value from a previous page).
type Page struct {
	Limit  int
	Before string
}

// AccountVideos lists the videos an account created or co-created, newest first.
func (s *Store) AccountVideos(ctx context.Context, accountID string, p Page) ([]platform.Video, error) {
	var out []platform.Video
	err := s.view(ctx, func(t *tx) error {
		q, args := pageQuery(`SELECT `+videoColumns+` FROM videos v JOIN video_creators c ON c.video_id = v.id WHERE c.account_id = ?`, []any{accountID}, "v", p)
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = loadVideos(ctx, t, rows)
		return err
	})
	return out, err
}

// RecentVideos lists the newest videos on the platform (the viewer app's feed).
func (s *Store) RecentVideos(ctx context.Context, p Page) ([]platform.Video, error) {
	var out []platform.Video
	err := s.view(ctx, func(t *tx) error {
		q, args := pageQuery(`SELECT `+videoColumns+` FROM videos v WHERE 1 = 1`, nil, "v", p)
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = loadVideos(ctx, t, rows)
		return err
	})
	return out, err
}

// pageQuery appends keyset pagination on (created_at, id) of table alias a.
// The cursor is "<created_at micros>.<id>".
func pageQuery(q string, args []any, a string, p Page) (string, []any) {
	if c, id, ok := parseCursor(p.Before); ok {
		q += ` AND (` + a + `.created_at < ? OR (` + a + `.created_at = ? AND ` + a + `.id < ?))`
		args = append(args, c, c, id)
	}
	q += ` ORDER BY ` + a + `.created_at DESC, ` + a + `.id DESC LIMIT ?`
	return q, append(args, limit(p.Limit))
}

func limit(n int) int {
	if n <= 0 || n > 100 {
		return 50
	}
	return n
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
