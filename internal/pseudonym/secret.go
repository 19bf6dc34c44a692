package pseudonym

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// secret is key material. Every way fmt or slog could print it prints
// "[redacted]" instead, so that no stray debug line or error wrap can leak
// it. Fields holding secrets are pointers: fmt does not follow pointers
// below the top level, which keeps even %#v of an enclosing struct safe.
type secret []byte

func (s secret) String() string               { return redacted }
func (s secret) GoString() string             { return redacted }
func (s secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s secret) Format(f fmt.State, _ rune)   { fmt.Fprint(f, redacted) }
func (s secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
