// Package config holds Crowd's configuration: one struct with defaults,
// filled from command-line flags and CROWD_* environment variables, and
// validated once at start. It is passed down as a value, never global.
package config

import (
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode is a disclosure mode: what the numbers Crowd releases are. It is
// chosen per data dir (--disclosure) and recorded in the database, so a
// switch is seen (internal/app CheckDisclosure). What each mode releases is
// internal/disclosure's to say (docs/PRIVACY.md); internal/disclosure also
// names the state protected mode is in before it has its noise keys.
//
// Mode lives here, not in internal/disclosure, because config parses it and
// stays free of the packages that release numbers.
type Mode string

// The disclosure modes. No other value is valid: ParseMode and Validate
// refuse anything else.
const (
	// Protected releases public-identity metrics (likes, comments) exactly
	// and views, viewers, shares and saves only as noisy cells published
	// after their periods close. It is the default.
	Protected Mode = "protected"
	// Exact releases exact aggregates in real time.
	Exact Mode = "exact"
)

// ParseMode returns the mode named s, which must be "protected" or "exact"
// exactly (no other spelling or case).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Protected, Exact:
		return m, nil
	}
	return "", fmt.Errorf("disclosure %q: must be protected or exact", s)
}

// String returns the mode's name.
func (m Mode) String() string { return string(m) }

// Set stores s as the mode, unchecked: it is the flag.Value of
// --disclosure, and Validate refuses a bad value with the same message as
// every other field's ("disclosure \"x\": must be protected or exact")
// rather than the flag package's, which also prints the usage.
func (m *Mode) Set(s string) error {
	*m = Mode(s)
	return nil
}

