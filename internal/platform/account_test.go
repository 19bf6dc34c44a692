package platform

import (
	"testing"
	"time"
)

func TestValidateHandle(t *testing.T) {
	for h, ok := range map[string]bool{
		"mia": true, "leo_2": true, "a.b": true, "abc123": true, "ab": false, "_mia": false, ".mia": false,
		"mia.": false, "m..a": false, "Mia": false, "mia!": false, "mía": false, "a23456789012345678901234567890": true,
		"a234567890123456789012345678901": false, "": false,
	} {
		if err := ValidateHandle(h); (err == nil) != ok {
			t.Errorf("ValidateHandle(%q) = %v, want ok=%v", h, err, ok)
		}
	}
}

func TestValidateBirthDate(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for d, ok := range map[string]bool{
		"": true, "2000-01-01": true, "2013-11-24": true, "2013-11-25": false, "2026-01-01": false,
		"1890-01-01": false, "2000-02-30": false, "2000/01/01": false, "01-01-2000": false,
	} {
		if err := ValidateBirthDate(d, now); (err == nil) != ok {
			t.Errorf("ValidateBirthDate(%q) = %v, want ok=%v", d, err, ok)
		}
	}
}

func TestAgeBucket(t *testing.T) {
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for birth, want := range map[string]string{
		"2013-06-15": "13-17", "2013-06-16": "unknown", "2008-06-16": "13-17", "2008-06-15": "18-24",
		"2002-01-01": "18-24", "2001-06-15": "25-34", "1992-01-01": "25-34", "1991-06-15": "35-44",
		"1981-06-16": "35-44", "1981-06-15": "45-54", "1972-06-15": "45-54", "1971-06-15": "55+", "": "unknown", "x": "unknown",
	} {
		if got := AgeBucket(birth, at); got != want {
			t.Errorf("AgeBucket(%q) = %q, want %q", birth, got, want)
		}
	}
}

// FuzzParseDate: parseDate reads what time.Parse(time.DateOnly) reads, and
// only that.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2000-02-29", "1900-02-29", "2001-02-29", "2026-12-31", "2026-13-01", "2026-00-10",
		"2026-04-31", "0000-01-01", "9999-12-31", "2026-1-01", "+026-01-01", "2026-01-0a", "", "2026/01/01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y, m, d, ok := parseDate(s)
		want, err := time.Parse(time.DateOnly, s)
		if ok != (err == nil) {
			t.Fatalf("parseDate(%q) ok=%v, time.Parse: %v", s, ok, err)
		}
		if ok && (y != want.Year() || m != want.Month() || d != want.Day()) {
			t.Fatalf("parseDate(%q) = %d-%d-%d, want %v", s, y, m, d, want)
		}
	})
}

func BenchmarkAgeBucket(b *testing.B) {
	at := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		AgeBucket("1991-06-15", at)
	}
}

func TestValidateCountryAndEnums(t *testing.T) {
	for c, ok := range map[string]bool{"DE": true, "US": true, "": true, "de": false, "XX": false, "DEU": false} {
		if err := ValidateCountry(c); (err == nil) != ok {
			t.Errorf("ValidateCountry(%q) = %v", c, err)
		}
	}
	if ValidateGender("robot") == nil || ValidateGender("other") != nil {
		t.Error("ValidateGender")
	}
	if ValidateDMPolicy("friends") == nil || ValidateDMPolicy("following") != nil {
		t.Error("ValidateDMPolicy")
	}
	if !ValidSource("shared") || ValidSource("tv") || !ValidChannel("copy_link") || ValidChannel("fax") {
		t.Error("sources or channels")
	}
}

func TestValidateVideo(t *testing.T) {
	tags, err := ValidateVideo("Title", "cap\nline", "sound", []string{"#Sun", "sun", "Sky"})
	if err != nil || len(tags) != 2 || tags[0] != "sun" || tags[1] != "sky" {
		t.Fatalf("tags %v, %v", tags, err)
	}
	for _, bad := range [][]string{{"two words"}, {""}, {"#"}} {
		if _, err := ValidateVideo("t", "", "", bad); err == nil {
			t.Errorf("hashtags %q accepted", bad)
		}
	}
	if _, err := ValidateVideo(" ", "", "", nil); err == nil {
		t.Error("blank title accepted")
	}
	if _, err := ValidateVideo("t\x00", "", "", nil); err == nil {
		t.Error("control character accepted")
	}
}
