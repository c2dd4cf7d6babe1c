package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// No error text, and no way of printing a Config, shows a key: not the value
// of the variable, and not a key pasted into the file by mistake.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "sk-live-0123456789abcdef"
	lookup := env("GROQ_API_KEY", secret, "OTHER_KEY", secret)

	docs := map[string]string{
		// The key is set, but everything around it is wrong.
		"broken around a set key": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_key_env = "GROQ_API_KEY"`,
			`protocol = "grpc"`,
			`probe = "ping"`,
			`tokens_per_sec = 1`,
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_key_env = "OTHER_KEY"`,
			`[provider.sim]`,
			`[[model]]`,
			`name = "m"`,
			`[[model.endpoint]]`,
			`provider = "groqq"`,
		),
		"key pasted as the variable name": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_key_env = "`+secret+`"`,
		) + okRest,
		"key pasted in capitals": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_key_env = "`+strings.ToUpper(secret)+`"`,
		) + okRest,
		"key written in the file": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_key = "`+secret+`"`,
		) + okRest,
		"key misspelt as another key": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://api.groq.com/openai/v1"`,
			`api_ky = "`+secret+`"`,
		) + okRest,
		"key on a simulated provider": lines(
			`[[provider]]`,
			`name = "ok"`,
			`api_key_env = "GROQ_API_KEY"`,
			`[provider.sim]`,
		) + okModel,
		"key in the URL": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "https://user:`+secret+`@api.groq.com/openai/v1"`,
		) + okRest,
		"key in a broken URL": lines(
			`[[provider]]`,
			`name = "groq"`,
			`base_url = "`+secret+`"`,
		) + okRest,
		"key in a syntax error": lines(
			`[[provider]]`,
			`name = "groq"`,
			`api_key = `+secret,
		),
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("test.toml", []byte(doc), lookup)
			if err == nil {
				t.Fatal("parsed")
			}
			for _, s := range []string{secret, strings.ToUpper(secret), "0123456789abcdef"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the key:\n%v", err)
				}
			}
		})
	}
}

func TestPrintingAConfigRedactsKeys(t *testing.T) {
	const secret = "sk-live-0123456789abcdef"
	doc := lines(`[[provider]]`, `name = "real"`, `base_url = "https://example.com/v1"`, `api_key_env = "K"`) + okRest +
		lines(`[[model.endpoint]]`, `provider = "real"`)
	cfg := mustParse(t, doc, env("K", secret))
	if cfg.Provider("real").APIKey != secret {
		t.Fatal("the key was not read")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, *cfg, cfg.Providers, cfg.Providers[0], cfg.Provider("real")} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) {
				t.Errorf("Sprintf(%q, %T) shows the key: %s", verb, v, out)
			}
		}
	}
	if out := fmt.Sprint(cfg.Providers[0]); !strings.Contains(out, "APIKey:[redacted]") || !strings.Contains(out, "APIKeyEnv:K") {
		t.Errorf("String() = %s", out)
	}
}

// The gateway's client keys are secrets too: printing the Config, or its
// Gateway, shows how many there are and where they come from, not them.
func TestPrintingAConfigRedactsGatewayKeys(t *testing.T) {
	const one, two, adm = "gw-live-0123456789abcdef", "gw-live-fedcba9876543210", "gw-admin-0123456789abcdef"
	doc := lines(`[gateway]`, `api_key_env = "SB_KEYS"`, `admin_key_env = "SB_ADMIN"`) + okRest
	cfg := mustParse(t, doc, env("SB_KEYS", one+","+two, "SB_ADMIN", adm))
	if len(cfg.Gateway.APIKeys) != 2 || cfg.Gateway.APIKeys[0] != one || !slices.Equal(cfg.Gateway.AdminKeys, []string{adm}) {
		t.Fatal("the keys were not read")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, *cfg, cfg.Gateway, &cfg.Gateway} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, one) || strings.Contains(out, two) || strings.Contains(out, adm) {
				t.Errorf("Sprintf(%q, %T) shows a key: %s", verb, v, out)
			}
		}
	}
	if out := fmt.Sprintf("%+v", cfg.Gateway); !strings.Contains(out, "APIKeys:[[redacted] [redacted]]") || !strings.Contains(out, "APIKeyEnv:SB_KEYS") ||
		!strings.Contains(out, "AdminKeys:[[redacted]]") || !strings.Contains(out, "AdminKeyEnv:SB_ADMIN") {
		t.Errorf("%%+v of the gateway = %s", out)
	}
	if out := fmt.Sprintf("%+v", Gateway{}); !strings.Contains(out, "APIKeys:[]") {
		t.Errorf("%%+v of a gateway without keys = %s", out)
	}
}
