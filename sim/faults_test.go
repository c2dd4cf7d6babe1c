package sim

import (
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// status posts a request and returns only its status.
func status(t *testing.T, c *http.Client, s *Server, body any) int {
	t.Helper()
	return drain(mustPost(t, c, s.URL()+"/chat/completions", body))
}

func modelsStatus(t *testing.T, c *http.Client, s *Server) int {
	t.Helper()
	return drain(mustGet(t, c, s.URL()+"/models"))
}

func TestForcedDown(t *testing.T) {
	s := startServer(t, fastProfile("bedrock"), Options{})
	c := newClient(t)
	s.SetMode(ModeDown)
	for _, stream := range []bool{false, true} {
		resp := mustPost(t, c, s.URL()+"/chat/completions", chatBody("hi", stream))
		expectError(t, resp, http.StatusServiceUnavailable, "server_error", "service_unavailable")
	}
	expectError(t, mustGet(t, c, s.URL()+"/models"), http.StatusServiceUnavailable, "server_error", "service_unavailable")

	s.SetMode(ModeNormal)
	if got := status(t, c, s, chatBody("hi", false)); got != http.StatusOK {
		t.Errorf("back to normal: status %d", got)
	}
	// Three chats, two of them while down; the models list is no chat.
	if st := s.Stats(); st.Unavailable != 3 || st.OK != 1 || st.Requests != 4 || st.Chats != 3 || st.ChatsDown != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestForcedRateLimit(t *testing.T) {
	p := fastProfile("groq")
	p.RetryAfter = 2500 * time.Millisecond
	s := startServer(t, p, Options{})
	c := newClient(t)
	s.SetMode(ModeRateLimited)

	resp := mustPost(t, c, s.URL()+"/chat/completions", chatBody("hi", true))
	if ra := resp.Header.Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After = %q, want 3 (whole seconds, rounded up)", ra)
	}
	expectError(t, resp, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded")
	// Listing models is not rate limited: probes still see the provider up.
	if got := modelsStatus(t, c, s); got != http.StatusOK {
		t.Errorf("models while rate limited: %d", got)
	}
	if st := s.Stats(); st.RateLimited != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetryAfterNeverZero(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestForcedSlow(t *testing.T) {
	p := fastProfile("deepinfra")
	p.TTFT = Latency{P50: 5 * time.Millisecond, P95: 5 * time.Millisecond}
	s := startServer(t, p, Options{})
	c := newClient(t)
	s.SetMode(ModeSlow)
	start := time.Now()
	complete(t, c, s, chatBody("hi", false))
	// Only a lower bound: a loaded machine may always be slower.
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("slow mode answered in %v, want at least 10x the 5ms TTFT", elapsed)
	}
}

func TestScriptedOutage(t *testing.T) {
	clock := newFakeClock()
	p := fastProfile("together")
	p.Outages = []Outage{
		{Offset: 5 * time.Minute, For: time.Minute, Every: 10 * time.Minute},
		{Offset: time.Hour, For: 30 * time.Second}, // once
	}
	s := startServer(t, p, Options{Now: clock.Now})
	c := newClient(t)

	steps := []struct {
		at   time.Duration // since start
		down bool
	}{
		{0, false},
		{5*time.Minute - time.Second, false},
		{5 * time.Minute, true},
		{6*time.Minute - time.Second, true},
		{6 * time.Minute, false},
		{15*time.Minute + 30*time.Second, true},
		{16 * time.Minute, false},
		{time.Hour + 10*time.Second, true},
		{time.Hour + 30*time.Second, false},
		{2*time.Hour + 10*time.Second, false}, // the one-off does not repeat
	}
	var elapsed time.Duration
	for _, st := range steps {
		clock.Advance(st.at - elapsed)
		elapsed = st.at
		want := http.StatusOK
		if st.down {
			want = http.StatusServiceUnavailable
		}
		if got := status(t, c, s, chatBody("hi", false)); got != want {
			t.Errorf("chat at +%v: status %d, want %d", st.at, got, want)
		}
		if got := modelsStatus(t, c, s); got != want {
			t.Errorf("models at +%v: status %d, want %d", st.at, got, want)
		}
	}
}

func TestOutageAt(t *testing.T) {
	o := []Outage{{Offset: 10 * time.Second, For: 2 * time.Second, Every: 5 * time.Second}}
	for at, want := range map[time.Duration]bool{
		0: false, 9 * time.Second: false, 10 * time.Second: true, 11 * time.Second: true,
		12 * time.Second: false, 15 * time.Second: true, 17 * time.Second: false, -time.Second: false,
	} {
		if got := outageAt(o, at); got != want {
			t.Errorf("outageAt(+%v) = %v, want %v", at, got, want)
		}
	}
}

// TestFaultRates checks that the configured rates hold over many requests.
// The seed is fixed, so the counts are too; the bounds are four standard
// deviations so that a change of generator would still pass.
func TestFaultRates(t *testing.T) {
	const n = 2000
	p := fastProfile("novita")
	p.TTFT = Latency{}
	p.ErrorRate = 0.2
	p.RateLimitRate = 0.1
	s := startServer(t, p, Options{})
	c := newClient(t)

	counts := map[int]int{}
	for range n {
		counts[status(t, c, s, chatBody("hi", false))]++
	}
	within := func(what string, got int, rate float64) {
		t.Helper()
		mean := n * rate
		sd := math.Sqrt(n * rate * (1 - rate))
		if math.Abs(float64(got)-mean) > 4*sd {
			t.Errorf("%s: %d of %d, want %.0f ± %.0f", what, got, n, mean, 4*sd)
		}
	}
	errs := counts[500] + counts[502] + counts[503]
	within("rate limited", counts[429], 0.1)
	within("errors", errs, 0.2)
	for _, code := range defaultErrorStatuses {
		within("status "+strconv.Itoa(code), counts[code], 0.2/3)
	}
	if counts[200]+counts[429]+errs != n {
		t.Errorf("unexpected statuses: %v", counts)
	}
	st := s.Stats()
	if st.Requests != n || st.OK != uint64(counts[200]) || st.RateLimited != uint64(counts[429]) || st.Failed != uint64(errs) {
		t.Errorf("stats = %+v, statuses %v", st, counts)
	}
}

func TestErrorStatusesFromProfile(t *testing.T) {
	p := fastProfile("novita")
	p.ErrorRate = 1
	p.ErrorStatuses = []int{529}
	s := startServer(t, p, Options{})
	expectError(t, mustPost(t, newClient(t), s.URL()+"/chat/completions", chatBody("hi", true)), 529, "server_error", "")
}

func TestLatencySample(t *testing.T) {
	l := Latency{P50: 100 * time.Millisecond, P95: 400 * time.Millisecond}
	near := func(got, want time.Duration) bool { return math.Abs(float64(got-want)) < float64(time.Microsecond) }
	if got := l.sample(0); got != l.P50 {
		t.Errorf("median draw = %v, want %v", got, l.P50)
	}
	if got := l.sample(z95); !near(got, l.P95) {
		t.Errorf("95th percentile draw = %v, want %v", got, l.P95)
	}
	if got, limit := l.sample(100), l.sample(maxZ); got != limit {
		t.Errorf("an extreme draw gave %v; want it clamped to %v", got, limit)
	}
	if got := (Latency{P50: 7 * time.Millisecond}).sample(2); got != 7*time.Millisecond {
		t.Errorf("no spread: %v, want the median", got)
	}
	if got := (Latency{}).sample(2); got != 0 {
		t.Errorf("zero latency: %v", got)
	}
}
