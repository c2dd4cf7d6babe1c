package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRedirectsAreNotFollowed: an upstream that redirects, on both
// protocols, for the stream and for the model list, gets a provider error
// that names where it redirected to; the server it redirected to receives
// nothing, neither the prompt nor the key.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere, keys atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		if strings.Contains(r.Header.Get("Authorization")+r.Header.Get("X-Api-Key"), testKey) {
			keys.Add(1)
		}
		sseHandler(readFixture(t, "stream_normal.txt"))(w, r)
	}))
	defer other.Close()
	// Credentials and a query in the Location must not be shown.
	to := strings.Replace(other.URL, "http://", "http://user:pass@", 1) + "/v1/moved?token=" + testKey
	shown := other.URL + "/v1/moved"
	for _, p := range protocols {
		for _, status := range []int{301, 302, 303, 307, 308} {
			t.Run(p.name+"/"+strconv.Itoa(status), func(t *testing.T) {
				h := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, status) }
				c, _ := serveTo(t, http.HandlerFunc(h), p.newClient)
				_, err := c.Stream(context.Background(), testRequest())
				checkRedirectError(t, err, status, shown)
				_, err = c.ListModels(context.Background())
				checkRedirectError(t, err, status, shown)
			})
		}
	}
	t.Run("caller's client", func(t *testing.T) {
		// A client the caller passes is not changed, and does not follow
		// redirects for us either.
		hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer hc.CloseIdleConnections()
		h := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusTemporaryRedirect) }
		srv := httptest.NewServer(http.HandlerFunc(h))
		defer srv.Close()
		c := NewAnthropic(AnthropicOptions{BaseURL: srv.URL + "/v1", APIKey: testKey, HTTPClient: hc})
		_, err := c.Stream(context.Background(), testRequest())
		checkRedirectError(t, err, http.StatusTemporaryRedirect, shown)
		if hc.CheckRedirect != nil {
			t.Error("the caller's http.Client was changed")
		}
	})
	t.Run("no Location", func(t *testing.T) {
		h := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusMultipleChoices) }
		c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
		_, err := c.Stream(context.Background(), testRequest())
		checkRedirectError(t, err, http.StatusMultipleChoices, "without a Location")
	})
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the server redirected to received %d requests, %d with the key; want none", n, keys.Load())
	}
}

// checkRedirectError checks the error of a redirected request: a provider
// error with the status, saying where it went and what to check.
func checkRedirectError(t *testing.T, err error, status int, where string) {
	t.Helper()
	e := AsError(err)
	if e == nil || e.Class != ClassServer || e.Status != status || !e.Class.ProviderError() {
		t.Fatalf("err = %v, want a server error with status %d", err, status)
	}
	for _, want := range []string{where, "does not follow redirects", "base_url"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not say %q", e.Message, want)
		}
	}
	checkCleanError(t, err)
	if strings.Contains(e.Error(), "pass@") || strings.Contains(e.Error(), "token=") {
		t.Errorf("credentials of the Location shown: %q", e.Error())
	}
}
