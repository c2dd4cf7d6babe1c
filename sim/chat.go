package sim

import (
	"net/http"
	"strings"
	"time"
)

// openAI is the dialect of OpenAI's chat completions API.
type openAI struct{}

// usage is the token accounting of an answer.
type usage struct {
	PromptTokens        int           `json:"prompt_tokens"`
	CompletionTokens    int           `json:"completion_tokens"`
	TotalTokens         int           `json:"total_tokens"`
	PromptTokensDetails *promptDetail `json:"prompt_tokens_details,omitempty"`
}

// promptDetail is OpenAI's breakdown of the prompt's tokens: those read
// from the provider's cache of a prefix it saw before.
type promptDetail struct {
	CachedTokens int `json:"cached_tokens"`
}

func newUsage(x *exchange, completion int) usage {
	u := usage{PromptTokens: x.prompt, CompletionTokens: completion, TotalTokens: x.prompt + completion}
	if x.cached > 0 {
		u.PromptTokensDetails = &promptDetail{CachedTokens: x.cached}
	}
	return u
}

// completion is a whole (non-streamed) chat completion.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   usage              `json:"usage"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *logprobs         `json:"logprobs"` // null unless asked for
	FinishReason string            `json:"finish_reason"`
}

type completionMessage struct {
	Role      string           `json:"role"`
	Content   *string          `json:"content"` // null for a call
	ToolCalls []openAIToolCall `json:"tool_calls,omitempty"`
	Reasoning string           `json:"reasoning,omitempty"` // OpenRouter's name for the thinking
}

// openAICall words call c as OpenAI does: whole in a message's tool_calls
// (no index, all of its arguments), or as the delta that opens it in a
// stream (its index, empty arguments).
func openAICall(c *toolCall, index *int, args string) openAIToolCall {
	call := openAIToolCall{Index: index, ID: "call_" + c.id, Type: "function"}
	call.Function.Name, call.Function.Arguments = c.name, args
	return call
}

// answerLogprobs are the logprobs of tokens, from position from of x's
// answer, if the request asked for them; nil (null) otherwise.
func answerLogprobs(x *exchange, from int, tokens []string) *logprobs {
	if !x.req.logprobs {
		return nil
	}
	return &logprobs{Content: tokenLogprobs(promptKey(x.req.model, x.req.messages), from, tokens, x.req.topLogprobs)}
}

// handleChat answers POST /v1/chat/completions.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, openAI{})
}

func (openAI) idPrefix() string { return "chatcmpl-" }

func (openAI) answer(x *exchange, now time.Time) any {
	choice := completionChoice{
		Message:      completionMessage{Role: "assistant", Reasoning: strings.Join(x.answer.reasoning, "")},
		FinishReason: x.answer.finish,
	}
	if c := x.answer.call; c != nil {
		choice.Message.ToolCalls = []openAIToolCall{openAICall(c, nil, c.args)}
	} else {
		text := x.answer.text()
		choice.Message.Content = &text
		choice.Logprobs = answerLogprobs(x, 0, x.answer.tokens)
	}
	return completion{
		ID:      x.id,
		Object:  "chat.completion",
		Created: now.Unix(),
		Model:   x.req.model,
		Choices: []completionChoice{choice},
		Usage:   newUsage(x, x.answer.completionTokens()),
	}
}

// keepAlive is an SSE comment, which OpenAI clients skip.
func (openAI) keepAlive() string { return ": keep-alive\n\n" }

func (openAI) streamer(x *exchange, now time.Time) streamer {
	return &openAIStream{x: x, created: now.Unix()}
}

func (openAI) models(ids []string, created time.Time, owner string) any {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range ids {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: created.Unix(), OwnedBy: owner})
	}
	return list
}
