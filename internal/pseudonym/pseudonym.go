package pseudonym

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/secretfile"
)

const (
	// KeyFile is the name of the long-term key file in the secrets
	// directory: 32 raw random bytes. Losing it changes every Actor and
	// AccountDay pseudonym, so back it up with the database.
	KeyFile = "pseudonym.key"
	// SaltsFile is the name of the daily salts file in the secrets
	// directory: a JSON object {"days": {UTC day ("2006-01-02"): {"salt":
	// base64 32-byte salt, "used": the hour it was last used}}, "closed":
	// [days whose salts were destroyed]}. Losing it reopens every
	// closed day and splits the open days' viewers in two; back it up with
	// the database if that matters.
	SaltsFile = "salts.json"

	// DefaultSaltRetention is how long PruneSalts should keep a day's salt
	// after the day has ended. Events arrive late (offline clients,
	// consumer restarts, retries); 72 hours lets late views of the past
	// three days still deduplicate against earlier ones, and is short
	// enough that viewer-day hashes become unlinkable within days.
	DefaultSaltRetention = 72 * time.Hour

	// DefaultSaltIdle is how long PruneSalts should keep a salt after its
	// last use, however old its day: a history import of old days (which
	// can take hours, or run in several files) keeps its days' salts while
	// it runs, and they are destroyed a day after it finished. Last use is
	// kept to the hour.
	DefaultSaltIdle = 24 * time.Hour

	// keyLen and saltLen match SHA-256's output: an HMAC key longer than
	// the hash adds nothing, a shorter one gives away margin.
	keyLen  = 32
	saltLen = 32
	// pseudonymLen truncates the MAC to 128 bits: collisions stay
	// negligible (birthday bound 2^64) at half the storage of a full tag,
	// and a pseudonym is an index key in every rollup table.
	pseudonymLen = 16

	dayLayout = "2006-01-02"
	oneDay    = 24 * time.Hour
)

// ErrDayClosed means a day's salt was destroyed: the day accepts no more
// events that need it, since they could not be told apart from the views
// counted before, and would count the same viewer twice.
var ErrDayClosed = errors.New("day closed: its viewer salt was destroyed")

// Domain labels, one per kind of pseudonym, so that equal inputs never
// give equal pseudonyms of different kinds.
const (
	labelActor      = "actor"
	labelAccountDay = "account-day"
	labelViewerDay  = "viewer-day"
	labelEventID    = "event-id"
)

// Pseudonymizer computes pseudonyms of account ids from secrets kept in a
// directory. It is safe for concurrent use. Printing it with fmt or
// log/slog shows "[redacted]".
type Pseudonymizer struct {
	dir string
	now func() time.Time
	key *secret // long-term key; never changes after Open
	mac *keyed  // HMAC under key

	// mu guards salts, closed and the salts file. Readers hold it while
	// they use a salt, so PruneSalts can wipe a salt's bytes once it holds
	// mu.
	mu     sync.RWMutex
	salts  map[string]*daySalt // by UTC day, dayLayout
	closed map[string]bool     // days whose salts were destroyed
}

// daySalt is one day's salt and the Unix hour it was last used in (a
// coarse clock, so that using a salt rarely rewrites the file).
type daySalt struct {
	salt *secret
	mac  *keyed // HMAC under salt
	used atomic.Int64
}

func newDaySalt(salt *secret) *daySalt {
	return &daySalt{salt: salt, mac: newKeyed(*salt)}
}

// Open opens the secrets directory dir, creating it with mode 0700 if
// needed, and loads the long-term key and the daily salts, creating them
// on first use. now is the clock PruneSalts measures retention against
// (nil means time.Now).
//
// Open tightens the modes of existing files to 0600 and of dir to 0700,
// and removes temporary files a crash may have left, which can hold salts
// that were meant to be destroyed. It refuses to create a new key when
// salts already exist, because a missing key in a used directory means
// the key was lost and a new one would silently split every actor's
// history in two; restore pseudonym.key from a backup instead.
func Open(dir string, now func() time.Time) (*Pseudonymizer, error) {
	if now == nil {
		now = time.Now
	}
	p, err := open(dir, now)
	if err != nil {
		return nil, fmt.Errorf("open pseudonymizer: %w", err)
	}
	return p, nil
}

