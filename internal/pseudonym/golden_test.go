package pseudonym

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
)

// openFixed opens a Pseudonymizer whose key and salt for t0's day are
// fixed bytes, so that its pseudonyms are known values.
func openFixed(tb testing.TB) *Pseudonymizer {
	tb.Helper()
	dir := tb.TempDir()
	key := make([]byte, keyLen)
	salt := make([]byte, saltLen)
	for i := range key {
		key[i] = byte(i + 1)
		salt[i] = byte(0xa0 + i)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), key, 0o600); err != nil {
		tb.Fatal(err)
	}
	salts := `{"days": {"2026-03-10": {"salt": "` + base64.StdEncoding.EncodeToString(salt) + `", "used": "2026-03-10T15:00:00Z"}}, "closed": []}`
	if err := os.WriteFile(filepath.Join(dir, SaltsFile), []byte(salts), 0o600); err != nil {
		tb.Fatal(err)
	}
	return MustOpen(tb, dir, func() time.Time { return t0 })
}

// TestPseudonyms_Golden pins the pseudonyms of fixed inputs under a fixed
// key and salt. Pseudonyms are persisted (the log, the rollup tables, the
// dedupe state): a change of any value here would count an actor's shares
// again after an upgrade. The values were computed by the original
// implementation (a fresh HMAC-SHA256 per call).
func TestPseudonyms_Golden(t *testing.T) {
	p := openFixed(t)
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		got  func() string
		want string
	}{
		{"Actor", func() string { return p.Actor("acc_k3v7wqz2m4n5", "vid_a2b3c4d5e6f7") }, "gPdUEY3dEKvvwY1vhOTHsw"},
		{"Actor/empty", func() string { return p.Actor("", "") }, "wDNaBaqZtUrZri2I6ZFhzA"},
		{"Actor/long", func() string { return p.Actor(long, "vid") }, "LzSghUuMmHS0uBiNdVuj5Q"},
		{"Actor/follow", func() string { return p.Actor("acc_1", "follow:cr_2") }, "LlTkokJ70uKZ-AnbSuOR5w"},
		{"AccountDay", func() string { return p.AccountDay("acc_k3v7wqz2m4n5", t0) }, "rNp6IbqYqSrMD-N7rJzubQ"},
		{"AccountDay/otherZone", func() string {
			return p.AccountDay("acc_k3v7wqz2m4n5", time.Date(2026, 3, 9, 22, 30, 0, 0, time.FixedZone("EST", -5*3600)))
		}, "rNp6IbqYqSrMD-N7rJzubQ"},
		{"AccountDay/nextDay", func() string { return p.AccountDay("acc_k3v7wqz2m4n5", t0.Add(oneDay)) }, "za1gSpTtzMLAVf7Bzt50Hg"},
		{"EventID", func() string { return p.EventID("evt_0123456789ABCDEFGHJKMN") }, "1ivcckJAmorZeHFlV690Qw"},
		{"EventID/long", func() string { return p.EventID(long) }, "38MIn47UNFIZjF1vGqS7QQ"},
		{"ViewerDay", func() string { return MustViewerDay(t, p, "acc_k3v7wqz2m4n5", "vid_a2b3c4d5e6f7", t0) }, "sUOzVwgVNWulKBe4BP-A8w"},
	}
	for _, c := range cases {
		if got := c.got(); got != c.want {
			t.Errorf("%s = %q; want %q", c.name, got, c.want)
		}
	}
}

// BenchmarkPseudonyms measures each kind of pseudonym on ids of realistic
// length.
func BenchmarkPseudonyms(b *testing.B) {
	p := openFixed(b)
	const account, video = "acc_k3v7wqz2m4n5", "vid_a2b3c4d5e6f7"
	// Besides wall time, CPU time per call (GC included): steadier on a
	// busy machine.
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				f()
			}
			if cpu = cputime.Process() - cpu; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
	run("Actor", func() { p.Actor(account, video) })
	run("AccountDay", func() { p.AccountDay(account, t0) })
	run("ViewerDay", func() {
		if _, err := p.ViewerDay(account, video, t0); err != nil {
			b.Fatal(err)
		}
	})
	run("EventID", func() { p.EventID("evt_0123456789ABCDEFGHJKMN") })
	b.Run("ViewerDay/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.ViewerDay(account, video, t0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// encode returns the canonical encoding of fields, as the hasher writes it.
func encode(fields ...string) []byte {
	s := begin()
	for _, f := range fields {
		s.field(f)
	}
	b := slices.Clone(s.buf)
	hashers.Put(s)
	return b
}

func TestHasher_DayIsItsField(t *testing.T) {
	for _, d := range []time.Time{t0, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		s := begin().day(d)
		got := slices.Clone(s.buf)
		hashers.Put(s)
		if want := encode(d.Format(dayLayout)); !slices.Equal(got, want) {
			t.Errorf("day(%v) encodes %x; want %x", d, got, want)
		}
	}
}
