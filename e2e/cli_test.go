package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runCrowd runs the binary with args and returns its combined output and
// exit code.
func runCrowd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("crowd %v: %v", args, err)
	return "", 0
}

// TestCLI_Version: "crowd version" and "crowd --version" print the version,
// the source revision and the Go version.
func TestCLI_Version(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, code := runCrowd(t, arg)
		if code != 0 || !strings.HasPrefix(out, "crowd ") || !strings.Contains(out, "revision ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("crowd %s: exit %d, %q", arg, code, out)
		}
	}
}

// TestCLI_Help: "crowd COMMAND -h" prints the command's flags and exits 0.
func TestCLI_Help(t *testing.T) {
	for _, args := range [][]string{{"serve", "-h"}, {"import", "--help"}, {"demo", "-h"}, {"token", "create", "-h"}, {"keys", "rotate", "-h"}, {"loadgen", "-h"}, {"bench", "-h"}} {
		out, code := runCrowd(t, args...)
		if code != 0 || !strings.Contains(out, "-data") && !strings.Contains(out, "-url") && !strings.Contains(out, "-duration") {
			t.Errorf("crowd %v: exit %d, %q", args, code, out)
		}
	}
}

// TestCLI_StrayArgument: an argument that is not a flag is an error naming
// it, instead of silently ending the flags (which left the flags after it
// unset), and nothing is touched.
func TestCLI_StrayArgument(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, code := runCrowd(t, "serve", "--addr", "127.0.0.1:0", "stray", "--data", data)
	if code != 2 || !strings.Contains(out, `"stray"`) {
		t.Errorf("serve with a stray argument: exit %d, %q", code, out)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data dir was touched: %v", err)
	}
	if out, code := runCrowd(t, "demo", "--data", data, "extra"); code != 2 || !strings.Contains(out, `"extra"`) {
		t.Errorf("demo with a stray argument: exit %d, %q", code, out)
	}
}

// TestCLI_ImportFlagsAfterFile: the flags after crowd import's FILE apply.
func TestCLI_ImportFlagsAfterFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "events.ndjson")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	out, code := runCrowd(t, "import", file, "--data", data, "--disclosure", "exact")
	if code != 0 {
		t.Fatalf("import: exit %d, %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "crowd.db")); err != nil {
		t.Errorf("--data after FILE was ignored: %v\n%s", err, out)
	}
	if out, code := runCrowd(t, "import", file, file, "--data", data); code != 2 || !strings.Contains(out, "unexpected argument") {
		t.Errorf("import of two files: exit %d, %q", code, out)
	}
	// --cpuprofile writes the import's CPU profile.
	prof := filepath.Join(dir, "import.prof")
	if out, code := runCrowd(t, "import", file, "--data", data, "--cpuprofile", prof); code != 0 {
		t.Fatalf("import with --cpuprofile: exit %d, %s", code, out)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("import --cpuprofile wrote no profile: %v", err)
	}
}