func open(dir string, now func() time.Time) (*Pseudonymizer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// MkdirAll leaves an existing directory's mode alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	var p *Pseudonymizer
	// Under the directory's lock: another process sharing the directory
	// may be creating the key or writing the salts right now.
	err := withDirLock(dir, func() error {
		if err := secretfile.RemoveTemps(dir, KeyFile, SaltsFile); err != nil {
			return err
		}
		salts, closed, saltsExisted, err := loadSalts(dir)
		if err != nil {
			return err
		}
		key, err := loadKey(dir, saltsExisted)
		if err != nil {
			return err
		}
		p = &Pseudonymizer{dir: dir, now: now, key: key, mac: newKeyed(*key), salts: salts, closed: closed}
		if !saltsExisted {
			return p.saveSalts(salts, closed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Actor returns the pseudonym of accountID acting on videoID: the same
// for the same account and video, forever. Rollups use it to count a share
// or save once per account and video, and to net likes against unlikes.
func (p *Pseudonymizer) Actor(accountID, videoID string) string {
	return begin().field(labelActor).field(accountID).field(videoID).finish(p.mac, "")
}

// AccountDay returns the pseudonym of accountID's first shares and saves
// on day's UTC date, whatever the video and whoever its creators. Rollups use
// it to cap one account's counted contributions per day across all videos,
// which bounds what any one reader (an owner, a co-creator of many owners'
// videos) can learn about that account's day. It is keyed with the
// long-term key, and so stays stable for late and re-imported events.
func (p *Pseudonymizer) AccountDay(accountID string, day time.Time) string {
	return begin().field(labelAccountDay).field(accountID).day(day.UTC()).finish(p.mac, "")
}

// EventID returns the keyed hash of an event id the platform chose (the
// id of an event posted to POST /v1/events or imported), which is what
// Crowd stores and deduplicates by in place of the id itself: platform ids
// may embed account ids or other personal data. It is keyed with the
// long-term key, so the same id gives the same hash across retries and
// restarts, and without the key it cannot be recomputed from a guessed id.
func (p *Pseudonymizer) EventID(platformID string) string {
	return p.PrefixedEventID("", platformID)
}

// PrefixedEventID returns prefix followed by EventID(platformID), in one
// allocation.
func (p *Pseudonymizer) PrefixedEventID(prefix, platformID string) string {
	return begin().field(labelEventID).field(platformID).finish(p.mac, prefix)
}

// ViewerDay returns the pseudonym of accountID viewing videoID on day's
// UTC date, keyed with that day's random salt. Rollups use it to count
// distinct viewers and to cap views per viewer, video and day.
//
// The first call for a day creates its salt and writes it to the salts
// file before returning; an error means it could not be persisted, and the
// view should be retried rather than counted under a salt that a restart
// would lose. Each call records the hour of use (OpenDay). A day whose salt
// PruneSalts destroyed is closed: ViewerDay returns ErrDayClosed, and the
// view must be refused, never counted under a fresh salt whose pseudonyms
// would not match the day's earlier ones.
func (p *Pseudonymizer) ViewerDay(accountID, videoID string, day time.Time) (string, error) {
	d, err := checkDay(day)
	if err != nil {
		return "", fmt.Errorf("viewer day: %w", err)
	}
	var kb [len(dayLayout)]byte
	key := d.AppendFormat(kb[:0], dayLayout)
	p.mu.RLock()
	if ds := p.salts[string(key)]; ds != nil && ds.used.Load() >= p.hour() {
		defer p.mu.RUnlock()
		return begin().field(labelViewerDay).field(accountID).field(videoID).day(d).finish(ds.mac, ""), nil
	}
	p.mu.RUnlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	ds, err := p.openDayLocked(string(key))
	if err != nil {
		return "", fmt.Errorf("viewer day: %w", err)
	}
	return begin().field(labelViewerDay).field(accountID).field(videoID).day(d).finish(ds.mac, ""), nil
}

// OpenDay makes sure day's UTC date has a salt and records its use now, as
// ViewerDay does: a day whose events keep per-day state in aggregation
// (views, and the per-creator daily cap of shares and saves) is closed
// only once nothing used it for a while. It returns ErrDayClosed for a
// closed day.
func (p *Pseudonymizer) OpenDay(day time.Time) error {
	d, err := checkDay(day)
	if err != nil {
		return fmt.Errorf("open day: %w", err)
	}
	var kb [len(dayLayout)]byte
	key := d.AppendFormat(kb[:0], dayLayout)
	p.mu.RLock()
	ds := p.salts[string(key)]
	fresh := ds != nil && ds.used.Load() >= p.hour()
	p.mu.RUnlock()
	if fresh {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.openDayLocked(string(key)); err != nil {
		return fmt.Errorf("open day: %w", err)
	}
	return nil
}

// Closed reports whether day's UTC date is closed (its salt destroyed).
func (p *Pseudonymizer) Closed(day time.Time) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed[day.UTC().Format(dayLayout)]
}

// ClosedDays returns the closed days, as Unix days (days since
// 1970-01-01), oldest first.
func (p *Pseudonymizer) ClosedDays() []int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]int64, 0, len(p.closed))
	for dayKey := range p.closed {
		d, _ := time.Parse(dayLayout, dayKey) // loadSalts and PruneSalts admit valid days only
		out = append(out, int64(period.DayOf(d)))
	}
	slices.Sort(out)
	return out
}

// checkDay returns day in UTC, whose date is its day key (dayLayout), or
// an error if the year has not four digits.
func checkDay(day time.Time) (time.Time, error) {
	d := day.UTC()
	if y := d.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("year %d out of range", y)
	}
	return d, nil
}

// hour returns the current Unix hour.
func (p *Pseudonymizer) hour() int64 { return int64(period.HourOf(p.now())) }

// openDayLocked returns dayKey's salt, creating it, and records its use
// this hour, writing the salts file when either changes. p.mu must be held
// for writing.
func (p *Pseudonymizer) openDayLocked(dayKey string) (*daySalt, error) {
	if p.closed[dayKey] {
		return nil, fmt.Errorf("%s: %w", dayKey, ErrDayClosed)
	}
	hour := p.hour()
	if ds := p.salts[dayKey]; ds != nil && ds.used.Load() >= hour {
		return ds, nil
	}
	var ds *daySalt
	err := withDirLock(p.dir, func() error {
		var err error
		ds, err = p.openDayShared(dayKey, hour)
		return err
	})
	return ds, err
}

// openDayShared is openDayLocked once the directory is locked: it first
// takes in what other processes sharing the directory wrote.
func (p *Pseudonymizer) openDayShared(dayKey string, hour int64) (*daySalt, error) {
	if err := p.syncLocked(); err != nil {
		return nil, err
	}
	if p.closed[dayKey] {
		return nil, fmt.Errorf("%s: %w", dayKey, ErrDayClosed)
	}
	ds := p.salts[dayKey]
	if ds != nil && ds.used.Load() >= hour {
		return ds, nil
	}
	next := maps.Clone(p.salts)
	if ds == nil {
		ds = newDaySalt(newSecret(saltLen))
		next[dayKey] = ds
	}
	prev := ds.used.Load()
	ds.used.Store(hour)
	if err := p.saveSalts(next, p.closed); err != nil {
		ds.used.Store(prev)
		return nil, fmt.Errorf("save salt of %s: %w", dayKey, err)
	}
	p.salts = next
	return ds, nil
}

// PruneSalts destroys the salts of days that ended at least keep ago and
// were not used for idle (0: however recently they were used), by now's
// clock, closes those days and rewrites the salts file. From then on the
// viewer-day pseudonyms of those days cannot be recomputed, so they can no
// longer be linked to any account, and ViewerDay refuses the days. Use
// DefaultSaltRetention and DefaultSaltIdle unless there is a reason not to;
// call it at startup and periodically (hourly is plenty). It returns the
// days it closed, as Unix days.
//
// Destruction is as good as the file system's: the old file is replaced,
// not overwritten in place, so its blocks may survive on disk until reused.
func (p *Pseudonymizer) PruneSalts(keep, idle time.Duration) ([]int64, error) {
	if keep < 0 || idle < 0 {
		return nil, fmt.Errorf("prune salts: negative retention %v or idle time %v", keep, idle)
	}
	now := p.now()
	cutoff := now.Add(-keep)

	p.mu.Lock()
	defer p.mu.Unlock()
	var days []int64
	err := withDirLock(p.dir, func() error {
		var err error
		days, err = p.pruneShared(now, cutoff, idle)
		return err
	})
	return days, err
}

// pruneShared is PruneSalts once p.mu and the directory lock are held: it
// judges the days by every sharing process's uses.
func (p *Pseudonymizer) pruneShared(now, cutoff time.Time, idle time.Duration) ([]int64, error) {
	if err := p.syncLocked(); err != nil {
		return nil, fmt.Errorf("prune salts: %w", err)
	}
	next := make(map[string]*daySalt, len(p.salts))
	closed := maps.Clone(p.closed)
	var doomed []*daySalt
	var days []int64
	for dayKey, ds := range p.salts {
		d, err := time.Parse(dayLayout, dayKey)
		if err != nil { // loadSalts and ViewerDay only admit valid days
			return nil, fmt.Errorf("prune salts: day %q: %w", dayKey, err)
		}
		// The last use is known to the hour: it may have been as late as
		// the hour's end.
		lastUse := period.Hour(ds.used.Load() + 1).Start()
		if d.Add(oneDay).After(cutoff) || (idle > 0 && lastUse.Add(idle).After(now)) {
			next[dayKey] = ds
			continue
		}
		doomed = append(doomed, ds)
		closed[dayKey] = true
		days = append(days, int64(period.DayOf(d)))
	}
	if len(doomed) == 0 {
		return nil, nil
	}
	if err := p.saveSalts(next, closed); err != nil {
		return nil, fmt.Errorf("prune salts: %w", err)
	}
	p.salts, p.closed = next, closed
	for _, ds := range doomed {
		// Best effort: no reader can hold them while we hold mu.
		clear(*ds.salt)
		ds.mac.wipe()
	}
	slices.Sort(days)
	return days, nil
}

// String returns "[redacted]", so that the Pseudonymizer can be printed
// without printing its secrets.
func (p *Pseudonymizer) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (p *Pseudonymizer) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, including %x and %+v.
func (p *Pseudonymizer) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// LogValue returns "[redacted]", so that log/slog never prints secrets.
func (p *Pseudonymizer) LogValue() slog.Value { return slog.StringValue(redacted) }

func newSecret(n int) *secret {
	s := make(secret, n)
	rand.Read(s) // never returns an error; it crashes the program instead
	return &s
}

// loadKey reads the long-term key, creating it if it does not exist and
// the directory has not been used before.
func loadKey(dir string, used bool) (*secret, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if used {
			return nil, fmt.Errorf("%s is missing but %s exists: refusing to create a new key; restore it from a backup", KeyFile, SaltsFile)
		}
		key := newSecret(keyLen)
		if err := secretfile.WriteAtomic(dir, KeyFile, *key); err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		return key, nil
	case err != nil:
		return nil, fmt.Errorf("read key: %w", err)
	case len(b) != keyLen:
		return nil, fmt.Errorf("read key: %s holds %d bytes, want %d", KeyFile, len(b), keyLen)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	key := secret(b)
	return &key, nil
}

// saltsJSON is the salts file.
type saltsJSON struct {
	Days   map[string]saltJSON `json:"days"`
	Closed []string            `json:"closed"`
}

type saltJSON struct {
	Salt string    `json:"salt"`
	Used time.Time `json:"used"` // the hour of last use
}

// loadSalts reads the salts file and reports whether it existed.
func loadSalts(dir string) (map[string]*daySalt, map[string]bool, bool, error) {
	path := filepath.Join(dir, SaltsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*daySalt{}, map[string]bool{}, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read salts: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, nil, false, err
	}
	// Unknown fields are refused, not skipped: a file that is not the
	// one Crowd writes would otherwise read as no salts at all.
	var file saltsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, nil, false, fmt.Errorf("read salts: %s: %w", SaltsFile, err)
	}
	if dec.More() {
		return nil, nil, false, fmt.Errorf("read salts: %s: data after the object", SaltsFile)
	}
	validDay := func(dayKey string) bool {
		d, err := time.Parse(dayLayout, dayKey)
		return err == nil && d.Format(dayLayout) == dayKey
	}
	salts := make(map[string]*daySalt, len(file.Days))
	for dayKey, v := range file.Days {
		if !validDay(dayKey) {
			return nil, nil, false, fmt.Errorf("read salts: %s: bad day %q", SaltsFile, dayKey)
		}
		s, err := base64.StdEncoding.DecodeString(v.Salt)
		if err != nil || len(s) != saltLen {
			// The value is a secret: name the day, never the value.
			return nil, nil, false, fmt.Errorf("read salts: %s: bad salt for %s", SaltsFile, dayKey)
		}
		salt := secret(s)
		ds := newDaySalt(&salt)
		ds.used.Store(int64(period.HourOf(v.Used)))
		salts[dayKey] = ds
	}
	closed := make(map[string]bool, len(file.Closed))
	for _, dayKey := range file.Closed {
		if !validDay(dayKey) {
			return nil, nil, false, fmt.Errorf("read salts: %s: bad closed day %q", SaltsFile, dayKey)
		}
		if salts[dayKey] != nil {
			return nil, nil, false, fmt.Errorf("read salts: %s: day %s is both open and closed", SaltsFile, dayKey)
		}
		closed[dayKey] = true
	}
	return salts, closed, true, nil
}

// saveSalts writes salts and closed to the salts file. p.mu must be held
// for writing (or p not yet shared).
func (p *Pseudonymizer) saveSalts(salts map[string]*daySalt, closed map[string]bool) error {
	file := saltsJSON{Days: make(map[string]saltJSON, len(salts)), Closed: slices.Sorted(maps.Keys(closed))}
	for dayKey, ds := range salts {
		file.Days[dayKey] = saltJSON{Salt: base64.StdEncoding.EncodeToString(*ds.salt), Used: period.Hour(ds.used.Load()).Start()}
	}
	if file.Closed == nil {
		file.Closed = []string{}
	}
	b, err := json.MarshalIndent(file, "", "  ") // sorted by day, diffable
	if err != nil {
		return err
	}
	return secretfile.WriteAtomic(p.dir, SaltsFile, append(b, '\n'))
}
