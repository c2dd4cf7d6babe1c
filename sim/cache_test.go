package sim_test

import (
	"testing"

	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// A server reads a prompt's prefix from its cache when it saw it before: the
// second turn of a conversation sent to the same server reports the first
// turn's prompt as cached, on both protocols; another server has nothing
// cached.
func TestPromptCache(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		srv, other := simtest.Start(t, sim.Profile{Name: "a"}), simtest.Start(t, sim.Profile{Name: "b"})
		client := func(s *sim.Server) provider.Upstream {
			if protocol == "anthropic" {
				return provider.NewAnthropic(provider.AnthropicOptions{BaseURL: s.URL()})
			}
			return provider.NewOpenAI(provider.OpenAIOptions{BaseURL: s.URL()})
		}
		ask := func(up provider.Upstream, msgs ...provider.Message) provider.Usage {
			t.Helper()
			st, err := up.Stream(t.Context(), provider.Request{Model: "m", MaxTokens: 20, Messages: msgs})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var u provider.Usage
			for {
				c, err := st.Next()
				if err != nil {
					break
				}
				if c.Usage != nil {
					u = *c.Usage
				}
			}
			return u
		}
		turn1 := []provider.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "Name a colour."}}
		first := ask(client(srv), turn1...)
		if first.CachedTokens != 0 || first.PromptTokens == 0 {
			t.Fatalf("%s: the first turn: %+v", protocol, first)
		}
		turn2 := append(turn1, provider.Message{Role: "assistant", Content: "Blue."}, provider.Message{Role: "user", Content: "Another."})
		if u := ask(client(srv), turn2...); u.CachedTokens != first.PromptTokens || u.PromptTokens <= first.PromptTokens {
			t.Errorf("%s: the second turn on the same server: %+v; want the first turn's %d prompt tokens cached", protocol, u, first.PromptTokens)
		}
		if u := ask(client(other), turn2...); u.CachedTokens != 0 {
			t.Errorf("%s: another server: %+v; want nothing cached", protocol, u)
		}
	}
}
