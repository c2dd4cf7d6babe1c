package ui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/routing"
)

// consoleOptions are the routing options the console's requests carry, set
// with slash commands; they hold for every prompt until changed.
type consoleOptions struct {
	prefs  routing.Preferences
	models []string
	hedge  *routing.Hedge
}

// slashCommand is one slash command as /help lists it: its name, the
// arguments it takes, and what it does.
type slashCommand struct {
	name, args, does string
}

// slashCommands are every command the console takes, in the order /help
// lists them. "off" clears the option a command sets.
var slashCommands = []slashCommand{
	{"sort", "price|throughput|latency|off", "try the providers by price, by throughput or by time to first token, best first"},
	{"order", "a,b…|off", "try these providers first, in this order"},
	{"only", "a,b…|off", "use only these providers"},
	{"ignore", "a,b…|off", "never use these providers"},
	{"fallbacks", "on|off", "off: try the first choice (or the providers of /order) and nothing after"},
	{"max-price", "PROMPT [COMPLETION]|off", "skip providers that charge more, in USD per million tokens in and out"},
	{"min-throughput", "TOK/S|off", "try providers whose median stream is slower than this last"},
	{"max-latency", "SECONDS|off", "try providers whose median first token comes later than this last"},
	{"quant", "fp8,bf16…|off", "use only endpoints of these quantizations"},
	{"deny-data", "on|off", "skip providers that may store or train on prompts"},
	{"hedge", "on|off|DELAY", "start a second provider when the first is slow to its first token: at its p95, or after DELAY (800ms)"},
	{"models", "a,b…|off", "fallback models, tried when no provider of this one answers"},
	{"options", "", "say which options are in force"},
	{"reset", "", "clear every option: the model's defaults apply"},
	{"help", "", "this list"},
}

// commandNames are the names of slashCommands, for "did you mean".
func commandNames() []string {
	names := make([]string, len(slashCommands))
	for i, c := range slashCommands {
		names[i] = c.name
	}
	return names
}

// resolver checks the provider names of preferences against the models a
// request will ask (the router's ResolveProviders), returning them as
// slugs.
type resolver func(models []string, p routing.Preferences) (routing.Preferences, error)

// apply runs one slash command and says what it did. The options change
// only if the command is valid, provider names included (resolve, if not
// nil, checks them against model and the fallback models); a bad command
// leaves them as they were.
func (o *consoleOptions) apply(line, model string, resolve resolver) (string, error) {
	n := *o
	said, err := n.set(line)
	if err != nil {
		return "", err
	}
	if resolve != nil {
		if n.prefs, err = resolve(append([]string{model}, n.models...), n.prefs); err != nil {
			return "", err
		}
	}
	*o = n
	if said == "" {
		said = o.String()
	}
	return said, nil
}

// set runs one slash command on o; it says what it did when that is more
// than the options in force.
func (o *consoleOptions) set(line string) (string, error) {
	name, arg, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "/")), " ")
	arg = strings.TrimSpace(arg)
	off := arg == "off" || arg == "none"
	list := func() []string {
		if off || arg == "" {
			return nil
		}
		return strings.FieldsFunc(arg, func(r rune) bool { return r == ',' || r == ' ' })
	}
	number := func() (*float64, error) {
		if off {
			return nil, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("/%s takes a number of 0 or more, or off", name)
		}
		return &v, nil
	}
	p := &o.prefs
	var err error
	switch name {
	case "sort":
		p.Sort = routing.Sort{}
		if !off {
			p.Sort.By = arg
		}
	case "order":
		p.Order = list()
	case "only":
		p.Only = list()
	case "ignore":
		p.Ignore = list()
	case "quant":
		p.Quantizations = list()
	case "models":
		o.models = list()
	case "fallbacks":
		switch arg {
		case "on":
			p.AllowFallbacks = nil
		case "off":
			no := false
			p.AllowFallbacks = &no
		default:
			return "", fmt.Errorf("/fallbacks takes on or off")
		}
	case "deny-data":
		switch arg {
		case "on":
			p.DataCollection = "deny"
		case "off":
			p.DataCollection = ""
		default:
			return "", fmt.Errorf("/deny-data takes on or off")
		}
	case "max-price":
		p.MaxPrice = routing.MaxPrice{}
		if !off {
			fs := strings.Fields(arg)
			for i, f := range fs[:min(len(fs), 2)] {
				v, perr := strconv.ParseFloat(f, 64)
				if perr != nil || v < 0 {
					return "", fmt.Errorf("/max-price takes USD per million tokens: PROMPT [COMPLETION], e.g. /max-price 0.5 0.8")
				}
				if i == 0 {
					p.MaxPrice.Prompt = &v
				} else {
					p.MaxPrice.Completion = &v
				}
			}
		}
	case "min-throughput":
		p.PreferredMinThroughput.P50, err = number()
	case "max-latency":
		p.PreferredMaxLatency.P50, err = number()
	case "hedge":
		switch arg {
		case "off":
			o.hedge = nil
		case "on", "":
			o.hedge = &routing.Hedge{Enabled: true}
		default:
			d, perr := time.ParseDuration(arg)
			if perr != nil || d <= 0 {
				return "", fmt.Errorf("/hedge takes on, off or a delay such as 800ms")
			}
			o.hedge = &routing.Hedge{Enabled: true, After: d}
		}
	case "reset":
		*o = consoleOptions{}
		return "options cleared: the model's defaults apply", nil
	case "options":
		return "", nil
	case "help", "":
		// The console opens the full list (see console.command); this is
		// the list in one line, for a caller that runs commands alone.
		return "commands: /" + strings.Join(commandNames(), " /"), nil
	default:
		msg := fmt.Sprintf("no command /%s", routing.Clip(name, routing.EchoLimit))
		if near := routing.Nearest(name, commandNames()); near != "" {
			msg += fmt.Sprintf("; did you mean /%s?", near)
		}
		return "", errors.New(msg + " (/help lists them)")
	}
	if err != nil {
		return "", err
	}
	if cerr := p.Check(); cerr != nil {
		return "", cerr
	}
	return "", nil
}

