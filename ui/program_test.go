package ui

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// sgr matches a Select Graphic Rendition sequence and captures its
// parameters.
var sgr = regexp.MustCompile("\x1b\\[([0-9;:]*)m")

// colourCodes lists the SGR sequences in out that set a colour.
func colourCodes(out []byte) []string {
	var found []string
	for _, m := range sgr.FindAllSubmatch(out, -1) {
		for _, p := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r == ';' || r == ':' }) {
			n, _ := strconv.Atoi(p)
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				found = append(found, strconv.Quote(string(m[0])))
				break
			}
		}
	}
	return found
}

// TestProgramRespectsNoColor runs the dashboard in a real Bubble Tea
// program on a terminal that claims 256 colours: the output has colours,
// and has none once NO_COLOR is set. q quits.
func TestProgramRespectsNoColor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    []string
		colour bool
	}{
		{"256 colours", []string{"TERM=xterm-256color", "TTY_FORCE=1"}, true},
		{"NO_COLOR", []string{"TERM=xterm-256color", "TTY_FORCE=1", "NO_COLOR=1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, fleetModels)
			s.history(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tm := teatest.NewTestModel(t, New(ctx, s.options()),
				teatest.WithInitialTermSize(100, 30),
				teatest.WithProgramOptions(tea.WithEnvironment(tc.env)))

			var out []byte
			teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
				out = append(out[:0], b...)
				return bytes.Contains(b, []byte("Providers")) && bytes.Contains(b, []byte("deepinfra"))
			}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))

			tm.Send(tea.KeyPressMsg{Code: 'q', Text: "q"})
			rest, err := io.ReadAll(tm.FinalOutput(t, teatest.WithFinalTimeout(10*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rest...)
			if _, ok := tm.FinalModel(t).(*model); !ok {
				t.Fatal("the final model is not the dashboard")
			}

			codes := colourCodes(out)
			switch {
			case tc.colour && len(codes) == 0:
				t.Error("no colour in the output of a 256-colour terminal")
			case !tc.colour && len(codes) > 0:
				t.Errorf("colours despite NO_COLOR: %s", strings.Join(codes[:min(len(codes), 5)], " "))
			}
		})
	}
}
