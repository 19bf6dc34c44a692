package store

import (
	"context"
	"fmt"

	"github.com/crowd-dev/crowd/internal/event"
)

// insertEvents writes events to the outbox inside t, so they commit or roll
// back with the action that produced them.
func insertEvents(ctx context.Context, t *tx, evs ...event.Event) error {
	for i := range evs {
		b, err := evs[i].Encode()
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO outbox (partition_key, event_id, payload) VALUES (?, ?, ?)`, evs[i].PartitionKey(), evs[i].ID, b); err != nil {
			return fmt.Errorf("insert outbox: %w", err)
		}
	}
	return nil
}

// AppendEvents writes events that change no domain state (views, shares) to
// the outbox.
func (s *Store) AppendEvents(ctx context.Context, evs ...event.Event) error {
	return s.update(ctx, func(t *tx) error { return insertEvents(ctx, t, evs...) })
}

// OutboxEntry is one event waiting in the outbox.
type OutboxEntry struct {
	Seq          int64
	PartitionKey string
	EventID      string
	Payload      []byte
}

// RelayOutbox hands up to limit of the oldest outbox entries to publish and
// deletes them once publish returns nil, all in one transaction. On
// PostgreSQL the rows are locked with SKIP LOCKED so several instances can
// relay side by side without publishing the same rows twice; a crash between
// publish and commit republishes them, and the event log's dedupe (by
// message id) and aggregation's (by event id) make that harmless. It returns
// how many entries were relayed.
func (s *Store) RelayOutbox(ctx context.Context, limit int, publish func([]OutboxEntry) error) (int, error) {
	var n int
	err := s.update(ctx, func(t *tx) error {
		q := `SELECT seq, partition_key, event_id, payload FROM outbox ORDER BY seq LIMIT ?`
		if s.dialect == Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
		rows, err := t.query(ctx, q, limit)
		if err != nil {
			return err
		}
		var entries []OutboxEntry
		for rows.Next() {
			var e OutboxEntry
			if err := rows.Scan(&e.Seq, &e.PartitionKey, &e.EventID, &e.Payload); err != nil {
				rows.Close()
				return err
			}
			entries = append(entries, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		if err := publish(entries); err != nil {
			return err
		}
		// Delete exactly the rows published (seqs may have gaps on
		// PostgreSQL, where other relays hold rows in between).
		for i := 0; i < len(entries); i += 500 {
			chunk := entries[i:min(i+500, len(entries))]
			args := make([]any, len(chunk))
			for j, e := range chunk {
				args[j] = e.Seq
			}
			if _, err := t.exec(ctx, `DELETE FROM outbox WHERE seq IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		n = len(entries)
		return nil
	})
	return n, err
}

// OutboxLen returns the number of events waiting in the outbox.
func (s *Store) OutboxLen(ctx context.Context) (int64, error) {
	var n int64
	err := s.view(ctx, func(t *tx) error { return t.queryRow(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n) })
	return n, err
}
