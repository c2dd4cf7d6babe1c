package main

import (
	"strings"
	"testing"

	"switchboard/config"
)

// What the configuration says of an endpoint and its provider reaches the
// router: a filter that config checks but the router never sees would
// quietly let everything through.
func TestBuildCarriesEndpointFields(t *testing.T) {
	doc := strings.Replace(fastConfig, "name = \"alpha\"\n", "name = \"alpha\"\ndisplay = \"Alpha AI\"\n", 1) + `
price_request = 0.001
price_image = 0.002
zdr = true
distillable = true
context_length = 4096
`
	cfg, err := config.Parse("test.toml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eps := s.router.Endpoints("test/model")
	if len(eps) != 2 {
		t.Fatalf("endpoints %+v", eps)
	}
	a, b := eps[0], eps[1]
	if a.ProviderName != "Alpha AI" || a.ZDR || a.Distillable || a.PriceRequest != 0 || a.Upstream == nil {
		t.Errorf("alpha = %+v", a)
	}
	if b.ProviderName != "" || !b.ZDR || !b.Distillable || b.PriceRequest != 0.001 || b.PriceImage != 0.002 ||
		b.ContextLength != 4096 || b.PriceIn != 5 || b.Upstream == nil {
		t.Errorf("beta = %+v", b)
	}
	srv, _ := s.fleet.Server("beta")
	if got := srv.Profile().ContextLengths["test/model"]; got != 4096 {
		t.Errorf("beta's simulator limits test/model to %d tokens, want 4096", got)
	}
}
