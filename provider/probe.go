package provider

import (
	"context"
	"time"
)

// ProbeChat checks an upstream model with a short completion of at most
// maxTokens tokens, read to its end: the outcome has a time to first token
// and a throughput, as a real request's does, and shows the model answers.
func ProbeChat(ctx context.Context, up Upstream, model string, maxTokens int) Outcome {
	start := time.Now()
	st, err := up.Stream(ctx, Request{Model: model, MaxTokens: maxTokens, Messages: []Message{{Role: "user", Content: "ping"}}})
	if err != nil {
		return OutcomeOf(Stats{Start: start, Duration: time.Since(start)}, err)
	}
	defer st.Close()
	for err == nil {
		_, err = st.Next()
	}
	return OutcomeOf(st.Stats(), err)
}

// ProbeModels checks an upstream by listing its models: free, but it shows
// only that the host answers, so the outcome is Shallow.
func ProbeModels(ctx context.Context, up Upstream) Outcome {
	start := time.Now()
	_, err := up.ListModels(ctx)
	o := OutcomeOf(Stats{Start: start, Duration: time.Since(start)}, err)
	o.Shallow = true
	return o
}
