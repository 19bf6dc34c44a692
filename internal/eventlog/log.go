package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("event log closed")

// Log attribute keys, constant so that log queries stay stable.
const (
	logKeyComponent = "component"
	logKeyErr       = "err"
	logKeyURL       = "url"
	logKeyStream    = "stream"
)

// metaPartitions is the stream metadata key recording the partition count the
// stream was created with, so that Open can refuse a different one.
const metaPartitions = "crowd_partitions"

// compressionMajor, compressionMinor is the first nats-server version with
// stream compression. An older server ignores the setting (it does not know
// the field), so it is never sent one.
const compressionMajor, compressionMinor = 2, 10

const (
	// readyTimeout bounds the embedded server's start-up. JetStream
	// recovers its store (and rebuilds the dedupe set of the last window)
	// before it is ready, so this is generous.
	readyTimeout = 10 * time.Second
	// drainTimeout bounds how long Close waits for in-flight messages to be
	// flushed before it closes the connection regardless.
	drainTimeout = 5 * time.Second
	// ackTimeout fails an asynchronous publish whose acknowledgement never
	// arrives (a lost reply during a cluster leader change), so that a
	// Publish without a context deadline cannot hang forever. With
	// SyncAlways a full window of 4,000 messages drains in about a second
	// on a slow disk, so 30 s only fires when something is truly wrong.
	ackTimeout = 30 * time.Second
	// maxAsyncPending is the number of unacknowledged asynchronous publishes
	// allowed per connection (nats.go's default). Enough to keep many
	// fsyncs in flight; beyond it Publish waits.
	maxAsyncPending = 4000
)

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	cfg Config
	log *slog.Logger
	// ns is the embedded server, nil with an external URL. Recover
	// replaces it (restartServer).
	ns       atomic.Pointer[server.Server]
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	subjects []string // subjects[p] is the subject of partition p

	connClosed chan struct{} // closed by the connection's ClosedHandler
	closed     atomic.Bool
	// atomic: the stream takes atomic batches (PublishAtomic).
	atomic atomic.Bool
	// writeFailed: a publish failed for want of space since the last
	// Recover; the embedded server's store may refuse writes until it
	// restarts.
	writeFailed atomic.Bool
	// freeSpace returns the free bytes of the embedded store's
	// filesystem (storeFree; tests replace it).
	freeSpace func() (uint64, error)
	// restarted is closed (and replaced) when Recover restarts the
	// embedded server: consumers end then, instead of waiting for
	// the client library to miss the server's heartbeats (about ten
	// seconds), and their callers resume at once.
	restarted atomic.Pointer[chan struct{}]
	closeOnce sync.Once
	closeErr  error

	metrics *metrics // metrics.go
}

// Open starts the embedded server (or connects to the external one), and
// creates the stream or updates it to match cfg. The caller must Close the
// returned Log.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	l := &Log{
		cfg:        cfg,
		log:        cfg.Logger.With(slog.String(logKeyComponent, "eventlog")),
		metrics:    newMetrics(),
		subjects:   make([]string, cfg.Partitions),
		connClosed: make(chan struct{}),
	}
	l.freeSpace = l.storeFree
	restarted := make(chan struct{})
	l.restarted.Store(&restarted)
	for p := range l.subjects {
		l.subjects[p] = cfg.SubjectPrefix + "." + strconv.Itoa(p)
	}
	if err := l.open(ctx); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open event log: %w", err)
	}
	return l, nil
}

