package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/sim"
	"switchboard/sim/simtest"
)

// The generator's requests, tool loops among them, are ones a provider
// takes, the gateway's routing fields aside: a fault-free simulated upstream, which refuses a tool's result
// without the call it answers, answers every one in full, and the checker
// finds each answer whole. About a quarter offer a tool, half of those
// with a call's result.
func TestGeneratedRequestsAreAnswered(t *testing.T) {
	up := simtest.Start(t, sim.Profile{Name: "up", Models: []string{"m"}})
	base := strings.TrimSuffix(up.URL(), "/v1")
	client := &http.Client{}
	defer client.CloseIdleConnections()
	g := newGenerator(1, 0, &catalog{models: []string{"m"}, providers: map[string][]string{"m": {"up"}}}, 0)
	const n = 200
	tools := map[string]int{}
	for range n {
		sc := g.next()
		tools[sc.tools]++
		if sc.tools != "" && !strings.Contains(sc.options, sc.tools) {
			t.Errorf("options %q do not say %q", sc.options, sc.tools)
		}
		// The gateway's routing fields are its own: an upstream refuses them.
		var body map[string]any
		if err := json.Unmarshal(sc.body, &body); err != nil {
			t.Fatalf("the generator's body is not JSON: %v: %s", err, sc.body)
		}
		delete(body, "provider")
		delete(body, "models")
		sc.body, _ = json.Marshal(body)
		if res := send(client, base, sc, time.Minute); res.outcome != answered {
			t.Errorf("%s [%s]: %s %d %s %s\n%s", sc.kind, sc.options, outcomeNames[res.outcome], res.status, res.errType, res.detail, sc.body)
		}
	}
	if offered := tools["tools"] + tools["tool result"]; offered < n/8 || offered > n*3/8 || tools["tool result"] < offered/4 || tools["tool result"] > offered*3/4 {
		t.Errorf("of %d requests, %d offer a tool and %d send a result back, want about a quarter and half of those", n, offered, tools["tool result"])
	}
}
