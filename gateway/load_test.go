package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"switchboard/sim"
)

// Many clients at once while two of three providers misbehave (one fails
// half its requests before answering, one cuts a third of its streams):
// every client still gets a whole answer, because the router falls back
// and retries whole answers elsewhere. One provider's trouble is not the
// clients' trouble.
func TestChatUnderLoadWithFaultyProviders(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{
		"flaky":  {profile: &sim.Profile{ErrorRate: 0.5, ErrorStatuses: []int{502, 503}}, price: 1},
		"cutter": {profile: &sim.Profile{CutRate: 0.3}, price: 1.2},
		"steady": {profile: &sim.Profile{}, price: 3},
	})
	const clients, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	served := make(chan string, clients*each)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf(`{"model":%q,"max_tokens":40,"messages":[{"role":"user","content":"question %d of client %d"}]}`, testModel, i, c)
				resp, err := f.srv.Client().Post(f.srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var a answer
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				switch {
				case err != nil:
					errs <- err
				case resp.StatusCode != http.StatusOK || len(a.Choices) != 1 || a.Choices[0].Message.Content == "":
					errs <- fmt.Errorf("client %d, question %d: status %d, answer %+v", c, i, resp.StatusCode, a)
				default:
					served <- a.Provider
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	close(served)
	for err := range errs {
		t.Error(err)
	}
	by := map[string]int{}
	for p := range served {
		by[p]++
	}
	if by["flaky"]+by["cutter"]+by["steady"] != clients*each {
		t.Errorf("served %v; want all %d answered", by, clients*each)
	}
	// The faults happened and were routed around, not avoided by chance.
	st := f.mon.Snapshot()
	flaky, _ := st.Endpoint(testModel + "@flaky")
	cutter, _ := st.Endpoint(testModel + "@cutter")
	if flaky.ProviderErrors == 0 && cutter.ProviderErrors == 0 {
		t.Errorf("no provider failed (flaky %d errors, cutter %d): the test did not test fallbacks", flaky.ProviderErrors, cutter.ProviderErrors)
	}
}