func (l *Log) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := []nats.Option{
		nats.Name("crowd-eventlog"),
		// Never give up reconnecting: a Log outlives server restarts and
		// cluster rolling upgrades. Publishes fail while disconnected
		// and callers retry them.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DrainTimeout(drainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				l.log.Warn("event log disconnected", slog.Any(logKeyErr, err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.log.Info("event log reconnected", slog.String(logKeyURL, nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			l.log.Warn("event log connection error", slog.Any(logKeyErr, err))
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(l.connClosed) }),
	}
	var err error
	if l.cfg.URL == "" {
		// The server's own logger names its component itself: l.log
		// already carries component=eventlog, and a second
		// "component" key would make one record hold two.
		var ns *server.Server
		if ns, err = startServer(ctx, l.cfg, l.cfg.Logger); err != nil {
			return err
		}
		l.ns.Store(ns)
		// The in-process connection is a net.Pipe to the server: no TCP
		// stack, no port, and it works with DontListen. It is made to
		// whichever server is current, so that the connection follows
		// a restarted one.
		opts = append(opts, nats.InProcessServer(currentServer{l}))
		l.nc, err = nats.Connect(ns.ClientURL(), opts...)
	} else {
		l.nc, err = nats.Connect(l.cfg.URL, opts...)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}

	l.js, err = jetstream.New(l.nc,
		jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
	)
	if err != nil {
		return err
	}
	return l.ensureStream(ctx)
}

// startServer starts the embedded nats-server the way nats-server's own main
// does (NewServer, Start, ReadyForConnections), with the settings that matter
// when the server shares our process.
func startServer(ctx context.Context, cfg Config, log *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "crowd-eventlog",
		JetStream:  true,
		// Set explicitly: the default is /tmp/nats/jetstream, shared by
		// every embedded server on the machine and wiped by tmp cleaners.
		StoreDir: cfg.Dir,
		// fsync every message before acknowledging it. Without this an
		// acknowledged event lives only in the page cache for up to two
		// minutes and is lost on power failure; see the package comment.
		SyncAlways: true,
		// No TCP listener unless asked for: clients use the in-process
		// connection, and an open port is one more thing to secure.
		DontListen: cfg.Listen == "",
		// The server must not install signal handlers: its SIGINT handler
		// exits the process, bypassing our orderly shutdown.
		NoSigs: true,
		// No logger of its own; SetLogger below routes it to slog.
		NoLog: true,
		// No monitoring port (HTTPPort 0): Crowd exposes its own health.
	}
	if cfg.Listen != "" {
		host, port, _ := net.SplitHostPort(cfg.Listen) // checked by Validate
		p, _ := strconv.Atoi(port)
		if p == 0 {
			// Port 0 means the server's default 4222; RANDOM_PORT
			// is how nats-server spells "any free port".
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded server: %w", err)
	}
	ns.SetLogger(serverLogger{log.With(slog.String(logKeyComponent, "nats-server"))}, false, false)
	ns.Start()
	// Wait in short steps, so that a process told to stop while the
	// server recovers a large store does not wait it out.
	deadline := time.Now().Add(readyTimeout)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil || time.Now().After(deadline) {
			ns.Shutdown()
			ns.WaitForShutdown()
			if err != nil {
				return nil, fmt.Errorf("start embedded server: %w", err)
			}
			return nil, fmt.Errorf("start embedded server: not ready after %v", readyTimeout)
		}
	}
	return ns, nil
}

