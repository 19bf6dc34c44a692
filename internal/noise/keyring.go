package noise

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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

	"github.com/crowd-dev/crowd/internal/secretfile"
)

const (
	// KeysFile is the name of the keyring file in the secrets directory.
	// It is JSON: the format version, the current kid, and every key by
	// kid in base64. Back it up with the database.
	KeysFile = "noise.keys"

	// keysFormat is the version of the KeysFile layout.
	keysFormat = 1
	// keyLen matches SHA-256's output: a longer HMAC key adds nothing, a
	// shorter one gives away margin.
	keyLen = 32
	// tempSuffix marks temporary files of secretfile.WriteAtomic;
	// OpenKeyring removes leftovers, which may hold keys.
	tempSuffix = secretfile.TempSuffix
	redacted   = "[redacted]"
)

// ErrUnknownKey is returned for a kid the keyring does not hold.
var ErrUnknownKey = errors.New("unknown noise key")

// secret is key material. Every way fmt or slog could print it prints
// "[redacted]" instead. The keyring holds secrets through pointers: fmt
// prints nested pointers as addresses, so even %#v of an enclosing value
// cannot reach the bytes.
type secret []byte

func (s secret) String() string             { return redacted }
func (s secret) GoString() string           { return redacted }
func (s secret) LogValue() slog.Value       { return slog.StringValue(redacted) }
func (s secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// Keyring holds the numbered secret keys that seed the noise of cells,
// and which of them is current. It is safe for concurrent use. Printing
// it with fmt or log/slog shows "[redacted]".
//
// One process at a time should Rotate a directory's keyring; rotation is
// an operator's action, and Rotate rereads the file first so that a
// second process does not reuse a kid.
type Keyring struct {
	dir string // "" for a keyring built in memory by tests

	mu      sync.RWMutex
	current uint32
	keys    map[uint32]*secret // never modified in place; replaced whole
}

// keysJSON is the layout of KeysFile.
type keysJSON struct {
	Format  int       `json:"format"`
	Current uint32    `json:"current"`
	Keys    []keyJSON `json:"keys"` // by increasing kid
}

type keyJSON struct {
	Kid uint32 `json:"kid"`
	Key string `json:"key"` // base64, standard encoding with padding
}

// OpenKeyring opens the keyring in dir, creating dir (mode 0700) and the
// keyring file (mode 0600) with key 1 as the current key on first use. It
// tightens the modes of an existing dir and file, and removes temporary
// files an interrupted write may have left.
func OpenKeyring(dir string) (*Keyring, error) {
	k, err := openKeyring(dir)
	if err != nil {
		return nil, fmt.Errorf("open noise keyring: %w", err)
	}
	return k, nil
}

func openKeyring(dir string) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// MkdirAll leaves an existing directory's mode alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if err := secretfile.RemoveTemps(dir, KeysFile); err != nil {
		return nil, err
	}
	current, keys, err := loadKeys(dir)
	if errors.Is(err, fs.ErrNotExist) {
		current, keys = 1, map[uint32]*secret{1: newSecret()}
		if err := saveKeys(dir, current, keys); err != nil {
			return nil, fmt.Errorf("create %s: %w", KeysFile, err)
		}
	} else if err != nil {
		return nil, err
	}
	return &Keyring{dir: dir, current: current, keys: keys}, nil
}

// Current returns the kid of the key new cells should use.
func (k *Keyring) Current() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Rotate adds a fresh random key with the next kid, makes it current and
// writes the keyring file, returning the new kid. Old keys stay, so that
// published cells can still be audited; they must keep their stored
// values, never be recomputed under the new key.
func (k *Keyring) Rotate() (uint32, error) {
	kid, err := k.rotate()
	if err != nil {
		return 0, fmt.Errorf("rotate noise key: %w", err)
	}
	return kid, nil
}

func (k *Keyring) rotate() (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.keys
	if k.dir != "" {
		// Another process may have rotated since we loaded: take its keys
		// too, so the next kid is new everywhere.
		_, onDisk, err := loadKeys(k.dir)
		if err != nil {
			return 0, err
		}
		for kid, key := range k.keys {
			if d, ok := onDisk[kid]; !ok || !hmac.Equal(*d, *key) {
				return 0, fmt.Errorf("%s no longer holds key %d as loaded; refusing to overwrite it", KeysFile, kid)
			}
		}
		keys = onDisk
	}
	last := slices.Max(slices.Collect(maps.Keys(keys)))
	if last == ^uint32(0) {
		return 0, errors.New("no kid left")
	}
	next := make(map[uint32]*secret, len(keys)+1)
	for kid, key := range keys {
		next[kid] = key
	}
	kid := last + 1
	next[kid] = newSecret()
	if k.dir != "" {
		if err := saveKeys(k.dir, kid, next); err != nil {
			return 0, err
		}
	}
	k.current, k.keys = kid, next
	return kid, nil
}

