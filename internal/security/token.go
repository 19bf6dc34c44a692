package security

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// tokenBytes is the entropy of a token: 256 bits cannot be guessed or
// enumerated, which is what lets HashToken use a fast hash.
const tokenBytes = 32

// NewToken returns a new bearer token: prefix, an underscore and 32 random
// bytes in unpadded base64url, e.g. "crs_Qm9…". The prefix says what kind of
// token it is (session, API key, …) so leaked tokens can be recognised by
// secret scanners and routed to the right revocation. It must be 1–16
// lowercase ASCII letters or digits; in particular it cannot contain the
// underscore that separates it from the random part.
func NewToken(prefix string) (token string, err error) {
	if !validPrefix(prefix) {
		return "", fmt.Errorf("new token: prefix %q: want 1-16 characters of [a-z0-9]", prefix)
	}
	b := make([]byte, tokenBytes)
	rand.Read(b) // never returns an error; it crashes the program instead
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b), nil
}

func validPrefix(prefix string) bool {
	if len(prefix) < 1 || len(prefix) > 16 {
		return false
	}
	for _, c := range []byte(prefix) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// TokenPrefix returns the prefix of a token made by NewToken, or "" if
// token has no underscore. The random part may itself contain underscores
// (base64url uses them), so the prefix ends at the first one.
func TokenPrefix(token string) string {
	prefix, _, ok := strings.Cut(token, "_")
	if !ok {
		return ""
	}
	return prefix
}

// HashToken returns the hex SHA-256 of token, the form in which tokens are
// stored, so that a copy of the database does not hold usable credentials.
// A fast unsalted hash is right here, unlike for passwords: a token carries
// 256 random bits, so there is nothing to brute-force and no dictionary to
// precompute, and lookups by hash stay a single indexed equality.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// idEncoding is lowercase base32 without padding: case-insensitive,
// URL-safe and free of characters that need escaping anywhere.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new resource identifier: 16 random bytes (128 bits, so
// collisions and guessing are out of the question) as 26 characters of
// lowercase base32. Random rather than sequential ids do not reveal how
// many accounts or videos exist or in which order they were created.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error; it crashes the program instead
	return idEncoding.EncodeToString(b[:])
}

// Equal reports whether a and b are equal in time that depends on neither
// their contents nor, beyond hashing, their lengths: it compares SHA-256
// digests in constant time. Use it for every comparison with a secret.
func Equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
