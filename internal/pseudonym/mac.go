package pseudonym

import (
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// keyed is HMAC-SHA256 under one key, with the key's padded blocks hashed
// once: inner and outer are SHA-256 states after the key XOR ipad and the
// key XOR opad (the marshalled midstates, as crypto/hmac keeps them after
// its first Reset). A pseudonym then costs the compressions of its message
// and of the outer block, and no allocation but its string.
//
// The midstates are as secret as the key (either one computes the MAC):
// they are secrets, and wipe clears them with the salt they came from.
type keyed struct {
	inner, outer *secret
}

func newKeyed(key []byte) *keyed {
	var pad [sha256.BlockSize]byte // keys are at most one block (keyLen, saltLen)
	state := func(x byte) *secret {
		for i := range pad {
			pad[i] = x
		}
		for i, b := range key {
			pad[i] ^= b
		}
		h := sha256.New()
		h.Write(pad[:])
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic("pseudonym: sha256 state cannot be marshalled: " + err.Error())
		}
		s := secret(b)
		return &s
	}
	k := &keyed{inner: state(0x36), outer: state(0x5c)}
	clear(pad[:])
	return k
}

// wipe clears the midstates (best effort, like the salt itself).
func (k *keyed) wipe() {
	clear(*k.inner)
	clear(*k.outer)
}

// hasher is a SHA-256 digest with a buffer for the canonical encoding,
// reused through hashers. Between uses it is reset, so a pooled hasher
// holds no keyed state.
type hasher struct {
	h   hash.Hash
	u   encoding.BinaryUnmarshaler
	buf []byte
	sum [sha256.Size]byte
}

var hashers = sync.Pool{New: func() any {
	h := sha256.New()
	return &hasher{h: h, u: h.(encoding.BinaryUnmarshaler), buf: make([]byte, 0, 256)}
}}

// begin starts a pseudonym: the canonical encoding of its fields is
// appended with field and day, and finish computes it.
func begin() *hasher {
	s := hashers.Get().(*hasher)
	s.buf = s.buf[:0]
	return s
}

// field appends f as its length (8 bytes, big-endian) followed by its
// bytes. Prefixing lengths makes the encoding injective, so ("ab", "c") and
// ("a", "bc"), or an id that happens to contain a separator, can never
// collide.
func (s *hasher) field(f string) *hasher {
	s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(len(f)))
	s.buf = append(s.buf, f...)
	return s
}

// day appends d as the field d.Format(dayLayout) (d is UTC and of a year
// of four digits), without formatting a string.
func (s *hasher) day(d time.Time) *hasher {
	s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(len(dayLayout)))
	s.buf = d.AppendFormat(s.buf, dayLayout)
	return s
}

// finish returns prefix followed by the pseudonym of the fields under k:
// HMAC-SHA256 of their encoding, truncated to pseudonymLen bytes, in
// unpadded base64url. It returns s to the pool.
func (s *hasher) finish(k *keyed, prefix string) string {
	msg := s.buf
	if err := s.u.UnmarshalBinary(*k.inner); err != nil {
		panic("pseudonym: sha256 state cannot be restored: " + err.Error())
	}
	s.h.Write(msg)
	inner := s.h.Sum(s.sum[:0])
	if err := s.u.UnmarshalBinary(*k.outer); err != nil {
		panic("pseudonym: sha256 state cannot be restored: " + err.Error())
	}
	s.h.Write(inner)
	tag := s.h.Sum(s.sum[:0])

	var enc [64]byte // on the stack: the string is the one allocation
	out := append(enc[:0], prefix...)
	out = base64.RawURLEncoding.AppendEncode(out, tag[:pseudonymLen])

	s.h.Reset() // no keyed state stays in the pool
	clear(msg)  // nor account ids
	clear(s.sum[:])
	if cap(s.buf) <= 4096 {
		hashers.Put(s)
	}
	return string(out)
}
