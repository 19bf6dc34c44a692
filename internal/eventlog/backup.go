package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// SnapshotInfo describes a snapshot of the stream: what a restore needs
// besides the snapshot's bytes.
type SnapshotInfo struct {
	Stream string              `json:"stream"`
	Config server.StreamConfig `json:"config"`
	State  server.StreamState  `json:"state"`
}

// chunkTimeout bounds the wait for one chunk of a snapshot or for the
// acknowledgement of one chunk of a restore.
const chunkTimeout = 30 * time.Second

// Snapshot writes a snapshot of the stream to w while the log keeps
// serving, with JetStream's own stream snapshot ($JS.API.STREAM.SNAPSHOT,
// the one the nats CLI's "stream backup" uses): every message with its
// sequence, time and id, as of the moment of the request. Messages
// published meanwhile are not in it.
func (l *Log) Snapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	if l.closed.Load() {
		return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", ErrClosed)
	}
	inbox := nats.NewInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, NoConsumers: true})
	rmsg, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.SNAPSHOT."+l.cfg.Stream, req)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
	}
	var resp server.JSApiStreamSnapshotResponse
	if err := json.Unmarshal(rmsg.Data, &resp); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
	}
	if resp.Error != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot event log: %s", resp.Error.Description)
	}
	if resp.Config == nil || resp.State == nil {
		return SnapshotInfo{}, errors.New("snapshot event log: no stream config or state in the answer")
	}
	info := SnapshotInfo{Stream: l.cfg.Stream, Config: *resp.Config, State: *resp.State}
	for {
		cctx, cancel := context.WithTimeout(ctx, chunkTimeout)
		m, err := sub.NextMsgWithContext(cctx)
		cancel()
		if err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
		}
		if len(m.Data) == 0 {
			// The end, or the server's error.
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				return SnapshotInfo{}, fmt.Errorf("snapshot event log: %s %s", st, m.Header.Get("Description"))
			}
			return info, nil
		}
		if _, err := w.Write(m.Data); err != nil {
			return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
		}
		if m.Reply != "" {
			// Flow control: the server sends more once acknowledged.
			if err := m.Respond(nil); err != nil {
				return SnapshotInfo{}, fmt.Errorf("snapshot event log: %w", err)
			}
		}
	}
}

// Restore creates the stream of a snapshot in the embedded event log of
// cfg.Dir, which must not hold it yet, from r (what Snapshot wrote) and
// info. The restored stream has the snapshot's messages with their
// sequences, times and ids.
func Restore(ctx context.Context, cfg Config, info SnapshotInfo, r io.Reader) error {
	cfg.Stream = info.Stream
	cfg = cfg.withDefaults()
	if cfg.URL != "" {
		return errors.New("restore event log: only into the embedded event log")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	lg := cfg.Logger.With("component", "eventlog")
	ns, err := startServer(ctx, cfg, lg)
	if err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	defer nc.Close()
	req, _ := json.Marshal(server.JSApiStreamRestoreRequest{Config: info.Config, State: info.State})
	rmsg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.RESTORE."+info.Stream, req)
	if err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	var resp server.JSApiStreamRestoreResponse
	if err := json.Unmarshal(rmsg.Data, &resp); err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	if resp.Error != nil {
		return fmt.Errorf("restore event log: %s", resp.Error.Description)
	}
	send := func(chunk []byte) ([]byte, error) {
		cctx, cancel := context.WithTimeout(ctx, chunkTimeout)
		defer cancel()
		m, err := nc.RequestWithContext(cctx, resp.DeliverSubject, chunk)
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	buf := make([]byte, 128<<10)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			ack, serr := send(buf[:n])
			if serr != nil {
				return fmt.Errorf("restore event log: %w", serr)
			}
			if len(ack) > 0 {
				if err := apiError(ack); err != nil {
					return fmt.Errorf("restore event log: %w", err)
				}
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore event log: read snapshot: %w", err)
		}
	}
	done, err := send(nil)
	if err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	if err := apiError(done); err != nil {
		return fmt.Errorf("restore event log: %w", err)
	}
	return nil
}

// apiError returns the error of a JetStream API answer, if it has one.
func apiError(b []byte) error {
	var resp server.ApiResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return fmt.Errorf("unexpected answer %q", b)
	}
	if resp.Error != nil {
		return errors.New(resp.Error.Description)
	}
	return nil
}