// ensureStream creates the stream, or updates an existing one to cfg, after
// checking that its partition count has not changed.
func (l *Log) ensureStream(ctx context.Context) error {
	c := l.cfg
	want := strconv.Itoa(c.Partitions)
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1 // JetStream's "unlimited"
	}
	version := l.nc.ConnectedServerVersion()
	compression := jetstream.NoCompression
	if c.Compression == CompressionS2 {
		if serverAtLeast(version, compressionMajor, compressionMinor) {
			compression = jetstream.S2Compression
		} else {
			l.log.Warn("event log stream compression needs NATS 2.10 or later; the server stores its blocks as written",
				slog.String(logKeyStream, c.Stream), slog.String("server_version", version))
		}
	}
	sc := jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "Crowd event log",
		Subjects:    []string{c.SubjectPrefix + ".*"},
		Retention:   jetstream.LimitsPolicy,
		// When a limit is hit the oldest events go, as in any log: the
		// ingest path must keep accepting. A consumer that falls that far
		// behind finds out from Consume (ErrSeqRemoved).
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		MaxAge:            c.MaxAge,
		MaxBytes:          maxBytes,
		MaxMsgs:           -1,
		MaxMsgsPerSubject: -1,
		Duplicates:        c.DuplicateWindow,
		Replicas:          c.Replicas,
		Metadata:          map[string]string{metaPartitions: want},
		// The server compresses a message block once it is full, in
		// the background: a publish never waits for it.
		Compression: compression,
		// Bulk batches are published all or nothing (PublishAtomic)
		// where the server can: 2.12 and later. An older server is
		// never sent the setting.
		AllowAtomicPublish: serverAtLeast(version, atomicMajor, atomicMinor),
	}
	defer func() {
		if l.stream != nil {
			l.atomic.Store(l.stream.CachedInfo().Config.AllowAtomicPublish)
		}
	}()
	existing, err := l.js.Stream(ctx, c.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		recordApplied(&sc)
		if l.stream, err = l.js.CreateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w", c.Stream, err)
		}
		l.log.Info("event log stream created", slog.String(logKeyStream, c.Stream), slog.Int("replicas", sc.Replicas),
			slog.Int64("max_age_ms", sc.MaxAge.Milliseconds()), slog.Int64("max_bytes", sc.MaxBytes), slog.Int64("duplicate_window_ms", sc.Duplicates.Milliseconds()),
			slog.String("compression", compressionName(sc.Compression)))
		return nil
	case err != nil:
		return fmt.Errorf("look up stream %s: %w", c.Stream, err)
	}
	found := existing.CachedInfo().Config
	// Servers older than 2.10 drop metadata; then there is nothing to
	// compare and we trust the config.
	if got, ok := found.Metadata[metaPartitions]; ok && got != want {
		return fmt.Errorf("stream %s was created with Partitions=%s, config has %s: changing it would move videos to other partitions", c.Stream, got, want)
	}
	next, changes, kept := reconcile(found, sc)
	l.log.Info("event log stream found", slog.String(logKeyStream, c.Stream), slog.Int("replicas", found.Replicas),
		slog.Int64("max_age_ms", found.MaxAge.Milliseconds()), slog.Int64("max_bytes", found.MaxBytes), slog.Int64("duplicate_window_ms", found.Duplicates.Milliseconds()),
		slog.String("compression", compressionName(found.Compression)))
	for _, k := range kept {
		l.log.Warn("event log stream setting left as found", slog.String(logKeyStream, c.Stream), slog.String("setting", k))
	}
	if len(changes) == 0 {
		l.stream = existing
		return nil
	}
	if l.stream, err = l.js.UpdateStream(ctx, next); err != nil {
		return fmt.Errorf("update stream %s (%s): %w", c.Stream, strings.Join(changes, ", "), err)
	}
	l.log.Info("event log stream updated", slog.String(logKeyStream, c.Stream), slog.String("changed", strings.Join(changes, ", ")))
	if next.Compression == found.Compression {
		return nil
	}
	// A stream's store takes its compression when the server loads the
	// stream, not from an update: without a reload the new setting would
	// be reported and not applied until the server's next restart. The
	// embedded server's JetStream is restarted here, before anything
	// publishes or consumes; it reloads the stream from its files (and
	// its dedupe window with it). Blocks already full stay as they were
	// written, and readable, until retention removes them; the one being
	// written is compressed when it is full.
	if l.ns.Load() == nil {
		l.log.Warn("event log stream compression changed: the NATS servers apply it to the blocks they write after their next restart",
			slog.String(logKeyStream, c.Stream), slog.String("compression", compressionName(next.Compression)))
		return nil
	}
	if err := l.restartServer(ctx); err != nil {
		return fmt.Errorf("apply stream %s compression: %w", c.Stream, err)
	}
	if l.stream, err = l.js.Stream(ctx, c.Stream); err != nil {
		return fmt.Errorf("look up stream %s after its compression changed: %w", c.Stream, err)
	}
	return nil
}

// compressionName is the name of a stream compression in Config.Compression
// and in the stream's metadata.
func compressionName(c jetstream.StoreCompression) string {
	if c == jetstream.S2Compression {
		return CompressionS2
	}
	return CompressionNone
}

