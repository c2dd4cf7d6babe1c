//go:build unix

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// setFileLimit sets the soft limit on open files to n until the test ends.
func setFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	old := r.Cur
	r.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Cur = old
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			t.Error(err)
		}
	})
}

// openFiles is how many files the process has open.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/dev/fd")
	if err != nil {
		t.Skip("no /dev/fd to count open files in:", err)
	}
	return len(fds)
}

// A flood of clients that send their headers and part of a body and stall
// holds no one up, even past what the process may open: the gateway keeps
// to MaxConnections, older stalled clients make way for newer ones, and a
// legitimate request is routed and answered within a second.
//
// The clients are in the test's process, so the open-file limit is set to
// what they hold plus what the gateway may: without the cap, the gateway
// would take a file for every stalled client too, and run out (accepting
// nothing more, or leaving the test none to dial with). That needs 1,000
// plus the cap plus a margin under the hard limit; a lower hard limit
// (ulimit -Hn 1024 on some CI machines) gets fewer clients, logged.
func TestSlowClientFloodLeavesTheAPIAnswering(t *testing.T) {
	const capacity = 300
	f := fastFixture(t, Options{})
	st := newStates(1100)
	srv := startServer(t, New(Options{Router: f.router, Health: f.mon, MaxConnections: capacity, BodyTimeout: time.Minute}), st.hook)
	// Warm the route, so that the upstream's connection is open already.
	if resp, b := f.do(t, mustPost(t, srv.URL+"/v1/chat/completions", chatBody(false)), srv.Client()); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}

	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	base := openFiles(t)
	margin := capacity + maxEvicting + maxRefusing + 32 // the gateway's side, at most, and the legitimate request's files
	n := min(1000, int(min(r.Max, 1<<20))-base-margin)
	if n <= capacity+maxEvicting {
		t.Skipf("the hard open-file limit %d leaves too few files for a flood past the cap", r.Max)
	}
	if n < 1000 {
		t.Logf("the hard open-file limit is %d: %d stalled clients instead of 1,000", r.Max, n)
	}
	setFileLimit(t, uint64(base+n+margin))
	for range n {
		stall(t, srv.Listener.Addr().String(), "/v1/chat/completions")
	}
	st.wait(t, http.StateNew, n) // the gateway has taken every one of them

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	resp, b := f.do(t, mustPost(t, srv.URL+"/v1/chat/completions", chatBody(false)).WithContext(ctx), srv.Client())
	var a answer
	if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != http.StatusOK || a.Provider != "fast" || a.Choices[0].Message.Content == "" {
		t.Fatalf("with %d clients stalled: status %d, answer %s, %v", n, resp.StatusCode, b, err)
	}
}

func mustPost(t *testing.T, url string, body any) *http.Request {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// The default cap is half of the open-file limit less a reserve, within
// its bounds.
func TestDefaultMaxConnectionsFollowsTheFileLimit(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{{1024, 480}, {100, 18}, {40, 16}} {
		setFileLimit(t, c.limit)
		if got := DefaultMaxConnections(); got != c.want {
			t.Errorf("open-file limit %d: %d connections, want %d", c.limit, got, c.want)
		}
	}
}
