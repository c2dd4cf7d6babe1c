package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The checks of an OpenAI request beyond its basic shape: content parts
// with images, tool calls and their results, the tools offered, the
// reasoning and logprobs options. Each refusal is worded as OpenAI's.

// errInvalid is a 400 with an error code, as OpenAI gives for a missing
// parameter or a value out of its enum.
func errInvalid(code, param, format string, args ...any) *httpError {
	return newHTTPError(http.StatusBadRequest, typeInvalidRequest, code, param, format, args...)
}

// openAIPart is one content part of a message.
type openAIPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

// imageDetails are the values of image_url.detail.
var imageDetails = []string{"auto", "low", "high"}

// openAIMessageOf reads message i, adding its images to images.
func openAIMessageOf(i int, m openAIMessage, images *[]image) (message, *httpError) {
	msg := message{Role: m.Role}
	var ok bool
	if msg.text, ok = contentText(m.Content); !ok {
		return msg, errBadRequest("messages", "Invalid 'messages[%d].content': "+
			"expected a string or an array of content parts.", i)
	}
	var parts []openAIPart
	if json.Unmarshal(m.Content, &parts) == nil {
		for j, p := range parts {
			if p.Type != "image_url" {
				continue
			}
			if m.Role != "user" {
				return msg, errBadRequest(fmt.Sprintf("messages.[%d].content.[%d].type", i, j), "Image URLs are only allowed "+
					"for messages with role 'user', but this message with role '%s' contains an image URL.", m.Role)
			}
			if fail := checkImageURL(i, j, p); fail != nil {
				return msg, fail
			}
			msg.images++
			*images = append(*images, image{refusal: errBadRequest(fmt.Sprintf("messages.[%d].content.[%d].type", i, j),
				"Invalid content type. image_url is only supported by certain models.")})
		}
	}
	switch m.Role {
	case "assistant":
		for j, c := range m.ToolCalls {
			if c.Type != "function" || c.ID == "" || c.Function.Name == "" {
				return msg, errInvalid("missing_required_parameter", fmt.Sprintf("messages.[%d].tool_calls.[%d]", i, j),
					"Invalid 'messages[%d].tool_calls[%d]': a tool call needs an 'id', 'type' \"function\" and 'function.name'.", i, j)
			}
			msg.calls = append(msg.calls, toolCall{id: c.ID, name: c.Function.Name, args: c.Function.Arguments})
		}
	case "tool":
		if m.ToolCallID == nil {
			return msg, errInvalid("missing_required_parameter", fmt.Sprintf("messages.[%d].tool_call_id", i),
				"Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.")
		}
		// The content is the result's: it counts once, as the result.
		msg.results, msg.text = []toolResult{{id: *m.ToolCallID, text: msg.text}}, ""
	}
	return msg, nil
}

// checkImageURL refuses an image part without a URL, with a detail
// OpenAI does not know, or with a data URL that is not base64 of an
// image. An http(s) URL is taken as it is: the simulator fetches nothing.
func checkImageURL(i, j int, p openAIPart) *httpError {
	param := fmt.Sprintf("messages.[%d].content.[%d].image_url", i, j)
	if p.ImageURL == nil || p.ImageURL.URL == "" {
		return errInvalid("missing_required_parameter", param+".url",
			"Missing required parameter: 'messages[%d].content[%d].image_url.url'.", i, j)
	}
	if d := p.ImageURL.Detail; d != "" && !slices.Contains(imageDetails, d) {
		return errInvalid("invalid_value", param+".detail",
			"Invalid value: '%s'. Supported values are: 'auto', 'low', and 'high'.", d)
	}
	url := p.ImageURL.URL
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		return nil
	}
	media, data, ok := dataURL(url)
	if !ok || !strings.HasPrefix(media, "image/") || !decodeBase64(data) {
		return errInvalid("invalid_image_url", param+".url",
			"Invalid 'messages[%d].content[%d].image_url.url': expected a URL or a base64-encoded data URL "+
				"of an image ('data:image/png;base64,...').", i, j)
	}
	return nil
}

