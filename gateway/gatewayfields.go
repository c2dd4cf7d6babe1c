package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"switchboard/routing"
)

// gatewayField reads, checks or refuses one of OpenRouter's request fields
// that speak to the gateway rather than to the model. It is never given
// null: a null field is absent.
type gatewayField func(req *routing.Request, v json.RawMessage) *apiError

// gatewayFields are OpenRouter's request fields that Switchboard keeps to
// itself: none of them is sent to an upstream as a parameter, and none
// counts as one for provider.require_parameters (an endpoint cannot
// "support" what it never sees). Each is read, accepted after a type
// check, or refused, as follows:
//
//   - user (a string): the end user's id, into routing.Request.User; each
//     provider client sends it in its own protocol's field (OpenAI's user,
//     Anthropic's metadata.user_id), never as a raw parameter.
//   - session_id (a string, or the X-Session-Id header): the conversation
//     the request belongs to, into routing.Request.Session, for sticky
//     routing, as OpenRouter groups a conversation's requests by it.
//   - metadata (an object of strings, OpenRouter's limits): accepted, not
//     forwarded. It labels the request in OpenRouter's own logs; an
//     OpenAI upstream would read it as stored-completion metadata and
//     refuse it without store.
//   - usage ({include: bool}): accepted. Usage is always in the answer.
//   - trace (an object): OpenRouter's observability ids (trace_id,
//     span_name, ...): accepted, not forwarded. Switchboard's own decision
//     trace is in every answer whatever this says.
//   - prompt_cache_key (a string): accepted, not forwarded. It steers
//     OpenRouter's cache-aware routing; upstreams other than OpenAI's do not
//     know it, and a strict one refuses a field it does not know.
//   - transforms, plugins (arrays): [] is accepted, as nothing to run.
//     Anything in them is refused: Switchboard runs no transforms and no
//     plugins, and dropping one would change the answer silently.
//   - preset, debug: refused with what to do instead; Switchboard has
//     neither presets nor an echo of the upstream request.
var gatewayFields = map[string]gatewayField{
	"user": func(req *routing.Request, v json.RawMessage) *apiError { return decodeString("user", v, &req.User) },
	"session_id": func(req *routing.Request, v json.RawMessage) *apiError {
		return decodeString("session_id", v, &req.Session)
	},
	"prompt_cache_key": func(_ *routing.Request, v json.RawMessage) *apiError {
		var s string
		return decodeString("prompt_cache_key", v, &s)
	},
	"metadata": func(_ *routing.Request, v json.RawMessage) *apiError { return checkMetadata(v) },
	"usage":    func(_ *routing.Request, v json.RawMessage) *apiError { return checkUsage(v) },
	"trace": func(_ *routing.Request, v json.RawMessage) *apiError {
		if v[0] != '{' {
			return invalid("trace", fmt.Sprintf("trace must be an object such as {\"trace_id\": \"...\"}, not %s", describe(v)))
		}
		return nil
	},
	"transforms": func(_ *routing.Request, v json.RawMessage) *apiError {
		return emptyArray("transforms", v, `OpenRouter's transforms (such as "middle-out")`)
	},
	"plugins": func(_ *routing.Request, v json.RawMessage) *apiError {
		return emptyArray("plugins", v, "OpenRouter's plugins (web search, file parsing, response healing)")
	},
	"preset": func(*routing.Request, json.RawMessage) *apiError {
		return invalid("preset", "preset is not supported: Switchboard has no presets. Put the preset's model, "+
			"provider and parameters in the request itself; a model's defaults for every request go in its "+
			"[model.routing] table in config.toml")
	},
	"debug": func(*routing.Request, json.RawMessage) *apiError {
		return invalid("debug", "debug is not supported: Switchboard does not echo the upstream request. Every answer "+
			"carries the decision trace (which providers were tried, in what order, and why), and the request goes "+
			"upstream with the parameters it was sent with")
	},
}

// decodeString reads field's value, which must be a string, into dst.
func decodeString(field string, v json.RawMessage, dst *string) *apiError {
	if v[0] != '"' || json.Unmarshal(v, dst) != nil {
		return invalid(field, fmt.Sprintf("%s must be a string, not %s", field, describe(v)))
	}
	return nil
}

// OpenRouter's limits on metadata, which are OpenAI's.
const (
	maxMetadataPairs = 16
	maxMetadataKey   = 64
	maxMetadataValue = 512
)

// checkMetadata checks OpenRouter's metadata: at most 16 pairs of strings,
// keys of at most 64 characters without brackets, values of at most 512.
func checkMetadata(v json.RawMessage) *apiError {
	var m map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &m) != nil {
		return invalid("metadata", fmt.Sprintf(`metadata must be an object of strings such as {"team": "search"}, not %s`, describe(v)))
	}
	if len(m) > maxMetadataPairs {
		return invalid("metadata", fmt.Sprintf("metadata has %d pairs; it may have %d at most", len(m), maxMetadataPairs))
	}
	for _, k := range sortedKeys(m) {
		field := member("metadata", k)
		var s string
		switch {
		case utf8.RuneCountInString(k) > maxMetadataKey:
			return invalid("metadata", fmt.Sprintf("metadata key %q is over %d characters", echo(k), maxMetadataKey))
		case strings.ContainsAny(k, "[]"):
			return invalid("metadata", fmt.Sprintf("metadata key %q has a bracket; keys may not", echo(k)))
		case decodeString(field, m[k], &s) != nil:
			return invalid(field, fmt.Sprintf("%s must be a string, not %s", field, describe(m[k])))
		case utf8.RuneCountInString(s) > maxMetadataValue:
			return invalid(field, fmt.Sprintf("%s is over %d characters", field, maxMetadataValue))
		}
	}
	return nil
}

// checkUsage checks OpenRouter's usage accounting switch, {"include": bool}.
func checkUsage(v json.RawMessage) *apiError {
	var m map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &m) != nil {
		return invalid("usage", fmt.Sprintf(`usage must be an object such as {"include": true}, not %s`, describe(v)))
	}
	for _, k := range sortedKeys(m) {
		var b bool
		switch {
		case k != "include":
			return invalid(member("usage", k), member("usage", k)+" is not a field of usage; its one field is include (usage is always in the answer)")
		case string(m[k]) != "null" && json.Unmarshal(m[k], &b) != nil:
			return invalid("usage.include", fmt.Sprintf("usage.include must be true or false, not %s", describe(m[k])))
		}
	}
	return nil
}

// emptyArray accepts field when it is an empty array; anything in it asks
// for what Switchboard does not do.
func emptyArray(field string, v json.RawMessage, what string) *apiError {
	var a []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &a) != nil {
		return invalid(field, fmt.Sprintf("%s must be an array, not %s", field, describe(v)))
	}
	if len(a) > 0 {
		return invalid(field, fmt.Sprintf("%s is not supported: Switchboard does not run %s; send [] or leave it out", field, what))
	}
	return nil
}
