package sim

import (
	"net/http"
	"strings"
	"testing"
)

// pngData is a 1x1 PNG, base64.
const pngData = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// visionProfile serves testModel with images, the other model without.
func visionProfile(name string) Profile {
	p := fastProfile(name)
	p.ImageModels = []string{testModel}
	return p
}

func withOpenAIImage(model, url string) map[string]any {
	body := chatBody("", false)
	body["model"] = model
	body["messages"] = []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "What is this?"},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": url, "detail": "low"}},
	}}}
	return body
}

func withAnthropicImage(model string, source map[string]any) map[string]any {
	body := messagesBody("", false)
	body["model"] = model
	body["messages"] = []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "What is this?"},
		map[string]any{"type": "image", "source": source},
	}}}
	return body
}

// An image model takes images, each counting imageTokens, and says it saw
// them; a model that takes none refuses them, in each API's words.
func TestOpenAIImages(t *testing.T) {
	s := startServer(t, visionProfile("vision"), Options{})
	c := newClient(t)

	plain := complete(t, c, s, chatBody("What is this?", false))
	for _, url := range []string{"data:image/png;base64," + pngData, "https://example.com/cat.png"} {
		got := complete(t, c, s, withOpenAIImage(testModel, url))
		if !strings.HasPrefix(got.Choices[0].Message.Content, "I see 1 image. ") {
			t.Errorf("answer %q, want it to say it saw the image", got.Choices[0].Message.Content)
		}
		if got.Usage.PromptTokens != plain.Usage.PromptTokens+imageTokens {
			t.Errorf("prompt_tokens = %d, want %d + %d for the image", got.Usage.PromptTokens, plain.Usage.PromptTokens, imageTokens)
		}
	}

	resp := mustPost(t, c, s.URL()+"/chat/completions", withOpenAIImage("llama-3.1-8b-instruct", "data:image/png;base64,"+pngData))
	e := expectError(t, resp, http.StatusBadRequest, "invalid_request_error", "")
	if e.Error.Message != "Invalid content type. image_url is only supported by certain models." ||
		string(e.Error.Param) != `"messages.[0].content.[1].type"` {
		t.Errorf("refusal = %+v, want OpenAI's", e.Error)
	}
	fromSystem := withOpenAIImage(testModel, "https://example.com/cat.png")
	fromSystem["messages"].([]any)[0].(map[string]any)["role"] = "system"
	e = expectError(t, mustPost(t, c, s.URL()+"/chat/completions", fromSystem), http.StatusBadRequest, "invalid_request_error", "")
	if !strings.Contains(e.Error.Message, "only allowed for messages with role 'user'") {
		t.Errorf("image in a system message: %+v", e.Error)
	}
	for _, url := range []string{"data:image/png;base64,***", "data:text/plain;base64," + pngData, "ftp://example.com/cat.png"} {
		resp := mustPost(t, c, s.URL()+"/chat/completions", withOpenAIImage(testModel, url))
		e := expectError(t, resp, http.StatusBadRequest, "invalid_request_error", "invalid_image_url")
		if string(e.Error.Param) != `"messages.[0].content.[1].image_url.url"` {
			t.Errorf("%s: param = %s", url, e.Error.Param)
		}
	}
}

func TestAnthropicImages(t *testing.T) {
	s := startServer(t, visionProfile("vision"), Options{})
	c := newClient(t)
	png := map[string]any{"type": "base64", "media_type": "image/png", "data": pngData}

	plain := createMessage(t, c, s, messagesBody("What is this?", false))
	for _, src := range []map[string]any{png, {"type": "url", "url": "https://example.com/cat.png"}} {
		got := createMessage(t, c, s, withAnthropicImage(testModel, src))
		if !strings.HasPrefix(*got.Content[0].Text, "I see 1 image. ") {
			t.Errorf("answer %q, want it to say it saw the image", *got.Content[0].Text)
		}
		if *got.Usage.InputTokens != *plain.Usage.InputTokens+imageTokens {
			t.Errorf("input_tokens = %d, want %d + %d", *got.Usage.InputTokens, *plain.Usage.InputTokens, imageTokens)
		}
	}

	tests := []struct {
		name  string
		model string
		src   map[string]any
		says  string
	}{
		{"text-only model", "llama-3.1-8b-instruct", png, "messages.0.content.1.image: model llama-3.1-8b-instruct does not support image input"},
		{"unknown media type", testModel, map[string]any{"type": "base64", "media_type": "image/bmp", "data": pngData},
			"messages.0.content.1.image.source.base64.media_type: Input should be"},
		{"not base64", testModel, map[string]any{"type": "base64", "media_type": "image/png", "data": "***"},
			"messages.0.content.1.image.source.base64.data"},
		{"unknown source", testModel, map[string]any{"type": "file", "file_id": "f"}, "messages.0.content.1.image.source: Input tag 'file'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postMessages(t.Context(), t, c, s, withAnthropicImage(tt.model, tt.src), anthropicHeader(""))
			if msg := expectAnthropicError(t, resp, http.StatusBadRequest, "invalid_request_error"); !strings.Contains(msg, tt.says) {
				t.Errorf("message %q, want it to say %q", msg, tt.says)
			}
		})
	}
}

func TestImageModelsMustBeServed(t *testing.T) {
	p := fastProfile("vision")
	p.ImageModels = []string{"gpt-4o"}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `"gpt-4o", is not a model it serves`) {
		t.Errorf("Validate = %v, want the unserved image model named", err)
	}
}