// Config is the configuration of a Crowd process.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string
	// AdminAddr is the operator listener's address: /metrics is served
	// there and only there, never on Addr. "" (or "off") turns it off.
	AdminAddr string
	// Data is the data directory: the SQLite database, the embedded event
	// log and the secrets (kept in their own subdirectory, apart from the
	// database).
	Data string
	// SecretsDir holds the pseudonym key, the daily salts and the noise
	// keys; "" means <Data>/secrets. In production it belongs outside the
	// data dir, so a copy of the data (a backup) cannot re-identify
	// anyone. See Secrets.
	SecretsDir string
	// Disclosure is the disclosure mode, Protected (the default) or Exact.
	Disclosure Mode
	// NATSURL selects an external NATS JetStream cluster for the event log.
	NATSURL string
	// NATSStream names the event log's stream; its subjects are
	// "<lower-case name>.<partition>". Several deployments can share one
	// NATS cluster with different names.
	NATSStream string
	// StreamReplicas is the event log stream's replica count on an external
	// NATS cluster: a new stream is created with it, an existing one is
	// raised to it and never lowered (an operator's higher count stays).
	StreamReplicas int
	// PostgresURL selects PostgreSQL instead of SQLite.
	PostgresURL string
	// Demo fills an empty data dir with the demo world first.
	Demo bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogRetention bounds how long the event log keeps events; aggregation
	// must consume them within it.
	LogRetention time.Duration
	// LogCompression is how the event log's stream stores its message
	// blocks: "s2" (the default; each block compressed once full) or
	// "none". An existing stream follows it from the next start, for the
	// blocks written from then on (internal/eventlog, Config.Compression).
	LogCompression string
	// SessionTTL is how long a login session lasts.
	SessionTTL time.Duration
	// LoginPerMinute bounds login attempts per client address; attempts on
	// one handle from addresses that never logged in to it share a looser
	// budget (see security.LoginThrottle).
	LoginPerMinute int
	// RegisterPerMinute bounds registrations (POST /v1/accounts) per client
	// address.
	RegisterPerMinute int
	// AnonViewsPerMinute bounds anonymous views (POST /v1/videos/{id}/views
	// without a credential, GET /s/{id}) per client address; beyond it they
	// are refused with 429 and not counted.
	AnonViewsPerMinute int
	// AnalyticsPerMinute bounds analytics reads (GET /v1/analytics/...)
	// per token (session or app token); beyond it they are refused with 429.
	AnalyticsPerMinute int
	// MaxBodyBytes bounds JSON request bodies.
	MaxBodyBytes int64
	// BulkMinRate is the slowest a bulk body (POST /v1/events,
	// /v1/sync/*) may arrive, in bytes a second after a grace of a few
	// seconds; a slower one is answered 408. Bodies are read whole before
	// a bulk slot is taken, so a slow one holds only its own memory.
	BulkMinRate int64
	// PublicURL is the base of share URLs; empty means http://<Addr>.
	PublicURL string
	// MemoryLimitMiB is the Go runtime's soft memory limit (0: none). The
	// garbage collector works harder near it instead of letting the heap
	// double; GOMEMLIMIT, when set, takes precedence.
	MemoryLimitMiB int64
	// StateLimit bounds the event ids and the viewer-days aggregation
	// holds in memory (each); beyond it the oldest spill to the database.
	// 12M keeps each table at 2²⁴ slots: at most 160 MiB of event ids and
	// 224 MiB of viewer-days.
	StateLimit int
	// DirectoryLimit bounds the accounts ingestion holds in memory
	// (internal/directory: a 16-byte slot in a table 3/8 to 3/4 full, and
	// the id's bytes: 49 bytes each for a million ids of 15 bytes, at most
	// about 100 MiB for 2M such). Past it the directory is a cache of the
	// accounts last looked up, and the others are read from the database.
	DirectoryLimit int
	// AggregatePartitions names the event log partitions this process
	// aggregates: "all", or a list of partitions and ranges such as
	// "0-7" or "0,2,4-5". Processes on one PostgreSQL and one NATS cluster
	// split the work by owning disjoint sets; each partition has its own
	// checkpoint, so the split can change between runs.
	AggregatePartitions string
	// AllowExactAfterProtected lets a data dir that released protected
	// (noisy) numbers switch to exact mode. Exact numbers subtracted from
	// the noisy ones already out give the noise away, so the switch is
	// refused unless the operator asks for it with this.
	AllowExactAfterProtected bool
	// MaxLag bounds aggregation's backlog in time: while the log messages
	// waiting would take aggregation longer than this to apply (at the
	// rate it measures while applying), bulk ingestion is refused with
	// 429. It bounds what a restart after a crash has to catch up before
	// it is ready, and how stale exact-mode numbers get under a burst.
	MaxLag time.Duration
	// DiskReserveMiB is the free space of the data dir's filesystem below
	// which the disk counts as full: writes are refused with 503 before
	// they start, so none is left half done, and /readyz reports it.
	DiskReserveMiB int64
}

// AdminOff reports whether the operator listener is turned off.
func (c Config) AdminOff() bool { return c.AdminAddr == "" || c.AdminAddr == "off" }

// Secrets returns the directory of the secrets: SecretsDir, or
// <Data>/secrets when it is not set.
func (c Config) Secrets() string {
	if c.SecretsDir != "" {
		return c.SecretsDir
	}
	return filepath.Join(c.Data, "secrets")
}

