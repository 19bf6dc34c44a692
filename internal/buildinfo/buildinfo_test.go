package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	i := Read()
	if i.Go != runtime.Version() {
		t.Errorf("Go = %q; want %q", i.Go, runtime.Version())
	}
	if i.Version == "" || i.Revision == "" {
		t.Errorf("empty fields: %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, "crowd "+i.Version+" (revision "+i.Revision) || !strings.Contains(s, runtime.Version()) {
		t.Errorf("String() = %q", s)
	}
}

func TestRead_VersionOverride(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	Version = "v9.9.9"
	if got := Read().Version; got != "v9.9.9" {
		t.Errorf("Version = %q; want the one set at build time", got)
	}
}
