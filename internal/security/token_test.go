package security

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	tokenRE := regexp.MustCompile(`^crs_[A-Za-z0-9_-]{43}$`)
	seen := make(map[string]bool)
	for range 1000 {
		tok, err := NewToken("crs")
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRE.MatchString(tok) {
			t.Fatalf("token %q does not match %v", tok, tokenRE)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
		if p := TokenPrefix(tok); p != "crs" {
			t.Fatalf("TokenPrefix(%q) = %q; want crs", tok, p)
		}
	}
	t.Run("BadPrefix", func(t *testing.T) {
		for _, p := range []string{"", "a_b", "CRS", "crs-", "abcdefghijklmnopq", "é"} {
			if tok, err := NewToken(p); err == nil {
				t.Errorf("NewToken(%q) = %q, nil; want error", p, tok)
			}
		}
	})
}

func TestTokenPrefix(t *testing.T) {
	tests := map[string]string{
		"crs_abc":   "crs",
		"crs_a_b_c": "crs",
		"key__x":    "key",
		"noprefix":  "",
		"":          "",
		"_leading":  "",
		"api_":      "api",
	}
	for tok, want := range tests {
		if got := TokenPrefix(tok); got != want {
			t.Errorf("TokenPrefix(%q) = %q; want %q", tok, got, want)
		}
	}
}

func TestHashToken(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Errorf("HashToken(abc) = %s; want %s", got, want)
	}
	a, _ := NewToken("crs")
	b, _ := NewToken("crs")
	if HashToken(a) == HashToken(b) {
		t.Error("different tokens hash alike")
	}
}

func TestNewID(t *testing.T) {
	idRE := regexp.MustCompile(`^[a-z2-7]{26}$`)
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		if !idRE.MatchString(id) {
			t.Fatalf("id %q does not match %v", id, idRE)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "abcd", false},
		{"abc", "", false},
		{strings.Repeat("x", 1000), strings.Repeat("x", 1000), true},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