// Default returns the default configuration.
func Default() Config {
	return Config{
		Addr:           "127.0.0.1:8080",
		AdminAddr:      "127.0.0.1:9464",
		Data:           "./crowd-data",
		Disclosure:     Protected,
		NATSStream:     "CROWD_EVENTS",
		StreamReplicas: 1,
		LogLevel:       "info",
		LogRetention:   7 * 24 * time.Hour,
		// S2 takes a quarter off the log's disk per event for about 1%
		// of the ingest path's CPU (docs/PERFORMANCE.md, "The event log
		// compressed").
		LogCompression: "none",
		SessionTTL:     30 * 24 * time.Hour,
		LoginPerMinute: 10,
		// Ten registrations a minute is far more than one person needs and
		// bounds the password hashing one address can cause.
		RegisterPerMinute: 10,
		// Two views a second from one address, sustained, is more than a
		// household watching short videos.
		AnonViewsPerMinute: 120,
		// Ten reports a second, sustained, per token: far more than a
		// studio page or an integration's nightly export needs, and it
		// bounds what one leaked or looping token can make the server build.
		AnalyticsPerMinute: 600,
		MaxBodyBytes:       64 << 10,
		// 64 KiB/s: a 10,000-event batch (about 3 MB) in under a minute
		// even on a poor link; a datacenter sends it in milliseconds.
		BulkMinRate:    64 << 10,
		MemoryLimitMiB: 1536,
		StateLimit:     12_000_000,
		DirectoryLimit: 2_000_000,
		DiskReserveMiB: 64,
		// Six seconds of aggregation (docs/OPERATIONS.md, Backpressure):
		// in the realistic bench a crash restart was ready in 4.4-9.2 s
		// with it, inside its 10 s target, and bulk ingestion kept its
		// throughput; at 3 s the restart took 5-6.5 s but bulk
		// ingestion lost a fifth, its batches (what waits) too small.
		MaxLag: DefaultMaxLag,

		AggregatePartitions: "all",
	}
}

// Flags registers the flags of the serve command on fs, bound to c.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, `operator listener address, serving /metrics (never on --addr); "" or "off" turns it off`)
	c.DataFlag(fs)
	c.SecretsFlag(fs)
	c.DisclosureFlags(fs)
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "external NATS JetStream URL (default: embedded server)")
	fs.StringVar(&c.NATSStream, "nats-stream", c.NATSStream, "event log stream name")
	c.ReplicasFlag(fs)
	c.CompressionFlag(fs)
	fs.StringVar(&c.PostgresURL, "postgres-url", c.PostgresURL, "PostgreSQL URL (default: embedded SQLite)")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "fill an empty data dir with the demo world first")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.DurationVar(&c.LogRetention, "log-retention", c.LogRetention, "how long the event log keeps events")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "login session lifetime")
	fs.IntVar(&c.LoginPerMinute, "login-per-minute", c.LoginPerMinute, "login attempts allowed per minute per client address")
	fs.IntVar(&c.RegisterPerMinute, "register-per-minute", c.RegisterPerMinute, "registrations allowed per minute per client address")
	fs.IntVar(&c.AnonViewsPerMinute, "anon-views-per-minute", c.AnonViewsPerMinute, "anonymous views counted per minute per client address (beyond: 429, not counted)")
	fs.IntVar(&c.AnalyticsPerMinute, "analytics-per-minute", c.AnalyticsPerMinute, "analytics reads (GET /v1/analytics/...) allowed per minute per session or app token (beyond: 429)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest JSON request body accepted")
	fs.Int64Var(&c.BulkMinRate, "bulk-min-rate", c.BulkMinRate, "slowest accepted transfer rate of a bulk body (events, sync), in bytes per second after a 5 s grace; slower bodies get 408")
	fs.IntVar(&c.StateLimit, "state-limit", c.StateLimit, "event ids and viewer-days aggregation holds in memory, each, before the oldest spill to the database")
	c.DirectoryFlag(fs)
	c.MemoryFlag(fs)
	fs.StringVar(&c.AggregatePartitions, "aggregate-partitions", c.AggregatePartitions, `event log partitions this process aggregates: "all", or partitions and ranges such as "0-7" or "0,2,4-5" (of 16)`)
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL of share links (default http://ADDR)")
	fs.DurationVar(&c.MaxLag, "max-lag", c.MaxLag, "longest backlog aggregation may have, as the time it takes to apply it at its measured rate; beyond it bulk events get 429 (between 250ms and 10m)")
	fs.Int64Var(&c.DiskReserveMiB, "disk-reserve-mib", c.DiskReserveMiB, "free space (MiB) of the data dir's filesystem below which writes are refused with 503 disk_full until space is freed")
}

