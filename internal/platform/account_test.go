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
