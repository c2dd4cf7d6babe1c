package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
	done chan error
}

// startAPI listens on addr and serves the gateway over the stack until
// stop. Binding is done before it returns, so a taken port is an error
// here, not later.
func (s *stack) startAPI(addr string, log *slog.Logger, routed func(*routing.Trace)) (*api, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the API cannot listen on %s: %w", addr, err)
	}
	g := s.cfg.Gateway
	h := gateway.New(gateway.Options{Router: s.router, Health: s.mon, Keys: g.APIKeys, KeepAlive: g.KeepAlive,
		Log: log, Routed: routed})
	a := &api{addr: ln.Addr().String(), done: make(chan error, 1),
		// No write timeout: answers stream for minutes, and the router
		// bounds each request's total time itself.
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() { a.done <- a.srv.Serve(ln) }()
	return a, nil
}

// traceFeed passes the API's traces to the dashboard without ever holding
// a request up: when the dashboard falls behind, traces are dropped.
func traceFeed() (chan *routing.Trace, func(*routing.Trace)) {
	ch := make(chan *routing.Trace, 64)
	return ch, func(t *routing.Trace) {
		select {
		case ch <- t:
		default:
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
// API, logging every request on stderr, until interrupted.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := flagSet("serve", "switchboard serve [--config PATH] [--listen HOST:PORT] [--state DIR | --no-history]", stderr)
	listen := addListenFlag(fs)
	sf := addStateFlags(fs)
	if fs.Parse(args) != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve takes no arguments, got %q\n", strings.Join(fs.Args(), " "))
		return 2
	}
	s, notice, ok := start(*path, sf, stderr)
	if !ok {
		return 1
	}
	defer s.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if notice != "" {
		log.Warn(notice)
	}
	addr := s.listenAddr(*listen)
	if addr == "" {
		fmt.Fprintln(stderr, `serve: no address to listen on; give --listen 127.0.0.1:8788, or listen = "..." in the config's [gateway] table`)
		return 2
	}
	a, err := s.startAPI(addr, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.mon.Run(ctx) })
	fmt.Fprintf(stdout, "switchboard: OpenAI-compatible API on %s (models: %s)\n", a.url(), strings.Join(s.router.Models(), ", "))
	var code int
	select {
	case <-ctx.Done():
		log.Info("stopping: requests in flight get 10s to finish")
	case err := <-a.done: // Serve ended by itself
		a.done <- err
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "serve:", err)
			code = 1
		}
	}
	a.stop(10 * time.Second)
	cancel()
	wg.Wait()
	return code
}