// ReplicasFlag registers --stream-replicas, for commands that open the
// event log.
func (c *Config) ReplicasFlag(fs *flag.FlagSet) {
	fs.IntVar(&c.StreamReplicas, "stream-replicas", c.StreamReplicas, "event log stream replicas on an external NATS cluster (1-5): a new stream gets it, an existing one is raised to it, never lowered")
}

// CompressionFlag registers --log-compression, for commands that open the
// event log.
func (c *Config) CompressionFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.LogCompression, "log-compression", c.LogCompression, "event log block compression: s2 (each full block compressed by the NATS server) or none; an existing stream follows it for the blocks written from the next start on")
}

// DirectoryFlag registers --directory-limit, for commands that ingest
// events.
func (c *Config) DirectoryFlag(fs *flag.FlagSet) {
	fs.IntVar(&c.DirectoryLimit, "directory-limit", c.DirectoryLimit, "accounts ingestion holds in memory (22-43 bytes each and the id's length); beyond it the others are looked up in the database")
}

// MemoryFlag registers --memory-limit-mib, for commands that hold
// aggregation's state: crowd serve and crowd import.
func (c *Config) MemoryFlag(fs *flag.FlagSet) {
	fs.Int64Var(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "soft memory limit of the Go runtime in MiB (0: none; GOMEMLIMIT takes precedence)")
}

// DataFlag registers only --data, for commands that need nothing else.
func (c *Config) DataFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", c.Data, "data directory")
}

// SecretsFlag registers --secrets-dir, for commands that use the secrets.
func (c *Config) SecretsFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.SecretsDir, "secrets-dir", c.SecretsDir, "directory of the pseudonym key, daily salts and noise keys (default DATA/secrets; keep it outside the data dir in production, and never back it up with the data)")
}

// DisclosureFlags registers --disclosure and --allow-exact-after-protected,
// for commands that release numbers.
func (c *Config) DisclosureFlags(fs *flag.FlagSet) {
	fs.Var(&c.Disclosure, "disclosure", "disclosure mode: protected or exact")
	fs.BoolVar(&c.AllowExactAfterProtected, "allow-exact-after-protected", c.AllowExactAfterProtected, "let a data dir that released protected (noisy) numbers switch to exact mode (exact numbers subtracted from the noisy ones give the noise away)")
}

// Parse parses args into fs and then, for every flag not given on the
// command line, reads CROWD_<FLAG> (upper case, '-' as '_') from getenv.
// Flags may come in any order; an argument that is not a flag is an error
// that names it (a command taking arguments uses ParseArgs).
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	pos, err := ParseArgs(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with -)", pos[0])
	}
	return nil
}

// ParseArgs is Parse for commands that take arguments besides flags: flags
// may come before, between and after them (the flag package alone stops at
// the first argument and would silently leave the flags after it unset),
// and it returns the arguments in order. Everything after "--" is an
// argument.
func ParseArgs(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, readEnv(fs, getenv)
}

