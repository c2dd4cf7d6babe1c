package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"
)

// catalog is the gateway's models and the providers serving each.
type catalog struct {
	models    []string
	providers map[string][]string
}

func (c *catalog) String() string {
	var parts []string
	for _, m := range c.models {
		parts = append(parts, fmt.Sprintf("%s (%s)", m, strings.Join(c.providers[m], ", ")))
	}
	return strings.Join(parts, "; ")
}

// discover reads the models from GET /v1/models and their providers from
// the endpoints API, waiting up to 30s for the gateway to answer at all.
func discover(client *http.Client, url string) (*catalog, error) {
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	var err error
	for wait := time.Now().Add(30 * time.Second); ; {
		if err = getJSON(client, url+"/v1/models", &models); err == nil || time.Now().After(wait) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the gateway is starting: poll it
	}
	if err != nil {
		return nil, fmt.Errorf("the gateway does not list its models: %w", err)
	}
	cat := &catalog{providers: map[string][]string{}}
	for _, m := range models.Data {
		var eps struct {
			Data struct {
				Endpoints []struct {
					Provider string `json:"provider_name"`
				} `json:"endpoints"`
			} `json:"data"`
		}
		if err := getJSON(client, url+"/api/v1/models/"+m.ID+"/endpoints", &eps); err != nil {
			return nil, fmt.Errorf("the endpoints of %s: %w", m.ID, err)
		}
		for _, e := range eps.Data.Endpoints {
			cat.providers[m.ID] = append(cat.providers[m.ID], e.Provider)
		}
		if len(cat.providers[m.ID]) > 0 {
			cat.models = append(cat.models, m.ID)
		}
	}
	if len(cat.models) == 0 {
		return nil, fmt.Errorf("the gateway at %s serves no model with endpoints", url)
	}
	return cat, nil
}

func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// scenario is one request: what is sent, and what the client does.
type scenario struct {
	anthropic   bool // /v1/messages, else /v1/chat/completions
	stream      bool
	cancelAfter int // cancel the stream after this many deltas; 0 never
	body        []byte
	kind        string // protocol and streaming, for the tally
	tools       string // "tools" if a tool is offered, "tool result" if a call's result is sent back too; "" if neither
	options     string // the routing options and tools, for failure reports
}

// generator picks requests at random among the shapes a client may send.
type generator struct {
	rng    *rand.Rand
	cat    *catalog
	cancel float64
	n      int
}

func newGenerator(seed, worker uint64, cat *catalog, cancel float64) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, worker)), cat: cat, cancel: cancel}
}

func (g *generator) next() *scenario {
	g.n++
	r := g.rng
	sc := &scenario{anthropic: r.IntN(5) < 2, stream: r.IntN(2) == 0}
	model := g.cat.models[r.IntN(len(g.cat.models))]
	messages := []map[string]any{{"role": "user", "content": fmt.Sprintf("soak request %d: say something short", g.n)}}
	body := map[string]any{"model": model, "stream": sc.stream}
	var opts []string
	// A quarter of the requests offer a tool, which the model calls; half
	// of those are the turn after, with the call and its result.
	if r.IntN(4) == 0 {
		body["tools"] = []map[string]any{weatherTool(sc.anthropic)}
		sc.tools = "tools"
		if r.IntN(2) == 0 {
			messages = append(messages, toolTurn(sc.anthropic, fmt.Sprintf("soak%d", g.n))...)
			sc.tools = "tool result"
		}
		opts = append(opts, sc.tools)
	}
	body["messages"] = messages
	// Anthropic requires max_tokens; OpenAI clients often leave it out.
	if sc.anthropic || r.IntN(10) < 7 {
		body["max_tokens"] = 1 + r.IntN(80)
		opts = append(opts, fmt.Sprintf("max_tokens=%d", body["max_tokens"]))
	}
	if sc.anthropic && r.IntN(3) == 0 {
		body["system"] = "You are terse."
	}
	if p := g.preferences(model, &opts); len(p) > 0 {
		body["provider"] = p
	}
	if others := g.otherModels(model); len(others) > 0 && r.IntN(6) == 0 {
		body["models"] = append([]string{model}, others...)
		opts = append(opts, "models="+strings.Join(others, ","))
	}
	if sc.stream && r.Float64() < g.cancel {
		sc.cancelAfter = 1 + r.IntN(5)
		opts = append(opts, fmt.Sprintf("cancel after %d deltas", sc.cancelAfter))
	}
	sc.body, _ = json.Marshal(body) // maps and slices of strings, numbers, bools and nil
	sc.kind = map[bool]string{false: "openai", true: "anthropic"}[sc.anthropic] +
		map[bool]string{false: " whole", true: " stream"}[sc.stream]
	sc.options = model
	if len(opts) > 0 {
		sc.options += " " + strings.Join(opts, " ")
	}
	return sc
}

// weatherSchema is get_weather's parameters: an object with a city.
var weatherSchema = map[string]any{"type": "object", "required": []string{"city"},
	"properties": map[string]any{"city": map[string]any{"type": "string"}}}

// weatherTool is get_weather as a request offers it, in the API's words.
func weatherTool(anthropic bool) map[string]any {
	const desc = "The weather in a city."
	if anthropic {
		return map[string]any{"name": "get_weather", "description": desc, "input_schema": weatherSchema}
	}
	return map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": desc, "parameters": weatherSchema}}
}

// toolTurn is what follows the user's question in a tool loop's second
// turn, in the API's words: the assistant's call of get_weather, with id,
// and the result the client sends back for it.
func toolTurn(anthropic bool, id string) []map[string]any {
	const result = "4 degrees and clear skies"
	if anthropic {
		id = "toolu_" + id
		return []map[string]any{
			{"role": "assistant", "content": []map[string]any{{"type": "tool_use", "id": id, "name": "get_weather", "input": map[string]any{"city": "Oslo"}}}},
			{"role": "user", "content": []map[string]any{{"type": "tool_result", "tool_use_id": id, "content": result}}},
		}
	}
	id = "call_" + id
	return []map[string]any{
		{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": id, "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Oslo"}`}}}},
		{"role": "tool", "tool_call_id": id, "content": result},
	}
}

// preferences picks OpenRouter's provider object for model, or none.
func (g *generator) preferences(model string, opts *[]string) map[string]any {
	r := g.rng
	provs := g.cat.providers[model]
	some := func(n int) []string {
		p := append([]string(nil), provs...)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		return p[:min(n, len(p))]
	}
	p := map[string]any{}
	switch r.IntN(8) {
	case 0, 1: // none
	case 2:
		p["sort"] = []string{"price", "throughput", "latency"}[r.IntN(3)]
	case 3:
		p["order"] = some(1 + r.IntN(3))
		p["allow_fallbacks"] = r.IntN(3) > 0
	case 4:
		p["only"] = some(1 + r.IntN(2))
	case 5:
		p["ignore"] = some(1)
		p["sort"] = "latency"
	case 6:
		p["max_price"] = map[string]float64{"prompt": []float64{0.5, 1, 5}[r.IntN(3)]}
	case 7:
		p["order"] = some(2)
		p["sort"] = map[string]string{"by": "throughput", "partition": "none"}
	}
	keys := make([]string, 0, len(p))
	for k, v := range p {
		b, _ := json.Marshal(v)
		keys = append(keys, fmt.Sprintf("provider.%s=%s", k, b))
	}
	sort.Strings(keys)
	*opts = append(*opts, keys...)
	return p
}

func (g *generator) otherModels(model string) []string {
	var out []string
	for _, m := range g.cat.models {
		if m != model {
			out = append(out, m)
		}
	}
	return out
}
