package sim

import (
	"net/http"
	"strings"
	"testing"
)

func TestFleet(t *testing.T) {
	ps := []Profile{fastProfile("groq"), fastProfile("together"), fastProfile("cerebras")}
	f, err := StartFleet(ps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	servers := f.Servers()
	if len(servers) != len(ps) {
		t.Fatalf("%d servers, want %d", len(servers), len(ps))
	}
	c := newClient(t)
	urls := map[string]bool{}
	for i, s := range servers {
		if s.Name() != ps[i].Name {
			t.Errorf("server %d is %q, want %q", i, s.Name(), ps[i].Name)
		}
		if got, ok := f.Server(ps[i].Name); !ok || got != s {
			t.Errorf("Server(%q) = %v, %v", ps[i].Name, got, ok)
		}
		urls[s.URL()] = true
		if got := status(t, c, s, chatBody("hi", false)); got != http.StatusOK {
			t.Errorf("%s: status %d", s.Name(), got)
		}
	}
	if len(urls) != len(ps) {
		t.Errorf("servers share URLs: %v", urls)
	}
	if _, ok := f.Server("nobody"); ok {
		t.Error("Server(nobody) found a server")
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestFleetRejectsBadProfiles(t *testing.T) {
	dup := []Profile{fastProfile("groq"), fastProfile("together"), fastProfile("groq")}
	if _, err := StartFleet(dup, Options{}); err == nil || !strings.Contains(err.Error(), `"groq"`) {
		t.Errorf("duplicate names: error %v", err)
	}
	// The third profile is invalid: the two started first must be closed,
	// which goleak checks at the end of the run.
	bad := fastProfile("broken")
	bad.Models = nil
	if _, err := StartFleet([]Profile{fastProfile("a"), fastProfile("b"), bad}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "broken") {
		t.Errorf("invalid profile: error %v", err)
	}
}