// openAIToolTurns checks that tool calls and tool messages pair up: every
// tool message answers a call of the assistant message before its run of
// tool messages, and every call is answered by one of them.
func openAIToolTurns(msgs []message) *httpError {
	for i, m := range msgs {
		switch {
		case m.Role == "tool":
			call := i - 1
			for call >= 0 && msgs[call].Role == "tool" {
				call--
			}
			if call < 0 || !slices.ContainsFunc(msgs[call].calls, func(c toolCall) bool { return c.id == m.results[0].id }) {
				return errBadRequest(fmt.Sprintf("messages.[%d].role", i), "Invalid parameter: messages with role 'tool' "+
					"must be a response to a preceeding message with 'tool_calls'.")
			}
			msgs[i].results[0].name = msgs[call].calls[slices.IndexFunc(msgs[call].calls,
				func(c toolCall) bool { return c.id == m.results[0].id })].name
		case len(m.calls) > 0:
			answered := map[string]bool{}
			for _, next := range msgs[i+1:] {
				if next.Role != "tool" {
					break
				}
				answered[next.results[0].id] = true
			}
			var missing []string
			for _, c := range m.calls {
				if !answered[c.id] {
					missing = append(missing, c.id)
				}
			}
			if len(missing) > 0 {
				return errBadRequest(fmt.Sprintf("messages.[%d].role", i), "An assistant message with 'tool_calls' must be "+
					"followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not "+
					"have response messages: %s", strings.Join(missing, ", "))
			}
		}
	}
	return nil
}

// openAITools reads the tools offered and tool_choice.
func openAITools(req *openAIRequest, chat *chatRequest) *httpError {
	if req.Tools != nil {
		for i, t := range *req.Tools {
			switch {
			case t.Type != "function":
				return errInvalid("invalid_value", fmt.Sprintf("tools[%d].type", i),
					"Invalid value: '%s'. Supported values are: 'function'.", t.Type)
			case t.Function == nil:
				return errInvalid("missing_required_parameter", fmt.Sprintf("tools[%d].function", i),
					"Missing required parameter: 'tools[%d].function'.", i)
			case t.Function.Name == "":
				return errInvalid("missing_required_parameter", fmt.Sprintf("tools[%d].function.name", i),
					"Missing required parameter: 'tools[%d].function.name'.", i)
			}
			chat.tools = append(chat.tools, tool{name: t.Function.Name, schema: t.Function.Parameters})
		}
	}
	raw := bytes.TrimSpace(req.ToolChoice)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto":
			chat.toolChoice.mode = choiceAuto
		case "none":
			chat.toolChoice.mode = choiceNone
		case "required":
			chat.toolChoice.mode = choiceAny
		default:
			return errInvalid("invalid_value", "tool_choice",
				"Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode)
		}
	} else {
		var named struct {
			Type     string `json:"type"`
			Function *struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function == nil || named.Function.Name == "" {
			return errBadRequest("tool_choice", "Invalid 'tool_choice': expected 'none', 'auto', 'required' or "+
				"{\"type\": \"function\", \"function\": {\"name\": ...}}.")
		}
		chat.toolChoice = toolChoice{mode: choiceNamed, name: named.Function.Name}
	}
	if len(chat.tools) == 0 {
		return errBadRequest("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
	}
	if chat.toolChoice.mode == choiceNamed && !slices.ContainsFunc(chat.tools, func(t tool) bool { return t.name == chat.toolChoice.name }) {
		return errBadRequest("tool_choice", "Invalid value for 'tool_choice': no function named '%s' was specified in the 'tools' parameter.",
			chat.toolChoice.name)
	}
	return nil
}

// openAISampling reads reasoning_effort, logprobs and top_logprobs.
func openAISampling(req *openAIRequest, chat *chatRequest) *httpError {
	if e := req.ReasoningEffort; e != nil {
		if !slices.Contains(reasoningEfforts, *e) {
			return errInvalid("invalid_value", "reasoning_effort", "Invalid value: '%s'. Supported values are: "+
				"'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.", *e)
		}
		chat.thinks = *e != "none"
	}
	chat.logprobs = req.Logprobs != nil && *req.Logprobs
	if n := req.TopLogprobs; n != nil {
		switch {
		case !chat.logprobs:
			return errBadRequest("top_logprobs", "Invalid value for 'top_logprobs': 'logprobs' must be set to true "+
				"when 'top_logprobs' is specified.")
		case *n < 0:
			return errBadRequest("top_logprobs", "Invalid 'top_logprobs': integer below minimum value. "+
				"Expected a value >= 0, but got %d instead.", *n)
		case *n > maxTopLogprobs:
			return errBadRequest("top_logprobs", "Invalid 'top_logprobs': integer above maximum value. "+
				"Expected a value <= %d, but got %d instead.", maxTopLogprobs, *n)
		}
		chat.topLogprobs = *n
	}
	return nil
}
