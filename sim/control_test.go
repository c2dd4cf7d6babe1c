package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestModeNames(t *testing.T) {
	for m := ModeNormal; m < numModes; m++ {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	if got, err := ParseMode(" Rate-Limited "); err != nil || got != ModeRateLimited {
		t.Errorf("ParseMode(Rate-Limited) = %v, %v", got, err)
	}
	if _, err := ParseMode("broken"); err == nil || !strings.Contains(err.Error(), "rate_limited") {
		t.Errorf("ParseMode(broken) error = %v; want one listing the modes", err)
	}
	if got := Mode(99).String(); got != "Mode(99)" {
		t.Errorf("Mode(99).String() = %q", got)
	}
	if _, err := Mode(99).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown mode succeeded")
	}
}

func TestControlAPI(t *testing.T) {
	s := startServer(t, fastProfile("groq"), Options{})
	c := newClient(t)
	modeURL := s.ControlURL() + "/mode"

	readMode := func(resp *http.Response) string {
		t.Helper()
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("control status = %d", resp.StatusCode)
		}
		var body struct {
			Name string `json:"name"`
			Mode string `json:"mode"`
		}
		decodeStrict(t, resp.Body, &body)
		if body.Name != "groq" {
			t.Errorf("name = %q", body.Name)
		}
		return body.Mode
	}

	if got := readMode(mustGet(t, c, modeURL)); got != "normal" {
		t.Errorf("initial mode = %q", got)
	}
	for _, tt := range []struct {
		mode   string
		status int
	}{
		{"down", http.StatusServiceUnavailable},
		{"rate_limited", http.StatusTooManyRequests},
		{"normal", http.StatusOK},
	} {
		if got := readMode(mustPost(t, c, modeURL, map[string]string{"mode": tt.mode})); got != tt.mode {
			t.Errorf("POST %s answered mode %q", tt.mode, got)
		}
		if s.Mode().String() != tt.mode {
			t.Errorf("after POST %s, Mode() = %v", tt.mode, s.Mode())
		}
		if got := readMode(mustGet(t, c, modeURL)); got != tt.mode {
			t.Errorf("GET after POST %s = %q", tt.mode, got)
		}
		if got := status(t, c, s, chatBody("hi", false)); got != tt.status {
			t.Errorf("chat in mode %s: status %d, want %d", tt.mode, got, tt.status)
		}
	}

	for _, bad := range []string{`{"mode":"broken"}`, `{"mode":3}`, `{}`, `not json`} {
		expectError(t, mustPost(t, c, modeURL, bad), http.StatusBadRequest, "invalid_request_error", "")
	}
	if s.Mode() != ModeNormal {
		t.Errorf("a bad control request changed the mode to %v", s.Mode())
	}

	resp := mustGet(t, c, s.ControlURL()+"/stats")
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st != s.Stats() || st.Requests != 3 {
		t.Errorf("GET stats = %+v, Stats() = %+v; want the 3 chat requests", st, s.Stats())
	}
}
