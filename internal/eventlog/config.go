package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Open to zero-valued Config fields.
const (
	// DefaultStream is the JetStream stream name.
	DefaultStream = "CROWD_EVENTS"
	// DefaultSubjectPrefix is the first part of every event subject.
	DefaultSubjectPrefix = "crowd.events"
	// DefaultPartitions is enough for a handful of consumers to split the
	// videos between them later, while keeping one small subject per
	// partition. It cannot be changed for an existing stream.
	DefaultPartitions = 16
	// DefaultMaxAge keeps a week of events: long enough to rebuild the
	// rollups after a bad deploy or a lost database, short enough that the
	// raw, per-viewer events do not outlive their purpose.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultDuplicateWindow is how long a Nats-Msg-Id is remembered. It
	// has to outlast a client's retries (including a process restart),
	// but each remembered id costs about 115 bytes of server memory and is
	// rescanned from disk when the server starts, so it is minutes, not
	// hours.
	DefaultDuplicateWindow = 10 * time.Minute
	// DefaultReplicas is right for the embedded single server; external
	// clusters usually use 3.
	DefaultReplicas = 1
	// DefaultCompression stores the stream's message blocks as written.
	// S2 takes about a quarter off the log's disk per event (115 to 88
	// bytes in the realistic world; the hashes in a record are random),
	// but in the realistic bench a start's opening of the log took 1.3-2.5 s
	// instead of 0.2-0.5 s at 4.6M events (the restart target is 10 s, and
	// the log grows with events), and the import's log write leaned the
	// same way (docs/PERFORMANCE.md, "Changes", "The event log
	// compressed"). It is there for a data dir short of disk:
	// --log-compression s2.
	DefaultCompression = CompressionNone
)

// The values of Config.Compression.
const (
	// CompressionS2 has the server compress each message block with S2
	// once the block is full (8 MiB of messages), off the publish path;
	// the block being written stays as written until then.
	CompressionS2 = "s2"
	// CompressionNone stores message blocks as written.
	CompressionNone = "none"
)

// maxPartitions bounds Config.Partitions. Each partition is one subject, and
// far more partitions than consumers buys nothing.
const maxPartitions = 4096

// Config configures the event log. The zero value of every field but Dir
// (or URL) means "use the default".
type Config struct {
	// Dir is the JetStream store directory of the embedded server. It is
	// required in embedded mode (URL empty) and must not be shared with
	// another running server.
	Dir string
	// URL lists external NATS servers, comma-separated. Empty runs an
	// embedded server inside this process.
	URL string
	// Stream is the JetStream stream name; default DefaultStream.
	Stream string
	// SubjectPrefix is the subject prefix; subjects are
	// "<SubjectPrefix>.<partition>". Default DefaultSubjectPrefix.
	SubjectPrefix string
	// Partitions is the number of subject partitions; default
	// DefaultPartitions. It must not change for an existing stream.
	Partitions int
	// MaxAge is how long the log keeps a message; default DefaultMaxAge.
	MaxAge time.Duration
	// MaxBytes caps the stream's size; the oldest messages are dropped
	// beyond it. 0 means unlimited.
	MaxBytes int64
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id to drop
	// a republished message; default DefaultDuplicateWindow. It must not
	// exceed MaxAge.
	DuplicateWindow time.Duration
	// Replicas is the stream's replication factor; default DefaultReplicas.
	Replicas int
	// Compression is how the stream stores its message blocks,
	// CompressionS2 or CompressionNone; default DefaultCompression. It
	// needs NATS 2.10 or later: an older server keeps its blocks as
	// written whatever this says. A change applies to the blocks written
	// after it, never to those already full, which stay readable as they
	// are until retention removes them.
	Compression string
	// Listen, in embedded mode only, is an optional "host:port" on which
	// the embedded server also accepts TCP clients (port 0 picks a free
	// one), e.g. for the nats CLI. Empty means no listener at all.
	Listen string
	// Logger receives the log's own messages and the embedded server's.
	// Nil discards them.
	Logger *slog.Logger
	// WriteGuard, when set, is asked before every Publish; an error
	// refuses the whole batch before any message is sent (the disk is
	// full).
	WriteGuard func() error
	// WriteFault, when set, is asked before every message a publish
	// sends; an error fails the publish there as if the server had failed
	// that write (tests inject ENOSPC with it, also part-way through a
	// batch).
	WriteFault func() error
	// DiskFull, when set, is told of every Publish that failed for want
	// of space.
	DiskFull func(error)
}

// PartitionCount returns the partitions a log opened with c has
// (Partitions, or DefaultPartitions if it is 0), before it is opened.
func (c Config) PartitionCount() int { return c.withDefaults().Partitions }

// withDefaults returns c with zero-valued fields set to their defaults.
// Negative values are left alone so that Validate reports them.
func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every invalid field of c, each naming the field and its
// value. It does not apply defaults: Open calls it after withDefaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, why string) {
		errs = append(errs, fmt.Errorf("%s %v: %s", field, value, why))
	}
	if c.URL == "" && c.Dir == "" {
		bad("Dir", strconv.Quote(c.Dir), "required when URL is empty (embedded mode)")
	}
	if c.URL != "" && c.Listen != "" {
		bad("Listen", strconv.Quote(c.Listen), "only applies to the embedded server (URL is set)")
	}
	if c.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil {
			bad("Listen", strconv.Quote(c.Listen), "want host:port")
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("Listen", strconv.Quote(c.Listen), "port must be 0-65535")
		}
	}
	if c.Stream == "" || strings.ContainsAny(c.Stream, ".*> \t\r\n/\\") {
		bad("Stream", strconv.Quote(c.Stream), "must be non-empty without '.', '*', '>', '/', '\\' or whitespace")
	}
	if !validSubjectPrefix(c.SubjectPrefix) {
		bad("SubjectPrefix", strconv.Quote(c.SubjectPrefix), "must be dot-separated non-empty tokens without '*', '>' or whitespace")
	}
	if c.Partitions < 1 || c.Partitions > maxPartitions {
		bad("Partitions", c.Partitions, fmt.Sprintf("must be between 1 and %d", maxPartitions))
	}
	if c.MaxAge <= 0 {
		bad("MaxAge", c.MaxAge, "must be positive")
	}
	if c.MaxBytes < 0 {
		bad("MaxBytes", c.MaxBytes, "must be 0 (unlimited) or positive")
	}
	if c.DuplicateWindow <= 0 {
		bad("DuplicateWindow", c.DuplicateWindow, "must be positive")
	} else if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		bad("DuplicateWindow", c.DuplicateWindow, fmt.Sprintf("must not exceed MaxAge %v", c.MaxAge))
	}
	// JetStream supports at most 5 replicas.
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("Replicas", c.Replicas, "must be between 1 and 5")
	}
	if c.Compression != CompressionS2 && c.Compression != CompressionNone {
		bad("Compression", strconv.Quote(c.Compression), "must be s2 or none")
	}
	if len(errs) > 0 {
		return fmt.Errorf("event log config: %w", errors.Join(errs...))
	}
	return nil
}

// validSubjectPrefix reports whether p is a literal NATS subject.
func validSubjectPrefix(p string) bool {
	if p == "" || strings.ContainsAny(p, "*> \t\r\n") {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}