// String says which options are set, or that none are.
func (o *consoleOptions) String() string {
	p := &o.prefs
	var parts []string
	add := func(on bool, text string) {
		if on {
			parts = append(parts, text)
		}
	}
	add(p.Sort.By != "", "sort "+p.Sort.By)
	add(len(p.Order) > 0, "order "+strings.Join(p.Order, ","))
	add(!p.Fallbacks(), "no fallbacks")
	add(len(p.Only) > 0, "only "+strings.Join(p.Only, ","))
	add(len(p.Ignore) > 0, "ignore "+strings.Join(p.Ignore, ","))
	add(len(p.Quantizations) > 0, "quant "+strings.Join(p.Quantizations, ","))
	add(p.DataCollection == "deny", "deny data collection")
	if p.MaxPrice.Prompt != nil {
		text := fmt.Sprintf("max $%g/M in", *p.MaxPrice.Prompt)
		if p.MaxPrice.Completion != nil {
			text += fmt.Sprintf(", $%g/M out", *p.MaxPrice.Completion)
		}
		parts = append(parts, text)
	}
	if v := p.PreferredMinThroughput.P50; v != nil {
		parts = append(parts, fmt.Sprintf("prefer ≥%g tok/s", *v))
	}
	if v := p.PreferredMaxLatency.P50; v != nil {
		parts = append(parts, fmt.Sprintf("prefer first token ≤%gs", *v))
	}
	if o.hedge != nil {
		text := "hedge at p95"
		if o.hedge.After > 0 {
			text = "hedge after " + o.hedge.After.String()
		}
		parts = append(parts, text)
	}
	add(len(o.models) > 0, "then "+strings.Join(o.models, ", "))
	if len(parts) == 0 {
		return "no options: the model's defaults apply"
	}
	return "options: " + strings.Join(parts, " · ")
}

// request fills a routing request's options.
func (o *consoleOptions) request(req *routing.Request) {
	req.Provider, req.Models, req.Hedge = o.prefs, o.models, o.hedge
}

// unknownProvider rewrites the router's refusal of a provider name in
// /order, /only or /ignore as a notice that fits one line: the name, and
// the provider it is nearest to (the router's Nearest, the gateway's "did
// you mean") or, when none is near, the providers there are. o is the
// options the command would have set; models the model and its fallbacks;
// providers lists the providers of a model, slugs and display names. Any
// other error is returned as it is.
func unknownProvider(err error, o *consoleOptions, models []string, providers func(model string) []string) error {
	var re *routing.Error
	if !errors.As(err, &re) || providers == nil {
		return err
	}
	field, index, ok := strings.Cut(strings.TrimPrefix(re.Param, "provider."), "[")
	i, aerr := strconv.Atoi(strings.TrimSuffix(index, "]"))
	var list []string
	switch field {
	case "order":
		list = o.prefs.Order
	case "only":
		list = o.prefs.Only
	case "ignore":
		list = o.prefs.Ignore
	}
	if !ok || aerr != nil || i < 0 || i >= len(list) {
		return err
	}
	name := list[i]
	base, _, _ := strings.Cut(name, "/")
	var names []string
	for _, m := range models {
		for _, p := range providers(m) {
			if !slices.Contains(names, p) {
				names = append(names, p)
			}
		}
	}
	if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, base) }) {
		return err // a provider of the models, with no such variant: the router's words say which it has
	}
	msg := fmt.Sprintf("/%s: no provider %q for %s", field, routing.Clip(name, routing.EchoLimit), strings.Join(models, " or "))
	if near := routing.Nearest(base, names); near != "" && len(base) <= routing.EchoLimit {
		return fmt.Errorf("%s; did you mean %s?", msg, near)
	}
	return fmt.Errorf("%s; its providers: %s", msg, strings.Join(names, ", "))
}
