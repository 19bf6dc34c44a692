package noise

import "fmt"

// NewKeyringForTest returns a keyring held in memory only, with key (32
// bytes) as kid 1, the current key. Nothing is written to disk; Rotate
// adds keys in memory. It is for tests and privacy audits that need a
// fresh key per trial (internal/attack); a service opens its keyring with
// OpenKeyring.
func NewKeyringForTest(key []byte) *Keyring {
	if len(key) != keyLen {
		panic(fmt.Sprintf("noise: test key is %d bytes, want %d", len(key), keyLen))
	}
	s := secret(append([]byte(nil), key...))
	return &Keyring{current: 1, keys: map[uint32]*secret{1: &s}}
}
