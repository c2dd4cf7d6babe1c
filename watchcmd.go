package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"

	tea "charm.land/bubbletea/v2"

	"switchboard/ui"
	"switchboard/watch"
)

// defaultAdminKeyEnv is the variable watch reads the admin key from, unless
// --key-env names another.
const defaultAdminKeyEnv = "SWITCHBOARD_ADMIN_KEY"

// runWatch runs the dashboard on a gateway elsewhere, through its admin API.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer, term ...tea.ProgramOption) int {
	fs := flag.NewFlagSet(watchCmd.name, flag.ContinueOnError) // no --config: the gateway has its own
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	keyEnv := fs.String("key-env", defaultAdminKeyEnv, "the environment variable that holds the gateway's admin key")
	rest, code, ok := watchCmd.parse(fs, args, stdout)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "watch takes the gateway's address, e.g. switchboard watch http://127.0.0.1:8788; got %d arguments\n", len(rest))
		return 2
	}
	key := os.Getenv(*keyEnv)
	if key == "" {
		fmt.Fprintf(stderr, "watch: %s is not set; export %s=<the gateway's admin key> (the one its admin_key_env names)\n", *keyEnv, *keyEnv)
		return 2
	}
	g, err := watch.Dial(ctx, rest[0], key)
	if err != nil {
		fmt.Fprintln(stderr, err) // it says watch: and what failed
		return 1
	}
	defer g.Close()
	u, _ := url.Parse(rest[0])
	opts := ui.Options{Health: g, Router: g, Traces: g.Traces(), API: u.Host, Simulated: allSimulated(g),
		Display: g.Display(), Model: g.DefaultModel(),
		Notice: "watching the gateway at " + u.Host + ": what it does, through its admin API"}
	if len(g.Modes()) > 0 {
		opts.Faults = g
	}
	options := append([]tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(ui.FPS)}, term...)
	_, err = tea.NewProgram(ui.New(ctx, opts), options...).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintln(stderr, "dashboard:", err)
		return 1
	}
	return 0
}

// allSimulated reports whether every provider of the watched gateway is
// simulated.
func allSimulated(g *watch.Gateway) bool {
	var ps []string
	for _, m := range g.Models() {
		for _, e := range g.Endpoints(m) {
			if !slices.Contains(ps, e.Provider) {
				ps = append(ps, e.Provider)
			}
		}
	}
	for _, p := range ps {
		if _, sim := g.Mode(p); !sim {
			return false
		}
	}
	return len(ps) > 0
}
