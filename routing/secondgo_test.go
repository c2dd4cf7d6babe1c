package routing

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
)

// When every endpoint failed, a request with time left goes round once
// more, after a short pause, to those whose failure may have passed (an
// overloaded answer, a server error, a broken stream), each at most twice
// in all; not to one that timed out, which would cost the same wait again.
// Counted on the upstreams' side.
func TestASecondRoundAfterEveryEndpointFailed(t *testing.T) {
	var saw [3]atomic.Int64
	upstream := func(i int, serve func(w http.ResponseWriter, r *http.Request, n int64)) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			serve(w, r, saw[i].Add(1))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	busyOnce := func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			http.Error(w, `{"error":{"message":"busy"}}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", story)
	}
	a := upstream(0, busyOnce)
	b := upstream(1, busyOnce)
	c := upstream(2, func(w http.ResponseWriter, r *http.Request, _ int64) { // silent
		io.Copy(io.Discard, r.Body) // read to its end, so that the server sees the client go
		<-r.Context().Done()
	})
	clk := monitortest.NewClock()
	ep := func(name, url string, price float64) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "u", PriceIn: price,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url})}
	}
	r := routerOver(t, Options{Clock: clk}, ep("c", c.URL, 1), ep("a", a.URL, 2), ep("b", b.URL, 3))
	req := ask("hello")
	req.Provider.Sort = Sort{By: SortPrice}
	req.Timeouts.FirstToken = 50 * time.Millisecond
	res, err := r.Send(t.Context(), req, nil) // the fake clock passes the pause before the second round at once
	if err != nil {
		t.Fatal(err)
	}
	at := res.Trace.Attempts
	if got := strings.Join(outcomes(res.Trace), " "); got != "c:timeout a:overloaded b:overloaded a:ok" {
		t.Fatalf("attempts %s", got)
	}
	if !at[3].Retry || !strings.Contains(at[3].Waited, "a second round, every endpoint having failed") || res.Content != story {
		t.Errorf("the second round's attempt %+v; content %q", at[3], res.Content)
	}
	if c, a, b := saw[2].Load(), saw[0].Load(), saw[1].Load(); c != 1 || a != 2 || b != 1 {
		t.Errorf("c saw %d requests, a %d, b %d; want 1, 2 and 1", c, a, b)
	}
}
