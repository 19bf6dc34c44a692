package httpapi

import (
	"strings"
	"testing"
)

// FuzzDecodeJSON feeds arbitrary bytes to the request decoder: it must never
// panic, and whatever it accepts must be exactly one JSON object of the
// target's shape.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"handle":"mia","password":"secret-secret"}`,
		`{"handle":1}`, `[]`, `null`, `{"a":1}`, `{} {}`, `{"handle":"x"`, ``, `  `,
		`{"source":"for_you","watch_ms":-1,"completed":true}`,
		`{"watch_ms":1e400}`, `{"hashtags":["a",null]}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r registerRequest
		if err := decodeJSON(b, &r); err == nil {
			if !strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
				t.Fatalf("accepted a non-object: %q", b)
			}
		} else if err.Error() == "" {
			t.Fatal("empty error message")
		}
		var v viewRequest
		_ = decodeJSON(b, &v)
		var c createVideoRequest
		_ = decodeJSON(b, &c)
	})
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{`{"handle":"mia"}`, ""},
		{``, "empty"},
		{`{"handle":1}`, `field "handle" must be a string`},
		{`{"nope":1}`, `unknown field "nope"`},
		{`{"handle":"a"} {"handle":"b"}`, "exactly one JSON object"},
		{`{"handle":`, "unexpected end"},
		{`[1]`, "JSON object"},
		{`{"handle":"a",}`, "malformed JSON"},
	}
	for _, tt := range tests {
		var r registerRequest
		err := decodeJSON([]byte(tt.in), &r)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}