// Stream metadata keys recording the values Crowd itself last gave the
// settings it derives from its configuration. A setting whose value still
// equals the recorded one was not changed by an operator, so a new
// configuration may change it; one that differs was changed by an operator
// (with the nats CLI, say) and is left alone.
const (
	metaMaxAge      = "crowd_max_age"
	metaMaxBytes    = "crowd_max_bytes"
	metaDuplicates  = "crowd_duplicate_window"
	metaCompression = "crowd_compression"
)

// recordApplied records sc's own settings in its metadata.
func recordApplied(sc *jetstream.StreamConfig) {
	if sc.Metadata == nil {
		sc.Metadata = map[string]string{}
	}
	sc.Metadata[metaMaxAge] = sc.MaxAge.String()
	sc.Metadata[metaMaxBytes] = strconv.FormatInt(sc.MaxBytes, 10)
	sc.Metadata[metaDuplicates] = sc.Duplicates.String()
	sc.Metadata[metaCompression] = compressionName(sc.Compression)
}

// reconcile returns the configuration an existing stream found should be
// updated to for the wanted one, what that changes, and the settings left
// as found although the configuration differs. The rules: the subjects are
// Crowd's (its partitioning depends on them); replicas are raised to the
// configured count and never lowered; maximum age, size, the duplicate
// window and compression follow the configuration unless an operator
// changed them on the stream (they differ from what Crowd recorded; with
// nothing recorded — servers before 2.10 keep no metadata, and Crowd
// recorded no compression before it set one — the configuration applies);
// every other setting stays as found.
func reconcile(found, want jetstream.StreamConfig) (jetstream.StreamConfig, []string, []string) {
	next := found
	next.Metadata = maps.Clone(found.Metadata)
	if next.Metadata == nil {
		next.Metadata = map[string]string{}
	}
	var changes, kept []string
	if !slices.Equal(found.Subjects, want.Subjects) {
		next.Subjects = want.Subjects
		changes = append(changes, fmt.Sprintf("subjects %v → %v", found.Subjects, want.Subjects))
	}
	switch {
	case want.Replicas > found.Replicas:
		next.Replicas = want.Replicas
		changes = append(changes, fmt.Sprintf("replicas %d → %d", found.Replicas, want.Replicas))
	case want.Replicas < found.Replicas:
		kept = append(kept, fmt.Sprintf("replicas %d (configured %d; replicas are never lowered)", found.Replicas, want.Replicas))
	}
	owned := func(name, key, have, wantS string, set func()) {
		if have == wantS {
			next.Metadata[key] = have
			return
		}
		if applied, ok := found.Metadata[key]; ok && applied != have {
			kept = append(kept, fmt.Sprintf("%s %s (configured %s; changed outside Crowd)", name, have, wantS))
			return
		}
		set()
		next.Metadata[key] = wantS
		changes = append(changes, fmt.Sprintf("%s %s → %s", name, have, wantS))
	}
	owned("max_age", metaMaxAge, found.MaxAge.String(), want.MaxAge.String(), func() { next.MaxAge = want.MaxAge })
	owned("max_bytes", metaMaxBytes, strconv.FormatInt(found.MaxBytes, 10), strconv.FormatInt(want.MaxBytes, 10), func() { next.MaxBytes = want.MaxBytes })
	owned("duplicate_window", metaDuplicates, found.Duplicates.String(), want.Duplicates.String(), func() { next.Duplicates = want.Duplicates })
	owned("compression", metaCompression, compressionName(found.Compression), compressionName(want.Compression), func() { next.Compression = want.Compression })
	// Atomic batches are turned on once the server can take them (a
	// stream made before the server's upgrade to 2.12), never off: bulk
	// batches depend on them.
	if want.AllowAtomicPublish && !found.AllowAtomicPublish {
		next.AllowAtomicPublish = true
		changes = append(changes, "allow_atomic false → true")
	}
	next.Metadata[metaPartitions] = want.Metadata[metaPartitions]
	// Servers before 2.10 drop metadata: recording there would update the
	// stream at every start for nothing.
	if _, keeps := found.Metadata[metaPartitions]; keeps && len(changes) == 0 && !maps.Equal(next.Metadata, found.Metadata) {
		changes = append(changes, "metadata")
	}
	return next, changes, kept
}