// Stream returns the random stream of cell under key kid: AES-256-CTR
// keyed by HMAC-SHA256(key[kid], cell.Canonical()). The same kid and cell
// always give the same stream. It fails for an invalid cell or a kid the
// keyring does not hold (ErrUnknownKey).
func (k *Keyring) Stream(kid uint32, cell CellKey) (*Stream, error) {
	if err := cell.Validate(); err != nil {
		return nil, fmt.Errorf("noise stream: %w", err)
	}
	s, err := k.stream(kid, cell)
	if err != nil {
		return nil, fmt.Errorf("noise stream: %w", err)
	}
	return s, nil
}

func (k *Keyring) stream(kid uint32, cell CellKey) (*Stream, error) {
	k.mu.RLock()
	key := k.keys[kid]
	k.mu.RUnlock()
	if key == nil {
		return nil, fmt.Errorf("kid %d: %w", kid, ErrUnknownKey)
	}
	h := hmac.New(sha256.New, *key)
	h.Write(cell.Canonical())
	var seed [32]byte
	h.Sum(seed[:0])
	s := newStream(&seed)
	clear(seed[:])
	return s, nil
}

// Noise returns the discrete-Laplace noise of cell under key kid for a
// count of the given sensitivity (L1, after contribution bounding)
// released with ε = epsNum/epsDen: scale sensitivity·epsDen/epsNum (see
// Scale). The same arguments always give the same noise.
func (k *Keyring) Noise(kid uint32, cell CellKey, epsNum, epsDen, sensitivity uint64) (int64, error) {
	num, den, err := Scale(epsNum, epsDen, sensitivity)
	if err != nil {
		return 0, fmt.Errorf("noise of %s: %w", cell, err)
	}
	s, err := k.Stream(kid, cell)
	if err != nil {
		return 0, err
	}
	return DiscreteLaplace(s, num, den), nil
}

// String returns "[redacted]", so that a Keyring can be printed without
// printing its keys.
func (k *Keyring) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (k *Keyring) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, including %x and %+v.
func (k *Keyring) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// LogValue returns "[redacted]", so that log/slog never prints keys.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(redacted) }

func newSecret() *secret {
	s := make(secret, keyLen)
	rand.Read(s) // never returns an error; it crashes the program instead
	return &s
}

// loadKeys reads and checks dir's keyring file. Errors name the file and
// the kid, never key bytes.
func loadKeys(dir string) (uint32, map[uint32]*secret, error) {
	path := filepath.Join(dir, KeysFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return 0, nil, err
	}
	var f keysJSON
	if err := json.Unmarshal(b, &f); err != nil {
		// A syntax error quotes the offending character, which could be
		// part of a key: report only where it is.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return 0, nil, fmt.Errorf("read %s: malformed JSON at byte %d", KeysFile, syn.Offset)
		}
		return 0, nil, fmt.Errorf("read %s: malformed", KeysFile)
	}
	if f.Format != keysFormat {
		return 0, nil, fmt.Errorf("read %s: format %d, want %d", KeysFile, f.Format, keysFormat)
	}
	keys := make(map[uint32]*secret, len(f.Keys))
	for _, e := range f.Keys {
		if e.Kid == 0 {
			return 0, nil, fmt.Errorf("read %s: kid 0 is not allowed", KeysFile)
		}
		if keys[e.Kid] != nil {
			return 0, nil, fmt.Errorf("read %s: kid %d appears twice", KeysFile, e.Kid)
		}
		raw, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(raw) != keyLen {
			return 0, nil, fmt.Errorf("read %s: key %d is not %d bytes of base64", KeysFile, e.Kid, keyLen)
		}
		key := secret(raw)
		keys[e.Kid] = &key
	}
	if keys[f.Current] == nil {
		return 0, nil, fmt.Errorf("read %s: current kid %d has no key", KeysFile, f.Current)
	}
	return f.Current, keys, nil
}

// saveKeys writes the keyring file atomically.
func saveKeys(dir string, current uint32, keys map[uint32]*secret) error {
	f := keysJSON{Format: keysFormat, Current: current}
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		f.Keys = append(f.Keys, keyJSON{Kid: kid, Key: base64.StdEncoding.EncodeToString(*keys[kid])})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return secretfile.WriteAtomic(dir, KeysFile, append(b, '\n'))
}
