package noise

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// MustOpenKeyring opens the keyring in dir or fails the test.
func MustOpenKeyring(tb testing.TB, dir string) *Keyring {
	tb.Helper()
	k, err := OpenKeyring(dir)
	if err != nil {
		tb.Fatalf("OpenKeyring: %v", err)
	}
	return k
}

// MustNoise returns k.Noise or fails the test.
func MustNoise(tb testing.TB, k *Keyring, kid uint32, cell CellKey, epsNum, epsDen, sensitivity uint64) int64 {
	tb.Helper()
	v, err := k.Noise(kid, cell, epsNum, epsDen, sensitivity)
	if err != nil {
		tb.Fatalf("Noise: %v", err)
	}
	return v
}

// MustStream returns k.Stream or fails the test.
func MustStream(tb testing.TB, k *Keyring, kid uint32, cell CellKey) *Stream {
	tb.Helper()
	s, err := k.Stream(kid, cell)
	if err != nil {
		tb.Fatalf("Stream: %v", err)
	}
	return s
}

// memKeyring returns a keyring held in memory only, with the given keys;
// the highest kid is current.
func memKeyring(keys map[uint32][]byte) *Keyring {
	k := &Keyring{keys: map[uint32]*secret{}}
	for kid, b := range keys {
		s := secret(bytes.Clone(b))
		k.keys[kid] = &s
		k.current = max(k.current, kid)
	}
	return k
}

// readKeysFile returns the parsed keyring file of dir.
func readKeysFile(tb testing.TB, dir string) keysJSON {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, KeysFile))
	if err != nil {
		tb.Fatal(err)
	}
	var f keysJSON
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	return f
}

func mode(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenKeyring_Create(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	k := MustOpenKeyring(t, dir)
	if got := k.Current(); got != 1 {
		t.Fatalf("Current = %d, want 1", got)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	if m := mode(t, filepath.Join(dir, KeysFile)); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	f := readKeysFile(t, dir)
	if f.Format != 1 || f.Current != 1 || len(f.Keys) != 1 || f.Keys[0].Kid != 1 {
		t.Fatalf("keys file = format %d, current %d, %d keys", f.Format, f.Current, len(f.Keys))
	}
	raw, err := base64.StdEncoding.DecodeString(f.Keys[0].Key)
	if err != nil || len(raw) != 32 || bytes.Equal(raw, make([]byte, 32)) {
		t.Fatalf("key 1 is not 32 random bytes")
	}
}

func TestOpenKeyring_TightensModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	MustOpenKeyring(t, dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeysFile), 0o644); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, KeysFile+tempSuffix+"123")
	if err := os.WriteFile(leftover, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "pseudonym.key") // another package's file: left alone
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	MustOpenKeyring(t, dir)
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	if m := mode(t, filepath.Join(dir, KeysFile)); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file not removed: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("other file: %v", err)
	}
}

func TestKeyring_RotateReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	k := MustOpenKeyring(t, dir)
	cell := testCell()
	before := MustNoise(t, k, 1, cell, 1, 2, 1)

	kid, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if kid != 2 || k.Current() != 2 {
		t.Fatalf("Rotate = %d, Current = %d, want 2", kid, k.Current())
	}
	if got := MustNoise(t, k, 1, cell, 1, 2, 1); got != before {
		t.Fatalf("kid 1 noise changed by rotation: %d, was %d", got, before)
	}
	if m := mode(t, filepath.Join(dir, KeysFile)); m != 0o600 {
		t.Errorf("file mode after rotate %o, want 600", m)
	}

	r := MustOpenKeyring(t, dir)
	if r.Current() != 2 {
		t.Fatalf("reopened Current = %d, want 2", r.Current())
	}
	for _, kid := range []uint32{1, 2} {
		a := MustStream(t, k, kid, cell).Uint64()
		b := MustStream(t, r, kid, cell).Uint64()
		if a != b {
			t.Errorf("kid %d: reopened keyring gives another stream", kid)
		}
	}
	if a, b := MustStream(t, r, 1, cell).Uint64(), MustStream(t, r, 2, cell).Uint64(); a == b {
		t.Errorf("kids 1 and 2 give the same stream")
	}
	f := readKeysFile(t, dir)
	if f.Current != 2 || len(f.Keys) != 2 || f.Keys[0].Kid != 1 || f.Keys[1].Kid != 2 || f.Keys[0].Key == f.Keys[1].Key {
		t.Fatalf("keys file after rotate: %+v", f.Current)
	}
}

func TestKeyring_RotateByTwoProcesses(t *testing.T) {
	// Two keyrings on one directory, as two processes would have: the
	// second rotation must not reuse the first one's kid.
	dir := filepath.Join(t.TempDir(), "secrets")
	a := MustOpenKeyring(t, dir)
	b := MustOpenKeyring(t, dir)
	if kid, err := a.Rotate(); err != nil || kid != 2 {
		t.Fatalf("a.Rotate = %d, %v", kid, err)
	}
	kid, err := b.Rotate()
	if err != nil || kid != 3 {
		t.Fatalf("b.Rotate = %d, %v, want 3", kid, err)
	}
	// b learnt key 2 from the file.
	if x, y := MustStream(t, a, 2, testCell()).Uint64(), MustStream(t, b, 2, testCell()).Uint64(); x != y {
		t.Fatal("a and b disagree on key 2")
	}
	if got := len(readKeysFile(t, dir).Keys); got != 3 {
		t.Fatalf("file holds %d keys, want 3", got)
	}
}

