package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"switchboard/monitor"
	"switchboard/routing"
	"switchboard/sim"
)

// simFaults forces modes on a fixture's simulated providers, as the
// dashboard's f key does on the embedded fleet.
type simFaults map[string]*sim.Server

func (f simFaults) Modes() []string { return []string{"normal", "down"} }

func (f simFaults) Mode(p string) (string, bool) {
	if s, ok := f[p]; ok {
		return s.Mode().String(), true
	}
	return "", false
}

func (f simFaults) SetMode(p, mode string) error {
	s, ok := f[p]
	if !ok {
		return fmt.Errorf("%s is not a simulated provider", p)
	}
	m, err := sim.ParseMode(mode)
	if err != nil {
		return err
	}
	s.SetMode(m)
	return nil
}

// adminFixture is a gateway with API key "api" and admin key "adm" over
// two simulated providers, a (the cheaper) and b, and the admin API's
// faults over them.
func adminFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Options{Keys: []string{"api"}, Admin: Admin{Keys: []string{"adm"}}},
		map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}, "b": {profile: &sim.Profile{}, price: 20}})
	return f
}

// admin sends method to path with key, body (JSON) if not nil, and returns
// the answer with its body read.
func (f *fixture) admin(t *testing.T, method, path, key string, body any) (*http.Response, []byte) {
	t.Helper()
	var r *strings.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return f.do(t, req)
}

func TestAdminAPIIsOffWithoutKeys(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"a": {profile: &sim.Profile{}, price: 1}})
	resp, body := f.get(t, "/admin/v1/snapshot")
	if e := decodeError(t, resp, body, http.StatusNotFound); !strings.Contains(e.Error.Message, "admin_key_env") {
		t.Errorf("the answer does not say how to turn the admin API on: %s", body)
	}
}

func TestAdminAPIWantsItsKey(t *testing.T) {
	f := adminFixture(t)
	for _, key := range []string{"", "api", "wrong"} {
		resp, body := f.admin(t, http.MethodGet, "/admin/v1/snapshot", key, nil)
		if e := decodeError(t, resp, body, http.StatusUnauthorized); !strings.Contains(e.Error.Message, "admin key") ||
			strings.Contains(string(body), "wrong") {
			t.Errorf("key %q: %s", key, body)
		}
	}
	// The admin key opens the API too: a watching dashboard sends its
	// prompts through it.
	resp, body := f.post(t, "/v1/chat/completions", chatBody(false), "Authorization", "Bearer adm")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a chat request with the admin key: %d %s", resp.StatusCode, body)
	}
	resp, body = f.admin(t, http.MethodGet, "/admin/v1/nothing", "adm", nil)
	decodeError(t, resp, body, http.StatusNotFound)
}

// An endpoint turned off through the admin API gets no more requests (on
// its server's side), the event says who, and turned on it serves again.
func TestAdminTurnsAnEndpointOff(t *testing.T) {
	f := adminFixture(t)
	id := testModel + "@a"
	resp, body := f.admin(t, http.MethodPost, "/admin/v1/endpoints/"+id, "adm", map[string]bool{"enabled": false})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for range 3 {
		if resp, body := f.post(t, "/v1/chat/completions", chatBody(false), "Authorization", "Bearer api"); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if a, b := f.sims["a"].Stats().Chats, f.sims["b"].Stats().Chats; a != 0 || b != 3 {
		t.Fatalf("a got %d requests and b %d; want none to a, turned off", a, b)
	}
	resp, body = f.admin(t, http.MethodGet, "/admin/v1/snapshot", "adm", nil)
	var snap monitor.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
	}
	if st := snap.Status(id); st == nil || st.Enabled || st.State != monitor.Disabled ||
		!strings.HasPrefix(st.OffBy, "the admin API, from 127.0.0.1:") || st.Reason != "turned off by "+st.OffBy {
		t.Fatalf("the snapshot has %+v", st)
	}
	if ev := snap.Events[len(snap.Events)-1]; ev.Kind != monitor.EventTurnedOff || !strings.HasPrefix(ev.Detail, "turned off by the admin API, from 127.0.0.1:") {
		t.Errorf("the event: %+v", ev)
	}
	f.admin(t, http.MethodPost, "/admin/v1/endpoints/"+id, "adm", map[string]bool{"enabled": true})
	again := chatBody(false)
	again["messages"] = []map[string]any{{"role": "user", "content": "Another conversation."}} // not stuck to b
	f.post(t, "/v1/chat/completions", again, "Authorization", "Bearer api")
	if a := f.sims["a"].Stats().Chats; a != 1 {
		t.Errorf("a got %d requests once turned on again; want the next, as the cheaper", a)
	}
}