// Close drains the connection, waiting briefly for buffered messages to be
// flushed, and then shuts the embedded server down cleanly: an abrupt exit
// can leave JetStream's store needing recovery. Callers should stop
// publishing and consuming first. Close is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.close()
	})
	return l.closeErr
}

func (l *Log) close() error {
	var errs []error
	if l.nc != nil {
		if err := l.nc.Drain(); err != nil {
			// Already closed, or reconnecting with nothing to drain
			// to: close outright.
			if !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrConnectionReconnecting) {
				errs = append(errs, fmt.Errorf("drain: %w", err))
			}
		} else {
			select {
			case <-l.connClosed:
			case <-time.After(drainTimeout + time.Second):
			}
		}
		l.nc.Close() // no-op when the drain finished
	}
	if ns := l.ns.Load(); ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close event log: %w", err)
	}
	return nil
}

// Check reports whether the log is usable: open, connected, and able to
// read the stream's state. It is meant for readiness probes.
func (l *Log) Check(ctx context.Context) error {
	if l.closed.Load() {
		return fmt.Errorf("check event log: %w", ErrClosed)
	}
	if ns := l.ns.Load(); ns != nil && !ns.Running() {
		return errors.New("check event log: embedded server not running")
	}
	if s := l.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("check event log: connection %s", s)
	}
	if _, err := l.stream.Info(ctx); err != nil {
		return fmt.Errorf("check event log: %w", err)
	}
	return nil
}

// Recover makes the log usable again after its disk was full, once the
// caller has seen space come back, and then checks the stream answers. The
// embedded server's store refuses every write after one failed (its write
// error sticks until the stream is opened again), and the server may have
// disabled JetStream: after a publish failed for want of space, Recover
// restarts the embedded server, which reopens the stream from its files
// and stores the rest of an atomic batch the disk filled under while it
// was being stored (the server keeps the staged batch for that). With an
// external server it only checks: a server that failed a write is the
// operator's to restart.
func (l *Log) Recover(ctx context.Context) error {
	if l.closed.Load() {
		return fmt.Errorf("recover event log: %w", ErrClosed)
	}
	if ns := l.ns.Load(); ns != nil && (l.writeFailed.Load() || !ns.JetStreamEnabled()) {
		l.log.Warn("restarting the embedded event log server after a write failed for want of space")
		if err := l.restartServer(ctx); err != nil {
			return fmt.Errorf("recover event log: %w", err)
		}
		l.writeFailed.Store(false)
	}
	if _, err := l.stream.Info(ctx); err != nil {
		return fmt.Errorf("recover event log: %w", err)
	}
	return nil
}

