package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"switchboard/sim"
)

// lockedBuffer is a log destination that handlers on other goroutines may
// write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client that goes away while its answer is being carried on elsewhere
// (the first provider cut the stream, a prefill endpoint resumed it) is
// "canceled" in the log and the metrics: the answer did not break off, the
// client left. It holds whether the client leaves during the broken stream
// or during the resumed one (which sends more than the 32 bytes a resumed
// stream is held back for, to tell a continuation from a restart).
func TestClientCancelDuringResumedStreamIsCanceled(t *testing.T) {
	for _, c := range []struct{ path, leaveAt string }{
		{"/v1/chat/completions", `"content"`}, {"/v1/chat/completions", "RESUMED"},
		{"/v1/messages", `"text_delta"`}, {"/v1/messages", "RESUMED"},
	} {
		t.Run(c.path+" "+c.leaveAt, func(t *testing.T) {
			cont := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\" RESUMED, and the answer goes on from here at length.\"},\"finish_reason\":null}]}\n\n")
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			t.Cleanup(cont.Close)
			var logs lockedBuffer
			f := newFixture(t, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))}, map[string]upstream{
				"cuts": {profile: &sim.Profile{CutRate: 1}, price: 1},
				"cont": {url: cont.URL, price: 50, prefill: true}})
			body, _ := json.Marshal(map[string]any{"model": testModel, "stream": true, "max_tokens": 200,
				"messages": []map[string]any{{"role": "user", "content": "Say hello."}}})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+c.path, bytes.NewReader(body))
			req.Header.Set("Anthropic-Version", "2023-06-01")
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() && !strings.Contains(sc.Text(), c.leaveAt) {
			}
			cancel()
			resp.Body.Close()
			f.srv.Close() // waits for the handler to finish and log
			if l := logs.String(); !strings.Contains(l, "outcome=canceled") {
				t.Errorf("log: %s", l)
			}
			m := httptest.NewRecorder()
			f.srv.Config.Handler.ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if got := grep(m.Body.String(), "requests_total"); !strings.Contains(got, `outcome="canceled"`) || strings.Contains(got, "interrupted") {
				t.Errorf("metrics:\n%s", got)
			}
		})
	}
}
