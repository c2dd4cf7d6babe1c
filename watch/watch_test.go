package watch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"switchboard/provider"
	"switchboard/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cutGateway answers what Dial reads as a gateway would, and cuts every
// chat stream after its first piece, as a connection that drops does: no
// finish reason, no [DONE].
func cutGateway(t *testing.T, done bool) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/routes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"models":[{"name":"m","endpoints":[{"id":"m@a","provider":"a","model":"m","upstream_model":"u","price_in":1,"price_out":1}]}]}`)
	})
	mux.HandleFunc("GET /admin/v1/faults", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"modes":[],"providers":{}}`) })
	mux.HandleFunc("GET /admin/v1/snapshot", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"Endpoints":[]}`) })
	mux.HandleFunc("GET /admin/v1/stream", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"provider\":\"a\",\"choices\":[{\"delta\":{\"content\":\"Half an\"}}]}\n\n")
		if done {
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A stream that ends without a finish reason is never an answer: the
// caller gets what came and an error that says it may be cut short.
func TestSendNeverPassesACutAnswerOff(t *testing.T) {
	for _, done := range []bool{false, true} {
		g, err := Dial(t.Context(), cutGateway(t, done), "k")
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		res, err := g.Send(t.Context(), routing.Request{Model: "m", Messages: []provider.Message{{Role: "user", Content: "hi"}}},
			func(d routing.Delta) { got.WriteString(d.Content) })
		g.Close()
		if err == nil || !strings.Contains(err.Error(), "cut short") || got.String() != "Half an" || res.Provider != "a" {
			t.Errorf("[DONE] %v: err %v, got %q from %q", done, err, got.String(), res.Provider)
		}
	}
}
