package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse_EnvFillsUnsetFlags(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Flags(fs)
	env := map[string]string{"CROWD_DATA": "/env/data", "CROWD_DISCLOSURE": "exact", "CROWD_ADDR": "0.0.0.0:1", "CROWD_LOGIN_PER_MINUTE": "7",
		"CROWD_REGISTER_PER_MINUTE": "3", "CROWD_ANON_VIEWS_PER_MINUTE": "60", "CROWD_LOG_COMPRESSION": "none"}
	if err := Parse(fs, []string{"--addr", "127.0.0.1:9"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Data != "/env/data" || c.Disclosure != "exact" || c.LoginPerMinute != 7 || c.RegisterPerMinute != 3 || c.AnonViewsPerMinute != 60 || c.LogCompression != "none" {
		t.Fatalf("env not applied: %+v", c)
	}
	if c.Addr != "127.0.0.1:9" {
		t.Fatalf("flag must win over env: %q", c.Addr)
	}
}

func TestParse_BadEnvNamesVariable(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Flags(fs)
	err := Parse(fs, nil, func(k string) string {
		if k == "CROWD_LOGIN_PER_MINUTE" {
			return "many"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "CROWD_LOGIN_PER_MINUTE") {
		t.Fatalf("got %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Disclosure = "loose" }, "disclosure"},
		{func(c *Config) { c.Addr = "nope" }, "addr"},
		{func(c *Config) { c.Data = "" }, "data"},
		{func(c *Config) { c.LogLevel = "loud" }, "log-level"},
		{func(c *Config) { c.RegisterPerMinute = 0 }, "register-per-minute"},
		{func(c *Config) { c.AnonViewsPerMinute = 0 }, "anon-views-per-minute"},
		{func(c *Config) { c.NATSStream = "a.b" }, "nats-stream"},
		{func(c *Config) { c.MaxBodyBytes = 10 }, "max-body-bytes"},
		{func(c *Config) { c.StateLimit = 10 }, "state-limit"},
		{func(c *Config) { c.DirectoryLimit = 999 }, "directory-limit"},
		{func(c *Config) { c.MemoryLimitMiB = -1 }, "memory-limit-mib"},
		{func(c *Config) { c.AggregatePartitions = "0-" }, "aggregate-partitions"},
		{func(c *Config) { c.AggregatePartitions = "0-7,9" }, ""},
		{func(c *Config) { c.AdminAddr = "nope" }, "admin-addr"},
		{func(c *Config) { c.AdminAddr = "" }, ""},
		{func(c *Config) { c.AdminAddr = "off" }, ""},
		{func(c *Config) { c.LogCompression = "none" }, ""},
		{func(c *Config) { c.LogCompression = "gzip" }, `log-compression "gzip"`},
		{func(c *Config) { c.LogCompression = "" }, "log-compression"},
		{func(c *Config) { c.MaxLag = 0 }, "max-lag"},
		{func(c *Config) { c.MaxLag = time.Hour }, "max-lag 1h0m0s: must be between 250ms and 10m0s"},
	}
	for _, tt := range tests {
		c := Default()
		tt.mut(&c)
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
			t.Errorf("Validate() = %v, want prefix %q", err, tt.want)
		}
	}
}

func TestParsePartitions(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // fmt of the result, or "error"
	}{
		{"all", "[]"},
		{"3", "[3]"},
		{"0-3,2,7", "[0 1 2 3 7]"},
		{" 1 , 5-6", "[1 5 6]"},
		{"", "error"},
		{"16", "error"},
		{"4-2", "error"},
		{"-1", "error"},
		{"a", "error"},
		{"0-15", "[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]"},
	} {
		got, err := ParsePartitions(tt.in, 16)
		s := fmt.Sprint(got)
		if err != nil {
			s = "error"
		}
		if s != tt.want {
			t.Errorf("ParsePartitions(%q) = %s (%v), want %s", tt.in, s, err, tt.want)
		}
	}
}

// TestDefault_Operator: the operator listener is on by default, on
// loopback only; --secrets-dir defaults to DATA/secrets.
func TestDefault_Operator(t *testing.T) {
	c := Default()
	if c.AdminAddr != "127.0.0.1:9464" || c.AdminOff() {
		t.Errorf("AdminAddr %q", c.AdminAddr)
	}
	c.Data = "/srv/crowd"
	if got := c.Secrets(); got != "/srv/crowd/secrets" {
		t.Errorf("Secrets() = %q", got)
	}
	c.SecretsDir = "/etc/crowd/secrets"
	if got := c.Secrets(); got != "/etc/crowd/secrets" {
		t.Errorf("Secrets() = %q with SecretsDir set", got)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c = Default()
	c.Flags(fs)
	env := map[string]string{"CROWD_ADMIN_ADDR": "off", "CROWD_SECRETS_DIR": "/s", "CROWD_ALLOW_EXACT_AFTER_PROTECTED": "true"}
	if err := Parse(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !c.AdminOff() || c.SecretsDir != "/s" || !c.AllowExactAfterProtected {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestParseArgs_Interspersed(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	c.DataFlag(fs)
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "")
	pos, err := ParseArgs(fs, []string{"events.ndjson", "--data", "/tmp/d", "--log-level", "warn", "--", "--odd-name"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/tmp/d" || c.LogLevel != "warn" {
		t.Errorf("flags after the argument were dropped: data %q, log-level %q", c.Data, c.LogLevel)
	}
	if len(pos) != 2 || pos[0] != "events.ndjson" || pos[1] != "--odd-name" {
		t.Errorf("arguments = %q", pos)
	}
}

func TestParse_StrayArgument(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Flags(fs)
	err := Parse(fs, []string{"--data", "/tmp/d", "stray", "--addr", "127.0.0.1:1"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `"stray"`) {
		t.Fatalf("err = %v; want one naming the stray argument", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"protected", "exact"} {
		m, err := ParseMode(s)
		if err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "loose", "Exact", "PROTECTED", " exact", "exact "} {
		m, err := ParseMode(s)
		want := fmt.Sprintf("disclosure %q: must be protected or exact", s)
		if err == nil || err.Error() != want || m != "" {
			t.Errorf("ParseMode(%q) = %q, %v; want the error %s", s, m, err, want)
		}
	}
}

// TestDisclosureFlag: --disclosure takes the two modes, from the command
// line or CROWD_DISCLOSURE, and anything else is refused by Validate with
// the message every field has.
func TestDisclosureFlag(t *testing.T) {
	parse := func(args []string, env map[string]string) (Config, error) {
		c := Default()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		c.Flags(fs)
		if err := Parse(fs, args, func(k string) string { return env[k] }); err != nil {
			return c, err
		}
		return c, c.Validate()
	}
	if c, err := parse(nil, nil); err != nil || c.Disclosure != Protected {
		t.Errorf("default: %q, %v", c.Disclosure, err)
	}
	if c, err := parse([]string{"--disclosure", "exact"}, nil); err != nil || c.Disclosure != Exact {
		t.Errorf("flag: %q, %v", c.Disclosure, err)
	}
	if c, err := parse(nil, map[string]string{"CROWD_DISCLOSURE": "exact"}); err != nil || c.Disclosure != Exact {
		t.Errorf("env: %q, %v", c.Disclosure, err)
	}
	_, err := parse([]string{"--disclosure", "loose"}, nil)
	if err == nil || err.Error() != `disclosure "loose": must be protected or exact` {
		t.Errorf("bad mode: %v", err)
	}
}

// TestMaxLagFlag: --max-lag (and CROWD_MAX_LAG) is a duration, 6 s by
// default; a value that is not a duration is refused by the parse, one out
// of its bounds by Validate, naming the flag.
func TestMaxLagFlag(t *testing.T) {
	parse := func(args []string, env map[string]string) (Config, error) {
		c := Default()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.Flags(fs)
		err := Parse(fs, args, func(k string) string { return env[k] })
		if err == nil {
			err = c.Validate()
		}
		return c, err
	}
	c, err := parse(nil, nil)
	if err != nil || c.MaxLag != 6*time.Second {
		t.Fatalf("default: %v, %v; want 6s", c.MaxLag, err)
	}
	c, err = parse([]string{"--max-lag", "1500ms"}, nil)
	if err != nil || c.MaxLag != 1500*time.Millisecond {
		t.Fatalf("--max-lag 1500ms: %v, %v", c.MaxLag, err)
	}
	c, err = parse(nil, map[string]string{"CROWD_MAX_LAG": "20s"})
	if err != nil || c.MaxLag != 20*time.Second {
		t.Fatalf("CROWD_MAX_LAG=20s: %v, %v", c.MaxLag, err)
	}
	for _, bad := range []string{"3", "fast", "-1s", "0s", "100ms", "11m"} {
		if _, err := parse([]string{"--max-lag=" + bad}, nil); err == nil || !strings.Contains(err.Error(), "max-lag") {
			t.Errorf("--max-lag=%s: %v, want an error naming max-lag", bad, err)
		}
	}
	for _, ok := range []string{"250ms", "10m"} {
		if _, err := parse([]string{"--max-lag=" + ok}, nil); err != nil {
			t.Errorf("--max-lag=%s: %v", ok, err)
		}
	}
}
