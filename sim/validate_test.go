package sim

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	if err := fastProfile("ok").Validate(); err != nil {
		t.Fatalf("a good profile: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Profile)
		want   string
	}{
		{"no name", func(p *Profile) { p.Name = "" }, "name is empty"},
		{"no models", func(p *Profile) { p.Models = nil }, "serves no model"},
		{"empty model", func(p *Profile) { p.Models = []string{""} }, "empty id"},
		{"context length of a model not served", func(p *Profile) { p.ContextLengths = map[string]int{"gpt-9": 8192} }, `model "gpt-9", which it does not serve`},
		{"negative default context length", func(p *Profile) { p.ContextLength = -1 }, "context length -1 is negative"},
		{"zero context length", func(p *Profile) { p.ContextLengths = map[string]int{testModel: 0} }, "must be positive"},
		{"p95 below p50", func(p *Profile) { p.TTFT = Latency{P50: time.Second, P95: time.Millisecond} }, "below p50"},
		{"negative speed", func(p *Profile) { p.TokensPerSecond = -1 }, "negative"},
		{"rate above one", func(p *Profile) { p.CutRate = 1.5 }, "cut rate"},
		{"rates sum above one", func(p *Profile) { p.ErrorRate, p.RateLimitRate = 0.6, 0.6 }, "exceeds 1"},
		{"bad status", func(p *Profile) { p.ErrorStatuses = []int{200} }, "not an HTTP error status"},
		{"slow start rate above one", func(p *Profile) { p.SlowStartRate = 2 }, "slow start rate"},
		{"silent close rate below zero", func(p *Profile) { p.SilentCloseRate = -0.1 }, "silent close rate"},
		{"malformed rate above one", func(p *Profile) { p.MalformedRate = 1.1 }, "malformed rate"},
		{"negative slow start", func(p *Profile) { p.SlowStart = -time.Second }, "slow start -1s is negative"},
		{"negative silent close", func(p *Profile) { p.SilentClose = -time.Second }, "silent close -1s is negative"},
		{"unknown mode", func(p *Profile) { p.Mode = numModes }, "mode 12 is unknown"},
		{"stream error rate above one", func(p *Profile) { p.StreamErrorRate = 1.5 }, "stream error rate"},
		{"broken streams above one", func(p *Profile) { p.CutRate, p.StreamErrorRate = 0.5, 0.6 }, "cut rate + stall rate + stream error rate = 1.1 exceeds 1"},
		{"endless outage", func(p *Profile) { p.Outages = []Outage{{Every: time.Minute}} }, "positive duration"},
		{"outage longer than period", func(p *Profile) { p.Outages = []Outage{{Every: time.Minute, For: time.Hour}} }, "repeats every"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fastProfile("bad")
			tt.change(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := Start(p, Options{}); err == nil {
				t.Error("Start accepted the profile")
			}
		})
	}
}
