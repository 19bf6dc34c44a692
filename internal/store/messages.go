package store

import (
	"context"
	"fmt"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// SendMessage stores a direct message and its share event.
func (s *Store) SendMessage(ctx context.Context, m *platform.Message, ev event.Event) error {
	return s.update(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO messages (id, sender_id, recipient_id, video_id, text, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			m.ID, m.SenderID, m.RecipientID, m.VideoID, m.Text, micros(m.CreatedAt)); err != nil {
			return err
		}
		return insertEvents(ctx, t, ev)
	})
}

const messageColumns = `m.id, m.sender_id, m.recipient_id, s.handle, r.handle, m.video_id, m.text, m.created_at, m.opened_at, m.receipt, r.read_receipts`

const messageFrom = ` FROM messages m JOIN accounts s ON s.id = m.sender_id JOIN accounts r ON r.id = m.recipient_id`

// scanMessage scans a message as viewerID (its sender or recipient) may see
// it. The recipient always sees when it opened the message. The sender sees
// it only as a read receipt: when the recipient had read receipts on at the
// time it opened the message and still has them on now. Otherwise nothing
// the sender reads changes when the recipient opens it.
func scanMessage(row interface{ Scan(...any) error }, viewerID string) (*platform.Message, error) {
	var m platform.Message
	var created, opened, receipt, receipts int64
	if err := row.Scan(&m.ID, &m.SenderID, &m.RecipientID, &m.From, &m.To, &m.VideoID, &m.Text, &created, &opened, &receipt, &receipts); err != nil {
		return nil, err
	}
	m.CreatedAt = fromMicros(created)
	visible := viewerID == m.RecipientID || (receipt != 0 && receipts != 0)
	if opened != 0 && visible {
		o := fromMicros(opened)
		m.OpenedAt = &o
	}
	return &m, nil
}

// Inbox lists the messages an account received (with their senders), newest
// first; Sent lists the ones it sent.
func (s *Store) Inbox(ctx context.Context, accountID string, p Page) ([]platform.Message, error) {
	return s.messages(ctx, "m.recipient_id", accountID, p)
}

// Sent lists the messages an account sent, newest first.
func (s *Store) Sent(ctx context.Context, accountID string, p Page) ([]platform.Message, error) {
	return s.messages(ctx, "m.sender_id", accountID, p)
}

func (s *Store) messages(ctx context.Context, col, accountID string, p Page) ([]platform.Message, error) {
	out := []platform.Message{}
	err := s.view(ctx, func(t *tx) error {
		q, args := pageQuery(`SELECT `+messageColumns+messageFrom+` WHERE `+col+` = ?`, []any{accountID}, "m", p)
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			m, err := scanMessage(rows, accountID)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, *m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return attachVideos(ctx, t, out)
	})
	return out, err
}

func attachVideos(ctx context.Context, t *tx, ms []platform.Message) error {
	if len(ms) == 0 {
		return nil
	}
	ids := make([]any, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m.VideoID] {
			seen[m.VideoID] = true
			ids = append(ids, m.VideoID)
		}
	}
	rows, err := t.query(ctx, `SELECT `+videoColumns+` FROM videos v WHERE v.id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return err
	}
	vs, err := loadVideos(ctx, t, rows)
	if err != nil {
		return err
	}
	byID := make(map[string]*platform.Video, len(vs))
	for i := range vs {
		byID[vs[i].ID] = &vs[i]
	}
	for i := range ms {
		ms[i].Video = byID[ms[i].VideoID]
	}
	return nil
}

// Message returns a message visible to accountID (its sender or recipient);
// anyone else gets ENOTFOUND.
func (s *Store) Message(ctx context.Context, id, accountID string) (*platform.Message, error) {
	var m *platform.Message
	err := s.view(ctx, func(t *tx) error {
		var err error
		m, err = scanMessage(t.queryRow(ctx, `SELECT `+messageColumns+messageFrom+` WHERE m.id = ? AND (m.sender_id = ? OR m.recipient_id = ?)`, id, accountID, accountID), accountID)
		if err != nil {
			return err
		}
		one := []platform.Message{*m}
		if err := attachVideos(ctx, t, one); err != nil {
			return err
		}
		m = &one[0]
		return nil
	})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil, platform.Errorf(platform.ENOTFOUND, "message not found")
	}
	return m, err
}

// OpenMessage marks a received message opened (first time only) and writes
// ev, the "shared" view that opening it counts. The message records whether
// the recipient had read receipts on at that moment.
func (s *Store) OpenMessage(ctx context.Context, id, recipientID string, at time.Time, ev event.Event) error {
	return s.update(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE messages SET opened_at = ?, receipt = (SELECT read_receipts FROM accounts WHERE id = ?)
			WHERE id = ? AND recipient_id = ? AND opened_at = 0`, micros(at), recipientID, id, recipientID)
		if err != nil {
			return err
		}
		if _, err := res.RowsAffected(); err != nil {
			return err
		}
		return insertEvents(ctx, t, ev)
	})
}

// Notifications lists an account's notifications, newest first: today the
// privacy-policy versions published after the account was created. They are
// derived on read, so publishing a policy costs one row however many
// accounts there are.
func (s *Store) Notifications(ctx context.Context, a *platform.Account) ([]platform.Notification, error) {
	out := []platform.Notification{}
	err := s.view(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT version, published_at FROM privacy_policies WHERE published_at > ? ORDER BY version DESC LIMIT 100`, micros(a.CreatedAt))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			var at int64
			if err := rows.Scan(&v, &at); err != nil {
				return err
			}
			pub := fromMicros(at)
			out = append(out, platform.Notification{
				ID:        fmt.Sprintf("privacy-policy-%d", v),
				Kind:      "privacy_policy",
				Title:     fmt.Sprintf("Privacy policy updated (version %d)", v),
				Body:      "We published a new version of the privacy policy. Read it at /v1/privacy-policy.",
				CreatedAt: pub,
				Read:      !pub.After(a.NotificationsSeenAt),
			})
		}
		return rows.Err()
	})
	return out, err
}

// PrivacyPolicy returns the current privacy policy.
func (s *Store) PrivacyPolicy(ctx context.Context) (*platform.PrivacyPolicy, error) {
	var p platform.PrivacyPolicy
	err := s.view(ctx, func(t *tx) error {
		var at int64
		err := t.queryRow(ctx, `SELECT version, text, published_at FROM privacy_policies ORDER BY version DESC LIMIT 1`).Scan(&p.Version, &p.Text, &at)
		p.PublishedAt = fromMicros(at)
		return err
	})
	return &p, err
}

// PublishPrivacyPolicy publishes text as the next version. Every account
// created before now sees a notification of it.
func (s *Store) PublishPrivacyPolicy(ctx context.Context, text string, at time.Time) (*platform.PrivacyPolicy, error) {
	p := platform.PrivacyPolicy{Text: text, PublishedAt: at.UTC()}
	err := s.update(ctx, func(t *tx) error {
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM privacy_policies`).Scan(&p.Version); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO privacy_policies (version, text, published_at) VALUES (?, ?, ?)`, p.Version, text, micros(at))
		return err
	})
	return &p, err
}
