package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// command is one of switchboard's commands as its help describes it.
type command struct {
	name  string // as typed after switchboard; "" for the dashboard
	usage string // the synopsis
	about string // what it does, in a few sentences
}

// The commands, the dashboard first, in the order help lists them.
var (
	dashboardCmd = command{name: "", usage: "switchboard [--config PATH] [--listen HOST:PORT] [--demo-traffic RATE] [--state DIR | --no-history]",
		about: `Runs the terminal dashboard on the configured fleet: every provider's health,
where each model's requests go and why, and the event log. The
OpenAI-compatible API runs alongside it when [gateway] listen (or --listen)
gives an address. On an all-simulated fleet, demo traffic (a prompt every two
seconds through the router) keeps the figures moving; press ? for the keys.`}
	serveCmd = command{name: "serve", usage: "switchboard serve [--config PATH] [--listen HOST:PORT] [--state DIR | --no-history]",
		about: `Serves the OpenAI-compatible API (and Anthropic's messages API) without the
dashboard, until interrupted. It logs each request, and every change in a
provider's health (outages, recoveries, breakers, cooldowns), on stderr.`}
	sendCmd = command{name: "send", usage: "switchboard send [flags] PROMPT [flags]",
		about: `Sends one prompt through the router from the shell: the answer goes to
stdout, the decision trace (who was tried, in what order, and why) to stderr.
Flags may come before or after the prompt; after --, everything is prompt.`}
	checkCmd = command{name: "check", usage: "switchboard check [--config PATH]",
		about: `Validates the configuration and says how many providers, models and endpoints
it has; every problem is reported as file:line:col.`}
	benchCmd = command{name: "bench", usage: "switchboard bench uptime [--quick] [--seed N] [--rate R] [--duration D] [--out FILE] [--plot PNG]",
		about: `Runs the uptime scorecard: one model on six misbehaving simulated providers,
through Switchboard (as shipped, and hedged) and through four simpler
strategies, at once, on the same faults; writes the tables as markdown. It
fails if a baseline delivers more whole answers than Switchboard.`}
	watchCmd = command{name: "watch", usage: "switchboard watch [--key-env NAME] http://HOST:PORT",
		about: `Runs the dashboard on a gateway running elsewhere (switchboard serve, or a
dashboard's API), through its admin API: its providers' health as its monitor
publishes it, its event log and the traces of its requests; the console sends
prompts through its API, space turns an endpoint off or on and f forces a fault
on a simulated provider, there. The gateway needs admin_key_env in [gateway];
the key comes from the environment variable --key-env names.`}
	commands = []command{dashboardCmd, serveCmd, sendCmd, checkCmd, benchCmd, watchCmd}
)

// flags returns the command's flag set, with --config, reporting errors to
// stderr; parse adds the synopsis, or the help for --help.
func (c command) flags(stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(cmp.Or(c.name, "switchboard"), flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default ./config.toml, else the built-in one)")
	fs.Usage = func() {} // the flag package calls it for --help as for a mistake: parse tells them apart
	return fs, path
}

// parse parses args with fs; flags may follow arguments too (send "hi"
// --model x), and after "--" everything is an argument. It returns the
// arguments, or the exit code to end the command with: 0 after --help,
// which writes the command's help on stdout, 2 after a bad flag.
func (c command) parse(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, int, bool) {
	var rest []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.help(stdout, fs)
			return nil, 0, false
		}
		if err != nil { // the flag package said what
			fmt.Fprintf(fs.Output(), "usage: %s\nsee %s --help\n", c.usage, strings.TrimSpace("switchboard "+c.name))
			return nil, 2, false
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, 0, true
		}
		// Parse stopped at an argument, or just after "--", which ends
		// the flags.
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(rest, left...), 0, true
		}
		rest, args = append(rest, left[0]), left[1:]
	}
}

// help writes what the command does, its synopsis and its flags on w; the
// dashboard's lists the other commands too.
func (c command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", c.usage, c.about)
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
	if c.name != "" {
		return
	}
	fmt.Fprintln(w, "\ncommands:")
	for _, o := range commands[1:] {
		first, _, _ := strings.Cut(o.about, ".")
		fmt.Fprintf(w, "  %-6s %s.\n", o.name, strings.Join(strings.Fields(first), " "))
	}
	fmt.Fprintln(w, "  help   This help, or a command's: switchboard help COMMAND (or COMMAND --help).")
	fmt.Fprintln(w, "\nswitchboard --version says which build this is.")
}

// version describes the build from its build information: the module's
// version, and the commit and its time when the binary was built from a
// repository (a "+ local changes" mark when its tree was modified).
func version(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "switchboard (no build information)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " + local changes"
			}
		}
	}
	out := "switchboard " + cmp.Or(info.Main.Version, "(devel)")
	if rev != "" {
		out += ", commit " + rev + modified
	}
	if at != "" {
		out += " of " + at
	}
	return out + ", " + info.GoVersion
}