func TestKeyring_RotateRefusesChangedFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	a := MustOpenKeyring(t, dir)
	if err := os.Remove(filepath.Join(dir, KeysFile)); err != nil {
		t.Fatal(err)
	}
	MustOpenKeyring(t, dir) // a new key 1
	if _, err := a.Rotate(); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("Rotate over a replaced key 1 = %v, want a refusal", err)
	}
}

func TestKeyring_ConcurrentUse(t *testing.T) {
	k := MustOpenKeyring(t, filepath.Join(t.TempDir(), "secrets"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				cell := testCell()
				cell.Subject = fmt.Sprintf("video:%d-%d", i, j)
				MustNoise(t, k, 1, cell, 1, 2, 1)
				k.Current()
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := k.Rotate(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if k.Current() != 4 {
		t.Fatalf("Current = %d, want 4", k.Current())
	}
}

func TestOpenKeyring_BadFile(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name, content, want string
	}{
		{"not json", "{\"format\": 1, \"keys\": [{\"kid\": 1, \"key\": " + key[:10], "malformed"},
		{"wrong format", `{"format": 2, "current": 1, "keys": [{"kid": 1, "key": "` + key + `"}]}`, "format 2"},
		{"kid 0", `{"format": 1, "current": 1, "keys": [{"kid": 0, "key": "` + key + `"}]}`, "kid 0"},
		{"duplicate kid", `{"format": 1, "current": 1, "keys": [{"kid": 1, "key": "` + key + `"}, {"kid": 1, "key": "` + key + `"}]}`, "twice"},
		{"short key", `{"format": 1, "current": 1, "keys": [{"kid": 1, "key": "` + key[:20] + `"}]}`, "key 1 is not 32 bytes"},
		{"current missing", `{"format": 1, "current": 2, "keys": [{"kid": 1, "key": "` + key + `"}]}`, "current kid 2"},
		{"wrong type", `{"format": 1, "current": 1, "keys": [{"kid": 1, "key": 12345}]}`, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, KeysFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenKeyring(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenKeyring = %v, want an error mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key[:8]) {
				t.Fatalf("error %q shows key material", err)
			}
		})
	}
}

func TestKeyring_Errors(t *testing.T) {
	k := memKeyring(map[uint32][]byte{1: make([]byte, 32)})
	if _, err := k.Noise(2, testCell(), 1, 2, 1); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Noise with kid 2 = %v, want ErrUnknownKey", err)
	}
	if _, err := k.Stream(0, testCell()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Stream with kid 0 = %v, want ErrUnknownKey", err)
	}
	bad := testCell()
	bad.Granularity = "week"
	if _, err := k.Noise(1, bad, 1, 2, 1); err == nil || !strings.Contains(err.Error(), "granularity") {
		t.Errorf("Noise of an invalid cell = %v", err)
	}
	for _, args := range [][3]uint64{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {1, 1 << 41, 1}} {
		if _, err := k.Noise(1, testCell(), args[0], args[1], args[2]); err == nil {
			t.Errorf("Noise(ε=%d/%d, Δ=%d) succeeded", args[0], args[1], args[2])
		}
	}
}

// TestKeyring_Redacted checks that no way of printing or logging a
// Keyring, or a Stream, or a value holding one, shows key material.
func TestKeyring_Redacted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	k := MustOpenKeyring(t, dir)
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, e := range readKeysFile(t, dir).Keys {
		raw, _ := base64.StdEncoding.DecodeString(e.Key)
		raws = append(raws, raw)
	}
	leaks := func(out string) bool {
		for _, raw := range raws {
			for _, enc := range []string{
				string(raw), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
				base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
			} {
				if strings.Contains(out, enc) {
					return true
				}
			}
			// The first bytes as a decimal byte list, as %v of a []byte.
			if strings.Contains(out, strings.Trim(fmt.Sprint(raw[:4]), "[]")) {
				return true
			}
		}
		return false
	}
	s := MustStream(t, k, 1, testCell())
	type holder struct {
		Keys   *Keyring
		Stream *Stream
		keys   *Keyring
	}
	h := holder{k, s, k}
	values := map[string]any{"keyring": k, "stream": s, "holder": h, "holder pointer": &h}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			if out := fmt.Sprintf(verb, v); leaks(out) {
				t.Errorf("%s with %s leaks a key: %s", name, verb, out)
			}
		}
	}
	if got := fmt.Sprint(k); got != "[redacted]" {
		t.Errorf("Sprint(keyring) = %q", got)
	}
	var buf bytes.Buffer
	for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(hd)
		log.Info("keys", "keyring", k, "stream", s, "holder", h)
		log.Info("keys", slog.Any("keyring", k), slog.Group("g", "k", k))
	}
	if leaks(buf.String()) {
		t.Errorf("slog leaks a key: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("slog output lacks [redacted]: %s", buf.String())
	}
}