func TestAdminRefusesWhatItCannotDo(t *testing.T) {
	f := adminFixture(t)
	id := testModel + "@a"
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		says         string
	}{
		{http.MethodPost, "/admin/v1/endpoints/" + id, map[string]any{}, 400, `{"enabled": false}`},
		{http.MethodPost, "/admin/v1/endpoints/" + id, map[string]any{"enabled": "no"}, 400, "not what this path takes"},
		{http.MethodPost, "/admin/v1/endpoints/" + id, map[string]any{"enabled": true, "who": "me"}, 400, `unknown field "who"`},
		{http.MethodPost, "/admin/v1/endpoints/" + id, `{"enabled": true} {}`, 400, "more than one JSON value"},
		{http.MethodPost, "/admin/v1/endpoints/acme/nope@z", map[string]bool{"enabled": true}, 404, "the endpoints are acme/chat-1@"}, // both, in the fixture's order
		{http.MethodGet, "/admin/v1/minutes/acme/nope@z", nil, 404, "no endpoint"},
		{http.MethodGet, "/admin/v1/endpoints/" + id, nil, 405, "POST"},
		{http.MethodPost, "/admin/v1/faults/a", map[string]string{"mode": "sleepy"}, 400, "sleepy"},
		{http.MethodPost, "/admin/v1/faults/zz", map[string]string{"mode": "down"}, 400, "zz is not a simulated provider"},
	} {
		resp, body := f.admin(t, tc.method, tc.path, "adm", tc.body)
		if e := decodeError(t, resp, body, tc.status); !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s %s %v: %s; want it to say %q", tc.method, tc.path, tc.body, body, tc.says)
		}
	}
}