// readEnv sets every flag of fs not given on the command line from
// CROWD_<FLAG>.
func readEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := "CROWD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// Validate checks the configuration, naming the field and value at fault.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if !c.AdminOff() {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			return fmt.Errorf("admin-addr %q: %w", c.AdminAddr, err)
		}
	}
	if c.DiskReserveMiB < 0 {
		return fmt.Errorf("disk-reserve-mib %d: must not be negative", c.DiskReserveMiB)
	}
	if c.Data == "" {
		// Even with PostgreSQL and external NATS the data dir holds the
		// secrets, which must stay apart from the database.
		return fmt.Errorf("data: required")
	}
	if _, err := ParseMode(string(c.Disclosure)); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: must be debug, info, warn or error", c.LogLevel)
	}
	for _, r := range c.NATSStream {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("nats-stream %q: use letters, digits, '_' and '-'", c.NATSStream)
		}
	}
	if c.NATSStream == "" {
		return fmt.Errorf("nats-stream: required")
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		return fmt.Errorf("stream-replicas %d: must be between 1 and 5", c.StreamReplicas)
	}
	if c.StreamReplicas > 1 && c.NATSURL == "" {
		return fmt.Errorf("stream-replicas %d: the embedded event log is one server; replicas need an external NATS cluster (--nats-url)", c.StreamReplicas)
	}
	if c.StateLimit < 1000 {
		return fmt.Errorf("state-limit %d: must be at least 1000", c.StateLimit)
	}
	if c.DirectoryLimit < 1000 {
		return fmt.Errorf("directory-limit %d: must be at least 1000", c.DirectoryLimit)
	}
	if _, err := ParsePartitions(c.AggregatePartitions, MaxPartitions); err != nil {
		return fmt.Errorf("aggregate-partitions %q: %w", c.AggregatePartitions, err)
	}
	if c.MemoryLimitMiB < 0 {
		return fmt.Errorf("memory-limit-mib %d: must not be negative", c.MemoryLimitMiB)
	}
	switch c.LogCompression {
	case "s2", "none":
	default:
		return fmt.Errorf("log-compression %q: must be s2 or none", c.LogCompression)
	}
	if c.MaxLag < MinMaxLag || c.MaxLag > MaxMaxLag {
		return fmt.Errorf("max-lag %s: must be between %s and %s", c.MaxLag, MinMaxLag, MaxMaxLag)
	}
	if c.LogRetention < time.Hour {
		return fmt.Errorf("log-retention %s: must be at least 1h", c.LogRetention)
	}
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("session-ttl %s: must be at least 1m", c.SessionTTL)
	}
	if c.LoginPerMinute < 1 {
		return fmt.Errorf("login-per-minute %d: must be at least 1", c.LoginPerMinute)
	}
	if c.RegisterPerMinute < 1 {
		return fmt.Errorf("register-per-minute %d: must be at least 1", c.RegisterPerMinute)
	}
	if c.AnonViewsPerMinute < 1 {
		return fmt.Errorf("anon-views-per-minute %d: must be at least 1", c.AnonViewsPerMinute)
	}
	if c.AnalyticsPerMinute < 1 {
		return fmt.Errorf("analytics-per-minute %d: must be at least 1", c.AnalyticsPerMinute)
	}
	if c.BulkMinRate < 1 {
		return fmt.Errorf("bulk-min-rate %d: must be at least 1 byte per second", c.BulkMinRate)
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("max-body-bytes %d: must be at least 1024", c.MaxBodyBytes)
	}
	return nil
}

// The bounds of --max-lag, and its default. Below 250 ms the bound is
// finer than the lag is measured (every 250 ms) and than a batch of
// aggregation takes, and ingestion would stop and go with every batch;
// above 10 minutes it no longer bounds anything an operator waits for
// (the backlog's hard ceiling in messages, 2,000, usually comes first).
const (
	MinMaxLag     = 250 * time.Millisecond
	MaxMaxLag     = 10 * time.Minute
	DefaultMaxLag = 6 * time.Second
)

// MaxPartitions bounds the partition numbers ParsePartitions accepts
// without knowing the event log; the log itself has 16 unless configured
// otherwise, and the aggregator checks against it.
const MaxPartitions = 4096

// ParsePartitions parses a set of partitions below n: "all" (nil), or a
// comma-separated list of partitions and inclusive ranges ("0-7,9").
func ParsePartitions(s string, n int) ([]int, error) {
	if s == "all" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		from, err := strconv.Atoi(lo)
		if err != nil || from < 0 {
			return nil, fmt.Errorf("%q: want a partition number or a range such as 0-7", part)
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(hi); err != nil || to < from {
				return nil, fmt.Errorf("%q: want a range such as 0-7", part)
			}
		}
		if to >= n {
			return nil, fmt.Errorf("partition %d: partitions are 0 to %d", to, n-1)
		}
		for p := from; p <= to; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}
