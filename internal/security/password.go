package security

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters. They are written into
// every encoded hash, so changing them affects only new hashes; existing
// hashes keep verifying with the parameters they were made with.
type PasswordParams struct {
	// Memory is the memory cost in KiB. Memory is what makes argon2id
	// expensive on GPUs and ASICs, so it is the parameter that matters most.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism. It is part of the hash: a hash
	// made with p=2 must be verified with p=2.
	Threads uint8
}

// DefaultPasswordParams are the parameters HashPassword uses: 64 MiB, two
// passes, two lanes. Memory follows RFC 9106's recommendation for
// memory-constrained servers (section 4: 64 MiB, t=3, p=4) and is well above
// OWASP's argon2id minimum (19 MiB, t=2, p=1). Two passes instead of three
// and two lanes instead of four keep one hash at about 50 ms of wall time
// (measured by BenchmarkHashPassword) and let two concurrent hashes share
// four cores: slow enough to make offline guessing expensive, cheap enough
// for interactive logins together with the hashing semaphore (see
// SetMaxConcurrentHashes).
//
// DefaultPasswordParams is a variable so that an operator, a benchmark
// or a test can change it before any hashing starts; it must not be
// changed while hashes are computed concurrently.
var DefaultPasswordParams = PasswordParams{Memory: 64 * 1024, Time: 2, Threads: 2}

const (
	// saltLen and keyLen follow RFC 9106: a 128-bit salt is unique with
	// overwhelming probability, and a 256-bit tag leaves no room for
	// collisions.
	saltLen = 16
	keyLen  = 32

	// Limits on parameters read back from an encoded hash. Hashes come from
	// our own database, but a corrupt or tampered row must not be able to
	// make a single verification allocate many gigabytes or spin for
	// minutes.
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 64
	minSaltLen = 8
	minKeyLen  = 16
	maxKeyLen  = 64
)

// ErrMalformedHash is returned by VerifyPassword when the encoded hash is
// not an argon2id PHC string this package can verify.
var ErrMalformedHash = errors.New("malformed password hash")

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// hashSlots bounds how many argon2 computations run at once. Each one
// holds Memory KiB (64 MiB by default) until it finishes, so without a
// bound a login flood would turn directly into out-of-memory. Excess
// callers queue instead; the rate limiters keep the queues short.
//
// Verifications (logins) and new hashes (registrations, synced passwords)
// share the slots unequally: new hashes may hold all but one of them, and
// a freed slot goes to a waiting verification before a waiting new hash.
// A flood of registrations therefore never makes a login wait behind it:
// a login waits only for other logins and, at most, for one hash already
// running.
var hashSlots atomic.Pointer[hashGate]

// DefaultMaxConcurrentHashes is the number of password hashes that may be
// computed at the same time unless SetMaxConcurrentHashes says otherwise:
// two hashes of two lanes each keep four cores busy and cap the memory
// spent on hashing at 128 MiB with the default parameters.
const DefaultMaxConcurrentHashes = 2

func init() { SetMaxConcurrentHashes(DefaultMaxConcurrentHashes) }

// SetMaxConcurrentHashes sets how many password hashes (HashPassword,
// VerifyPassword, DummyVerify) may run at the same time; n < 1 is treated
// as 1. Memory spent on hashing is bounded by n times the memory parameter.
// New hashes (HashPassword) may use at most n-1 of the slots (1 if n is 1),
// so that logins always find one. Hashes already running finish under the
// previous bound.
func SetMaxConcurrentHashes(n int) {
	hashSlots.Store(newHashGate(max(n, 1)))
}

// The two kinds of hashing work, by priority.
const (
	hashVerify = false // VerifyPassword, DummyVerify: a login is waiting
	hashNew    = true  // HashPassword: a registration or a sync
)

// hashGate is a counting semaphore with two priorities: verifications go
// first, and new hashes never hold more than newMax slots.
type hashGate struct {
	slots  int // slots in all
	newMax int // slots new hashes may hold at once

	mu      sync.Mutex
	busy    int // slots held
	busyNew int // of which by new hashes
	verifyQ []chan struct{}
	newQ    []chan struct{}
}

func newHashGate(n int) *hashGate {
	return &hashGate{slots: n, newMax: max(n-1, 1)}
}

// acquire blocks until a slot of the given kind is free and returns the
// function that frees it (to this gate, even if SetMaxConcurrentHashes
// installed another meanwhile).
func (g *hashGate) acquire(isNew bool) (release func()) {
	release = func() { g.release(isNew) }
	g.mu.Lock()
	if g.canRun(isNew) && len(g.verifyQ) == 0 && (!isNew || len(g.newQ) == 0) {
		g.take(isNew)
		g.mu.Unlock()
		return release
	}
	ch := make(chan struct{})
	if isNew {
		g.newQ = append(g.newQ, ch)
	} else {
		g.verifyQ = append(g.verifyQ, ch)
	}
	g.mu.Unlock()
	<-ch // the releaser took the slot for us
	return release
}

