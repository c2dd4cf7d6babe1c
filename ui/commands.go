package ui

import (
	"fmt"
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

// commandHelp lists the slash commands, for /help and errors.
const commandHelp = "/sort price|throughput|latency · /order a,b · /only a,b · /ignore a,b · /fallbacks on|off · " +
	"/max-price PROMPT [COMPLETION] · /min-throughput TOK/S · /max-latency SECONDS · /quant fp8,bf16 · " +
	"/deny-data on|off · /hedge on|off|DELAY · /models a,b · /options · /reset (\"off\" clears one)"

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
		return commandHelp, nil
	default:
		return "", fmt.Errorf("no command /%s; commands: %s", name, commandHelp)
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