// restartServer shuts the embedded server down and starts a new one on the
// same store (and the same port, when it listens), which reopens the stream
// from its files with its stored configuration; the connection follows it
// (currentServer), and the consumers running end (see restarted).
//
// The whole server is restarted, not only its JetStream: re-enabling
// JetStream on a running server rewrites the system account's service
// exports while client connections read them to route their messages,
// which nats-server does not guard (a data race the race detector finds).
// A new server sets JetStream up before any client connects.
func (l *Log) restartServer(ctx context.Context) error {
	old := l.ns.Load()
	cfg := l.cfg
	if a, ok := old.Addr().(*net.TCPAddr); ok && cfg.Listen != "" {
		// A random port stays the one clients were given.
		cfg.Listen = net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
	}
	old.Shutdown()
	old.WaitForShutdown()
	ns, err := startServer(ctx, cfg, cfg.Logger)
	if err != nil {
		return fmt.Errorf("restart embedded server: %w", err)
	}
	l.ns.Store(ns)
	// The connection is waiting between reconnect attempts (a second
	// apart): try now, and wait until it is back.
	_ = l.nc.ForceReconnect()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(readyTimeout)
	for l.nc.Status() != nats.CONNECTED {
		if time.Now().After(deadline) {
			return fmt.Errorf("restart embedded server: not reconnected after %v", readyTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart embedded server: %w", ctx.Err())
		case <-t.C:
		}
	}
	next := make(chan struct{})
	close(*l.restarted.Swap(&next))
	return nil
}

// currentServer makes the in-process connection to the embedded server
// current when it connects, so that it reconnects to a restarted one.
type currentServer struct{ l *Log }

func (c currentServer) InProcessConn() (net.Conn, error) {
	return c.l.ns.Load().InProcessConn()
}

// Info is a snapshot of the stream's state.
type Info struct {
	// FirstSeq is the sequence of the oldest message still stored; it
	// rises as retention removes messages. For an empty stream it is
	// LastSeq+1.
	FirstSeq uint64
	// LastSeq is the sequence of the newest message ever stored.
	LastSeq uint64
	// Msgs is the number of messages stored.
	Msgs uint64
	// Bytes is the stream's stored size.
	Bytes uint64
	// Created is when the stream was created. Sequences restart at 1 in a
	// recreated stream, so a consumer should store Created next to its
	// checkpoint and refuse to resume against a different stream.
	Created time.Time
}

// Info returns the stream's current state.
func (l *Log) Info(ctx context.Context) (Info, error) {
	if l.closed.Load() {
		return Info{}, fmt.Errorf("event log info: %w", ErrClosed)
	}
	si, err := l.stream.Info(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("event log info: %w", err)
	}
	return Info{
		FirstSeq: si.State.FirstSeq,
		LastSeq:  si.State.LastSeq,
		Msgs:     si.State.Msgs,
		Bytes:    si.State.Bytes,
		Created:  si.Created,
	}, nil
}

// Partition maps key (a video id) to a partition in [0, Partitions()). It is
// FNV-1a (32-bit) of the key's bytes modulo the partition count. It must
// never change: the partition decides the subject an event is stored under,
// and so which consumer owns a video once partitions are split between
// consumers.
func (l *Log) Partition(key string) int {
	return PartitionOf(key, l.cfg.Partitions)
}

// PartitionOf is Partition for a log of n partitions.
func PartitionOf(key string, n int) int {
	// FNV-1a inlined: hash/fnv would allocate a hasher per call on this
	// per-event path.
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= prime32
	}
	return int(h % uint32(n))
}

// Subject returns the subject of partition p, "<SubjectPrefix>.<p>". It
// panics if p is not in [0, Partitions()).
func (l *Log) Subject(p int) string {
	return l.subjects[p]
}

// MixedSubject returns the subject of messages whose events span
// partitions, "<SubjectPrefix>.mixed": the group commit of single events,
// where one message (so one fsync) for all of them is the point. A consumer
// of some partitions reads this subject too and keeps the events of its
// partitions.
func (l *Log) MixedSubject() string {
	return l.cfg.SubjectPrefix + ".mixed"
}

// LastSeqOn returns the stream sequence of the newest message stored on
// subject, or 0 if there is none.
func (l *Log) LastSeqOn(ctx context.Context, subject string) (uint64, error) {
	if l.closed.Load() {
		return 0, fmt.Errorf("event log last message: %w", ErrClosed)
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("event log last message on %s: %w", subject, err)
	}
	return m.Sequence, nil
}

// Partitions returns the number of partitions.
func (l *Log) Partitions() int {
	return l.cfg.Partitions
}

// serverLogger routes the embedded server's log lines to slog. Its notices
// (a start-up banner of some twenty lines, then routine events) go to Debug
// so they do not drown Crowd's own Info lines.
type serverLogger struct{ log *slog.Logger }

func (s serverLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if s.log.Enabled(ctx, level) {
		s.log.Log(ctx, level, fmt.Sprintf(format, v...))
	}
}

func (s serverLogger) Noticef(format string, v ...any) { s.logf(slog.LevelDebug, format, v) }
func (s serverLogger) Warnf(format string, v ...any)   { s.logf(slog.LevelWarn, format, v) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.logf(slog.LevelError, format, v) }
func (s serverLogger) Errorf(format string, v ...any)  { s.logf(slog.LevelError, format, v) }
func (s serverLogger) Debugf(format string, v ...any)  { s.logf(slog.LevelDebug, format, v) }
func (s serverLogger) Tracef(format string, v ...any)  { s.logf(slog.LevelDebug, format, v) }
