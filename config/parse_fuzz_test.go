package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// fuzzSecret marks every key FuzzParse puts in the environment. Output that
// contains it, from a document that does not, shows a key.
const fuzzSecret = "FZSECRET"

// fuzzKeys are the variables the seeds' api_key_env name (see
// testdata/fuzz/FuzzParse and the shipped examples), with recognisable keys.
// One holds more than one key, one holds a key a parser could stumble on,
// and one is empty.
var fuzzKeys = map[string]string{
	"SB_FUZZ_KEY":          fuzzSecret + "-provider-7c1e94b2a05d",
	"SB_FUZZ_GATEWAY_KEYS": fuzzSecret + "-gw-1-31f0aa, " + fuzzSecret + "-gw-2-9b77d4 ,",
	"SB_FUZZ_BAD_KEY":      fuzzSecret + " with spaces, a \"quote\" and a\nnewline",
	"SB_FUZZ_EMPTY":        "",
	"OPENROUTER_API_KEY":   fuzzSecret + "-sk-or-v1-0f3d",
	"GROQ_API_KEY":         fuzzSecret + "-gsk-5e2a",
	"TOGETHER_API_KEY":     fuzzSecret + "-tg-88c1",
	"SWITCHBOARD_API_KEYS": fuzzSecret + "-sb-a," + fuzzSecret + "-sb-b",
}

// maxProblemLen bounds one problem's text: a position, what is wrong and
// what to write instead, with whatever it quotes from the file clipped.
const maxProblemLen = 1024

// FuzzParse feeds Parse, the whole configuration parser (TOML, schema,
// validation, keys from the environment), any document. Properties: it never
// panics; it returns a Config or Errors, never both; each problem has a
// position inside the document and a bounded message; and no key from the
// environment shows in an error or in any way of printing the Config.
//
// The seeds run with go test; explore with scripts/fuzz.sh or
// go test -run '^$' -fuzz '^FuzzParse$' -parallel 1 ./config/.
func FuzzParse(f *testing.F) {
	for k, v := range fuzzKeys {
		f.Setenv(k, v)
	}
	// The shipped file, as it is and with its examples uncommented, read
	// here rather than copied into testdata so that the seeds follow it.
	shipped, err := os.ReadFile("../config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(shipped))
	f.Add(uncomment(string(shipped)))
	f.Fuzz(func(t *testing.T, doc string) {
		const name = "fuzz.toml"
		cfg, err := Parse(name, []byte(doc), os.LookupEnv)
		// A key in the document itself may be echoed as the user wrote it;
		// only keys from the environment must never show.
		secretInDoc := strings.Contains(strings.ToUpper(doc), fuzzSecret)
		shows := func(what, out string) {
			if !secretInDoc && strings.Contains(strings.ToUpper(out), fuzzSecret) {
				t.Fatalf("%s shows a key from the environment:\n%s", what, out)
			}
		}
		if err == nil {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				for _, v := range []any{cfg, *cfg, cfg.Gateway, cfg.Providers} {
					shows(fmt.Sprintf("Sprintf(%q, %T)", verb, v), fmt.Sprintf(verb, v))
				}
			}
			return
		}
		if cfg != nil {
			t.Errorf("a Config came with the error")
		}
		shows("the error", err.Error())
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("the error is a %T, not the problems with their positions: %v", err, err)
		}
		if len(es) == 0 {
			t.Fatal("an empty list of problems")
		}
		docLines := strings.Split(strings.TrimPrefix(doc, "\ufeff"), "\n")
		for _, e := range es {
			checkProblem(t, e, name, docLines)
		}
		if max := (MaxPrinted+1)*(maxProblemLen+1) + 64; len(err.Error()) > max {
			t.Errorf("the error is %d bytes, over %d", len(err.Error()), max)
		}
	})
}

// checkProblem checks that e is in file name, on one of lines, at most one
// column past its end, and says something of bounded length.
func checkProblem(t *testing.T, e *Error, name string, lines []string) {
	t.Helper()
	p := e.Pos
	if p.File != name || p.Line < 1 || p.Line > len(lines) || p.Col < 1 || p.Col > len(lines[p.Line-1])+1 {
		t.Errorf("problem %q is at %s, not inside %s (%d lines)", e.Msg, p, name, len(lines))
	}
	if e.Msg == "" {
		t.Errorf("problem at %s says nothing", p)
	}
	if len(e.Error()) > maxProblemLen {
		t.Errorf("problem at %s is %d bytes, over %d: %.300q...", p, len(e.Error()), maxProblemLen, e.Error())
	}
}
