package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchboard/provider"
	"switchboard/routing"
)

// countTokensFields are the members of a count_tokens request: Anthropic's
// (a Messages request without max_tokens, stream and the sampling fields).
// tools, tool_choice, thinking and mcp_servers are taken: Claude Code sends
// them, and tools count towards the estimate.
var countTokensFields = []string{"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}

// tokenCount is count_tokens' answer, as Anthropic's.
type tokenCount struct {
	InputTokens int `json:"input_tokens"`
}

// countTokens serves POST /v1/messages/count_tokens: the input tokens of a
// Messages request, estimated as the router estimates a prompt against an
// endpoint's context length (routing.PromptTokens, about 6 bytes a token,
// from below). No upstream is asked: it is an estimate, not any model's
// tokenizer's count. The request is checked as /v1/messages checks its
// messages and system, and an unknown model is a not_found_error.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r, s.opts.MaxBody, s.opts.BodyTimeout)
	if e == nil {
		var n int
		if n, e = s.estimate(body); e == nil {
			writeJSON(w, http.StatusOK, tokenCount{InputTokens: n})
			return
		}
	}
	writeAnthropicError(w, e)
}

// estimate reads a count_tokens request and estimates its input tokens.
func (s *Server) estimate(body []byte) (int, *apiError) {
	fields, e := object(body)
	if e != nil {
		return 0, e
	}
	// The messages and system are read as /v1/messages reads them: the
	// request without the members only count_tokens has, with a
	// max_tokens that request requires.
	msg := map[string]json.RawMessage{"max_tokens": json.RawMessage("1")}
	for _, k := range sortedKeys(fields) {
		switch {
		case string(fields[k]) == "null":
		case !slices.Contains(countTokensFields, k):
			return 0, invalid(echo(k), fmt.Sprintf("%s is not a field of a count_tokens request; its fields are %v", echo(k), countTokensFields))
		case k == "model", k == "messages", k == "system", k == "tools", k == "tool_choice", k == "thinking":
			msg[k] = fields[k]
		}
	}
	for _, k := range []string{"model", "messages"} {
		if _, ok := msg[k]; !ok {
			return 0, invalid(k, k+" is missing: a count_tokens request names the model and its messages")
		}
	}
	b, _ := json.Marshal(msg) // raw JSON already read
	_, req, e := parseMessages(b)
	if e != nil {
		return 0, e
	}
	name, _ := routing.ModelSuffix(s.opts.Router.Canonical(req.Model))
	if len(s.opts.Router.Endpoints(name)) == 0 {
		return 0, &apiError{Status: http.StatusNotFound, Type: "model_not_found",
			Message: fmt.Sprintf("model %q is not served here; models: %s", echo(name), strings.Join(s.opts.Router.Models(), ", "))}
	}
	// An MCP server's tools are part of the prompt the model reads too,
	// though Switchboard does not carry them: its JSON counts as text.
	if v, ok := fields["mcp_servers"]; ok && string(v) != "null" {
		req.Messages = append(req.Messages, provider.Message{Role: "system", Content: string(v)})
	}
	return routing.PromptTokens(req.Messages, req.Tools), nil
}
