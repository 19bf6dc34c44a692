package noise

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// streamBuf is how many keystream bytes a Stream makes at a time: 8 AES
// blocks, which the stdlib's AES-CTR produces in one batch. A typical
// noise draw needs a handful of words, so a larger buffer would only add
// work to every cell.
const streamBuf = 128

// Stream is a deterministic stream of random bits: the AES-256-CTR
// keystream of a 32-byte seed with a zero IV. Keyring.Stream makes one
// per cell. Its methods are exact: every outcome has exactly the stated
// probability, given uniform keystream bits. A Stream is not safe for
// concurrent use, and prints as "[redacted]" (its state determines the
// cell's noise).
type Stream struct {
	ctr cipher.Stream
	buf [streamBuf]byte
	off int // next unread byte of buf; streamBuf when empty
}

// newStream returns the stream of seed. The seed should be used for one
// stream only: a fixed IV is safe because no two streams share a key.
func newStream(seed *[32]byte) *Stream {
	block, err := aes.NewCipher(seed[:])
	if err != nil { // only for a bad key length, which a [32]byte rules out
		panic(err)
	}
	var iv [aes.BlockSize]byte
	return &Stream{ctr: cipher.NewCTR(block, iv[:]), off: streamBuf}
}

func (s *Stream) fill() {
	clear(s.buf[:])
	s.ctr.XORKeyStream(s.buf[:], s.buf[:])
	s.off = 0
}

// Read fills p with the next bytes of the stream. It never fails.
func (s *Stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if s.off == streamBuf {
			s.fill()
		}
		c := copy(p[n:], s.buf[s.off:])
		s.off += c
		n += c
	}
	return n, nil
}

// Uint64 returns the next 8 bytes of the stream as a big-endian integer:
// uniform over all uint64 values.
func (s *Stream) Uint64() uint64 {
	if s.off > streamBuf-8 {
		if s.off == streamBuf {
			s.fill()
		} else { // a Read left a partial word; take it the slow way
			var b [8]byte
			s.Read(b[:])
			return binary.BigEndian.Uint64(b[:])
		}
	}
	v := binary.BigEndian.Uint64(s.buf[s.off:])
	s.off += 8
	return v
}

// Uniform returns an integer uniform in [0, n). It panics if n is 0.
//
// It uses Lemire's multiply-and-reject method: the high word of x·n for a
// uniform 64-bit x, rejecting the x whose low word falls below 2^64 mod n,
// which would otherwise make some results more likely than others (the
// bias of x % n). Fewer than one draw in 2^64/n is rejected.
func (s *Stream) Uniform(n uint64) uint64 {
	if n == 0 {
		panic("noise: Uniform(0)")
	}
	hi, lo := bits.Mul64(s.Uint64(), n)
	if lo < n {
		threshold := -n % n // 2^64 mod n
		for lo < threshold {
			hi, lo = bits.Mul64(s.Uint64(), n)
		}
	}
	return hi
}

// Bernoulli returns true with probability exactly num/den (1 if num ≥
// den). Certain outcomes draw nothing from the stream; otherwise it
// returns Uniform(den) < num. It panics if den is 0.
func (s *Stream) Bernoulli(num, den uint64) bool {
	if den == 0 {
		panic("noise: Bernoulli with denominator 0")
	}
	if num == 0 {
		return false
	}
	if num >= den {
		return true
	}
	return s.Uniform(den) < num
}

// String returns "[redacted]".
func (s *Stream) String() string { return redacted }

// GoString returns "[redacted]".
func (s *Stream) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (s *Stream) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }
