package pseudonym

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/internal/secretfile"
)

const (
	// KeyFile is the name of the long-term key file in the secrets
	// directory: 32 raw random bytes. Losing it changes every Actor and
	// AccountDay pseudonym, so back it up with the database.
	KeyFile = "pseudonym.key"
	// SaltsFile is the name of the daily salts file in the secrets
	// directory: a JSON object from UTC day ("2006-01-02") to a base64
	// 32-byte salt. It is not worth backing up; a lost salt only stops
	// deduplication of that day's late views.
	SaltsFile = "salts.json"

	// DefaultSaltRetention is how long PruneSalts should keep a day's salt
	// after the day has ended. Events arrive late (offline clients,
	// consumer restarts, retries); 72 hours lets late views of the past
	// three days still deduplicate against earlier ones, and is short
	// enough that viewer-day hashes become unlinkable within days.
	DefaultSaltRetention = 72 * time.Hour

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

// Domain labels, one per kind of pseudonym, so that equal inputs never
// give equal pseudonyms of different kinds.
const (
	labelActor      = "actor"
	labelAccountDay = "account-day"
	labelViewerDay  = "viewer-day"
	labelEventID    = "event-id"
	// "creator-day" was the label of the retired per-(account, creator,
	// day) cap pseudonym; it is never reused.
)

// Pseudonymizer computes pseudonyms of account ids from secrets kept in a
// directory. It is safe for concurrent use. Printing it with fmt or
// log/slog shows "[redacted]".
type Pseudonymizer struct {
	dir string
	now func() time.Time
	key *secret // long-term key; never changes after Open

	// mu guards salts and the salts file. Readers hold it while they use a
	// salt, so PruneSalts can wipe a salt's bytes once it holds mu.
	mu    sync.RWMutex
	salts map[string]*secret // by UTC day, dayLayout
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
	if err := secretfile.RemoveTemps(dir, KeyFile, SaltsFile); err != nil {
		return nil, err
	}

	salts, saltsExisted, err := loadSalts(dir)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(dir, saltsExisted)
	if err != nil {
		return nil, err
	}
	p := &Pseudonymizer{dir: dir, now: now, key: key, salts: salts}
	if !saltsExisted {
		if err := p.saveSalts(salts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Actor returns the pseudonym of accountID acting on videoID: the same
// for the same account and video, forever. Rollups use it to count a share
// or save once per account and video, and to net likes against unlikes.
func (p *Pseudonymizer) Actor(accountID, videoID string) string {
	return mac(*p.key, labelActor, accountID, videoID)
}

// AccountDay returns the pseudonym of accountID's first shares and saves
// on day's UTC date, whatever the video and whoever its creators. Rollups use
// it to cap one account's counted contributions per day across all videos,
// which bounds what any one reader (an owner, a co-creator of many owners'
// videos) can learn about that account's day. It is keyed with the
// long-term key, and so stays stable for late and re-imported events.
func (p *Pseudonymizer) AccountDay(accountID string, day time.Time) string {
	return mac(*p.key, labelAccountDay, accountID, day.UTC().Format(dayLayout))
}

// EventID returns the keyed hash of an event id the platform chose (the
// id of an event posted to POST /v1/events or imported), which is what
// Crowd stores and deduplicates by in place of the id itself: platform ids
// may embed account ids or other personal data. It is keyed with the
// long-term key, so the same id gives the same hash across retries and
// restarts, and without the key it cannot be recomputed from a guessed id.
func (p *Pseudonymizer) EventID(platformID string) string {
	return mac(*p.key, labelEventID, platformID)
}

// ViewerDay returns the pseudonym of accountID viewing videoID on day's
// UTC date, keyed with that day's random salt. Rollups use it to count
// distinct viewers and to cap views per viewer, video and day.
//
// The first call for a day creates its salt and writes it to the salts
// file before returning; an error means it could not be persisted, and the
// view should be retried rather than counted under a salt that a restart
// would lose. After PruneSalts has destroyed a day's salt, a call for that
// day (a late event, a history import) creates a new salt for it, kept until
// pruned again; the new pseudonyms do not match the old ones, so views of
// that day before and after the prune are not deduplicated against each
// other. Imports of old days should therefore run before pruning, not
// across it.
func (p *Pseudonymizer) ViewerDay(accountID, videoID string, day time.Time) (string, error) {
	d := day.UTC()
	if y := d.Year(); y < 1 || y > 9999 {
		return "", fmt.Errorf("viewer day: year %d out of range", y)
	}
	dayKey := d.Format(dayLayout)

	p.mu.RLock()
	if salt := p.salts[dayKey]; salt != nil {
		defer p.mu.RUnlock()
		return mac(*salt, labelViewerDay, accountID, videoID, dayKey), nil
	}
	p.mu.RUnlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	salt := p.salts[dayKey]
	if salt == nil {
		fresh := newSecret(saltLen)
		next := make(map[string]*secret, len(p.salts)+1)
		for k, v := range p.salts {
			next[k] = v
		}
		next[dayKey] = fresh
		if err := p.saveSalts(next); err != nil {
			return "", fmt.Errorf("viewer day: create salt for %s: %w", dayKey, err)
		}
		p.salts = next
		salt = fresh
	}
	return mac(*salt, labelViewerDay, accountID, videoID, dayKey), nil
}

// PruneSalts destroys the salts of days that ended at least keep ago, by
// now's clock, and rewrites the salts file without them. From then on the
// viewer-day pseudonyms of those days cannot be recomputed, so they can no
// longer be linked to any account. Use DefaultSaltRetention unless there is
// a reason not to; call it at startup and periodically (hourly is plenty).
//
// Destruction is as good as the file system's: the old file is replaced,
// not overwritten in place, so its blocks may survive on disk until reused.
func (p *Pseudonymizer) PruneSalts(keep time.Duration) error {
	if keep < 0 {
		return fmt.Errorf("prune salts: negative retention %v", keep)
	}
	cutoff := p.now().Add(-keep)

	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]*secret, len(p.salts))
	var doomed []*secret
	for dayKey, salt := range p.salts {
		d, err := time.Parse(dayLayout, dayKey)
		if err != nil { // loadSalts and ViewerDay only admit valid days
			return fmt.Errorf("prune salts: day %q: %w", dayKey, err)
		}
		if d.Add(oneDay).After(cutoff) {
			next[dayKey] = salt
		} else {
			doomed = append(doomed, salt)
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	if err := p.saveSalts(next); err != nil {
		return fmt.Errorf("prune salts: %w", err)
	}
	p.salts = next
	for _, s := range doomed {
		clear(*s) // best effort: no reader can hold it while we hold mu
	}
	return nil
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

// mac returns the pseudonym of fields under key: HMAC-SHA256 of their
// canonical encoding, truncated to pseudonymLen bytes, in unpadded
// base64url.
func mac(key []byte, fields ...string) string {
	h := hmac.New(sha256.New, key)
	h.Write(encode(fields...))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:pseudonymLen])
}

// encode returns the canonical encoding of fields: each one as its length
// (8 bytes, big-endian) followed by its bytes. Prefixing lengths makes the
// encoding injective, so ("ab", "c") and ("a", "bc"), or an id that
// happens to contain a separator, can never collide.
func encode(fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += 8 + len(f)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

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

// loadSalts reads the salts file and reports whether it existed.
func loadSalts(dir string) (map[string]*secret, bool, error) {
	path := filepath.Join(dir, SaltsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*secret{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read salts: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, false, err
	}
	var encoded map[string]string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, false, fmt.Errorf("read salts: %s: %w", SaltsFile, err)
	}
	salts := make(map[string]*secret, len(encoded))
	for dayKey, v := range encoded {
		if d, err := time.Parse(dayLayout, dayKey); err != nil || d.Format(dayLayout) != dayKey {
			return nil, false, fmt.Errorf("read salts: %s: bad day %q", SaltsFile, dayKey)
		}
		s, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(s) != saltLen {
			// The value is a secret: name the day, never the value.
			return nil, false, fmt.Errorf("read salts: %s: bad salt for %s", SaltsFile, dayKey)
		}
		salt := secret(s)
		salts[dayKey] = &salt
	}
	return salts, true, nil
}

// saveSalts writes salts to the salts file. p.mu must be held for writing
// (or p not yet shared).
func (p *Pseudonymizer) saveSalts(salts map[string]*secret) error {
	encoded := make(map[string]string, len(salts))
	for dayKey, s := range salts {
		encoded[dayKey] = base64.StdEncoding.EncodeToString(*s)
	}
	b, err := json.MarshalIndent(encoded, "", "  ") // sorted by day, diffable
	if err != nil {
		return err
	}
	return secretfile.WriteAtomic(p.dir, SaltsFile, append(b, '\n'))
}