// A fault forced through the admin API is the simulated provider's: its
// next request is refused as down, and the request falls back.
func TestAdminForcesAFault(t *testing.T) {
	f := adminFixture(t)
	resp, body := f.admin(t, http.MethodPost, "/admin/v1/faults/a", "adm", map[string]string{"mode": "down"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, body := f.post(t, "/v1/chat/completions", chatBody(false), "Authorization", "Bearer api"); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if st := f.sims["a"].Stats(); st.ChatsDown != 1 || f.sims["b"].Stats().Chats != 1 {
		t.Errorf("a refused %d requests as down, b got %d; want one each", st.ChatsDown, f.sims["b"].Stats().Chats)
	}
	_, body = f.admin(t, http.MethodGet, "/admin/v1/faults", "adm", nil)
	var got faultsAnswer
	if err := json.Unmarshal(body, &got); err != nil || got.Providers["a"] != "down" || got.Providers["b"] != "normal" || got.Modes[0] != "normal" {
		t.Errorf("%v: %s", err, body)
	}
}

// The stream sends the snapshot at once, then each one the monitor
// publishes (a change shows without a new request), and the trace of each
// chat request answered while it watches.
func TestAdminStreamsSnapshotsAndTraces(t *testing.T) {
	f := adminFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { f.mon.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/admin/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer adm")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Go's client asked for gzip and undid it: the stream was compressed.
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" || !resp.Uncompressed {
		t.Fatalf("%d %s, gzip undone: %v", resp.StatusCode, ct, resp.Uncompressed)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<22)
	// next reads events until one of kind want, and decodes its data into
	// v; it fails after more than 3 events of the other kind (1.5 s of
	// snapshots).
	next := func(want string, v any) {
		t.Helper()
		var event string
		others := 0
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				if event != "snapshot" && event != "trace" {
					t.Fatalf("an event of an unknown kind: %q", line)
				}
			case strings.HasPrefix(line, "data: ") && event == want:
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), v); err != nil {
					t.Fatalf("event %q: %v", event, err)
				}
				return
			case strings.HasPrefix(line, "data: "):
				if others++; others > 3 {
					t.Fatalf("no event %q among the next 3", want)
				}
			}
		}
		t.Fatalf("the stream ended before an event %q: %v", want, sc.Err())
	}
	id := testModel + "@b"
	var snap monitor.Snapshot
	if next("snapshot", &snap); snap.Status(id) == nil || !snap.Status(id).Enabled {
		t.Fatalf("the first snapshot has %+v", snap.Status(id))
	}
	f.admin(t, http.MethodPost, "/admin/v1/endpoints/"+id, "adm", map[string]bool{"enabled": false})
	for i := 0; ; i++ {
		if next("snapshot", &snap); snap.Status(id) != nil && !snap.Status(id).Enabled {
			break
		}
		if i == 3 {
			t.Fatal("no snapshot shows the endpoint turned off")
		}
	}
	if resp, body := f.post(t, "/v1/chat/completions", chatBody(false), "Authorization", "Bearer api"); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var tr routing.Trace
	if next("trace", &tr); tr.Served != testModel+"@a" || len(tr.Attempts) != 1 || tr.Model != testModel {
		t.Errorf("the trace streamed: served %q, %d attempts, model %q", tr.Served, len(tr.Attempts), tr.Model)
	}
	_, body := f.admin(t, http.MethodGet, "/admin/v1/minutes/"+id, "adm", nil)
	var minutes []monitor.MinutePoint
	if err := json.Unmarshal(body, &minutes); err != nil || len(minutes) == 0 {
		t.Errorf("minutes: %v: %s", err, body)
	}
}

// A client that does not take gzip gets the stream plain.
func TestAdminStreamPlain(t *testing.T) {
	f := adminFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/admin/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer adm")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<22)
	if resp.Header.Get("Content-Encoding") != "" || !sc.Scan() || sc.Text() != "event: snapshot" {
		t.Fatalf("encoding %q, first line %q", resp.Header.Get("Content-Encoding"), sc.Text())
	}
}

// The routes list every model with its endpoints; resolve checks provider
// names as a request's would be checked, and says "did you mean".
func TestAdminRoutesAndNames(t *testing.T) {
	f := adminFixture(t)
	resp, body := f.admin(t, http.MethodGet, "/admin/v1/routes", "adm", nil)
	var routes Routes
	if err := json.Unmarshal(body, &routes); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
	}
	if len(routes.Models) != 1 || routes.Models[0].Name != testModel || len(routes.Models[0].Endpoints) != 2 {
		t.Fatalf("routes %s", body)
	}
	for _, e := range routes.Models[0].Endpoints {
		if e.ID != testModel+"@"+e.Provider || e.UpstreamModel != "up-"+e.Provider || e.PriceIn == 0 {
			t.Errorf("endpoint %+v", e)
		}
	}
	resp, body = f.admin(t, http.MethodPost, "/admin/v1/resolve", "adm",
		map[string]any{"models": []string{testModel}, "provider": map[string]any{"order": []string{"B", "a"}}})
	var got struct{ Provider routing.Preferences }
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK || strings.Join(got.Provider.Order, ",") != "b,a" {
		t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
	}
	resp, body = f.admin(t, http.MethodPost, "/admin/v1/resolve", "adm",
		map[string]any{"models": []string{testModel}, "provider": map[string]any{"order": []string{"bb"}}})
	if e := decodeError(t, resp, body, http.StatusBadRequest); e.Error.Param == nil || *e.Error.Param != "provider.order[0]" {
		t.Errorf("an unknown name: %s", body)
	}
}