func (g *hashGate) canRun(isNew bool) bool {
	return g.busy < g.slots && (!isNew || g.busyNew < g.newMax)
}

func (g *hashGate) take(isNew bool) {
	g.busy++
	if isNew {
		g.busyNew++
	}
}

// release frees a slot and hands free slots to waiters, verifications
// first.
func (g *hashGate) release(isNew bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy--
	if isNew {
		g.busyNew--
	}
	for {
		switch {
		case len(g.verifyQ) > 0 && g.canRun(hashVerify):
			g.take(hashVerify)
			close(g.verifyQ[0])
			g.verifyQ = g.verifyQ[1:]
		case len(g.newQ) > 0 && g.canRun(hashNew):
			g.take(hashNew)
			close(g.newQ[0])
			g.newQ = g.newQ[1:]
		default:
			return
		}
	}
}

// state reports slots held and callers waiting, for tests.
func (g *hashGate) state() (busy, busyNew, waitVerify, waitNew int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy, g.busyNew, len(g.verifyQ), len(g.newQ)
}

// HashPassword hashes password with argon2id and DefaultPasswordParams and
// returns it in PHC string format:
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//
// with a fresh 16-byte random salt and a 32-byte key, both in unpadded
// standard base64.
func HashPassword(password string) (string, error) {
	return HashPasswordWith(DefaultPasswordParams, password)
}

// HashPasswordWith is HashPassword with explicit parameters. Tests use it
// with cheap parameters; production code should use HashPassword.
func HashPasswordWith(p PasswordParams, password string) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // never returns an error; it crashes the program instead
	key := deriveKey(hashNew, p, []byte(password), salt, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches encoded, a hash made by
// HashPassword or HashPasswordWith. The parameters are read from encoded,
// so hashes made with older parameters keep verifying. The comparison is
// constant-time. It returns an error wrapping ErrMalformedHash, and false,
// when encoded cannot be parsed.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := deriveKey(hashVerify, p, []byte(password), salt, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// DefaultPasswordParams (or cannot be parsed), so that a login that has
// just verified the password can store a fresh hash with today's cost.
func NeedsRehash(encoded string) bool {
	p, salt, key, err := parseHash(encoded)
	return err != nil || p != DefaultPasswordParams || len(salt) != saltLen || len(key) != keyLen
}

// dummySalt is fixed: DummyVerify only has to cost the same as a real
// verification, its result is thrown away.
var dummySalt = make([]byte, saltLen)

// DummyVerify spends the time and memory of one VerifyPassword with
// DefaultPasswordParams and discards the result. Call it when a login names
// a handle that does not exist, so that response time does not reveal which
// handles exist. (Hashes made with older parameters take a different time to
// verify; rehashing on login via NeedsRehash keeps that population small.)
func DummyVerify(password string) {
	key := deriveKey(hashVerify, DefaultPasswordParams, []byte(password), dummySalt, keyLen)
	subtle.ConstantTimeCompare(key, key)
}

// deriveKey runs argon2id under the hashing semaphore, with the priority
// of its kind.
func deriveKey(isNew bool, p PasswordParams, password, salt []byte, n uint32) []byte {
	release := hashSlots.Load().acquire(isNew)
	defer release()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, n)
}

func (p PasswordParams) validate() error {
	switch {
	case p.Threads < 1:
		return fmt.Errorf("argon2 threads %d: must be at least 1", p.Threads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d: must be in [1, %d]", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 needs at least 8 KiB per lane.
		return fmt.Errorf("argon2 memory %d KiB: must be in [%d, %d]", p.Memory, 8*uint32(p.Threads), maxMemory)
	}
	return nil
}

// parseHash parses a PHC argon2id string strictly: exactly the fields
// HashPasswordWith writes, in that order, with canonical numbers.
func parseHash(encoded string) (p PasswordParams, salt, key []byte, err error) {
	malformed := func(what string) error { return fmt.Errorf("%w: %s", ErrMalformedHash, what) }

	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, malformed("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, malformed("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, malformed("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, malformed("want m, t and p parameters")
	}
	m, err1 := parseParam(params[0], "m=", 32)
	t, err2 := parseParam(params[1], "t=", 32)
	th, err3 := parseParam(params[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, nil, nil, malformed("bad parameters")
	}
	p = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	if err := p.validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	salt, err = b64.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen {
		return p, nil, nil, malformed("bad salt")
	}
	key, err = b64.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, malformed("bad key")
	}
	return p, salt, key, nil
}

// parseParam parses "name=decimal", rejecting signs and leading zeros so
// that each hash has one spelling.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') || v[0] == '+' {
		return 0, ErrMalformedHash
	}
	return strconv.ParseUint(v, 10, bits)
}
