package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"switchboard/ui"
	"sync"
	"time"

	"switchboard/gateway"
	"switchboard/routing"
)

// addListenFlag adds --listen, which overrides [gateway] listen.
func addListenFlag(fs *flag.FlagSet) *string {
	return fs.String("listen", "", `where the OpenAI-compatible API listens, host:port (default: [gateway] listen in the config); "off" serves none`)
}

// listenAddr is where the API should listen: the flag if given, else the
// configuration's; "" for nowhere.
func (s *stack) listenAddr(flagValue string) string {
	switch flagValue {
	case "":
		return s.cfg.Gateway.Listen
	case "off":
		return ""
	}
	return flagValue
}

// api is the running HTTP API.
type api struct {
	addr string // where it listens, resolved (a port 0 becomes the real one)
	srv  *http.Server
	done chan struct{} // closed when the server has stopped serving
	err  error         // why, once done is closed
}

// startAPI listens on addr and serves the gateway over the stack until
// stop. Binding is done before it returns, so a taken port is an error
// here, not later. The gateway logs its requests to log, and net/http its
// complaints to errors.
func (s *stack) startAPI(addr string, log *slog.Logger, errors slog.Handler, routed func(*routing.Trace)) (*api, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the API cannot listen on %s: %w", addr, err)
	}
	g := s.cfg.Gateway
	admin := gateway.Admin{Keys: g.AdminKeys, Health: s.mon, Display: s.display(), DefaultModel: s.cfg.DefaultModel}
	if s.fleet != nil {
		admin.Faults = faults{s.fleet}
	}
	h := gateway.New(gateway.Options{Router: s.router, Health: s.mon, Keys: g.APIKeys, MetricsPublic: g.MetricsPublic,
		KeepAlive: g.KeepAlive, MaxConnections: g.MaxConnections, Log: log, Routed: routed, Admin: admin})
	a := &api{addr: ln.Addr().String(), done: make(chan struct{})}
	a.srv, ln = h.HTTPServer(ln, slog.NewLogLogger(errors, slog.LevelWarn))
	go func() {
		a.err = a.srv.Serve(ln)
		close(a.done)
	}()
	return a, nil
}

// traceFeed passes the traces of requests routed outside the console (the
// API's, the demo's: each labels its own with via) to the dashboard without
// ever holding a request up: when the dashboard falls behind, traces are
// dropped.
func traceFeed() (chan ui.Routed, func(via string) func(*routing.Trace)) {
	ch := make(chan ui.Routed, 64)
	return ch, func(via string) func(*routing.Trace) {
		return func(t *routing.Trace) {
			select {
			case ch <- ui.Routed{Trace: t, Via: via}:
			default:
			}
		}
	}
}

// stop lets requests in flight finish for up to grace, then closes the rest.
func (a *api) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if a.srv.Shutdown(ctx) != nil {
		a.srv.Close()
	}
	<-a.done
}

// url is the API's base URL for OpenAI clients.
func (a *api) url() string {
	host, port, _ := net.SplitHostPort(a.addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/v1"
}

// runServe runs Switchboard without the dashboard: the monitor and the
// API, logging every request and every health event on stderr, until
// interrupted. A test's started is given the stack once the API is up.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, started ...func(*stack)) int {
	r, code := launch(ctx, serveCmd, args, stdout, stderr, nil, func(rest []string) string {
		return fmt.Sprintf("serve takes no arguments, got %q", strings.Join(rest, " "))
	})
	if r == nil {
		return code
	}
	defer r.stop()
	queued, closeLog := newQueuedLog(stderr)
	defer closeLog() // after restore: whatever logs meanwhile writes at once
	log, restore := r.logTo(queued)
	defer restore()
	if r.node != nil {
		r.node.LogTo(log)
	}
	if r.notice != "" {
		log.Warn(r.notice)
	}
	// An operator without the dashboard sees a provider go down and come
	// back in the log. Deferred in this order, the logger stops before
	// the wait for it.
	hctx, cancel := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	snaps := r.mon.Subscribe(hctx)
	wg.Go(func() { logHealth(hctx, snaps, log) })
	defer wg.Wait()
	defer cancel()
	addr := r.listenAddr(r.listen)
	if addr == "" {
		fmt.Fprintln(stderr, `serve: no address to listen on; give --listen 127.0.0.1:8788, or listen = "..." in the config's [gateway] table`)
		return 2
	}
	a, err := r.startAPI(addr, log, log.Handler(), nil)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	defer a.stop(10 * time.Second)
	for _, f := range started {
		f(r.stack)
	}
	fmt.Fprintf(stdout, "switchboard: OpenAI-compatible API on %s (models: %s)\n", a.url(), strings.Join(r.router.Models(), ", "))
	select {
	case <-r.ctx.Done():
		log.Info("stopping: requests in flight get 10s to finish")
	case <-a.done: // Serve ended by itself
		fmt.Fprintln(stderr, "serve:", a.err)
		return 1
	}
	return 0
}
