package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// modeNames are the wire names of the modes, used by the control API and
// config files.
var modeNames = [numModes]string{
	ModeNormal:           "normal",
	ModeDown:             "down",
	ModeSlow:             "slow",
	ModeRateLimited:      "rate_limited",
	ModeStall:            "stall",
	ModeSlowStart:        "slow_start",
	ModeRateLimitedShort: "rate_limited_short",
	ModeSilentClose:      "silent_close",
	ModeCut:              "cut",
	ModeMalformed:        "malformed",
	ModeNoPrefill:        "no_prefill",
	ModeStreamError:      "stream_error",
}

// Modes lists every mode, ModeNormal first, in the order of their values.
func Modes() []Mode {
	ms := make([]Mode, numModes)
	for i := range ms {
		ms[i] = Mode(i)
	}
	return ms
}

// String returns the mode's wire name, such as "rate_limited".
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode reads a mode's wire name. Case and a dash for the underscore are
// forgiven, since people type these.
func ParseMode(s string) (Mode, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for m, name := range modeNames {
		if name == norm {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown simulator mode %q: want one of %s", s, strings.Join(modeNames[:], ", "))
}

// MarshalText encodes the mode as its wire name.
func (m Mode) MarshalText() ([]byte, error) {
	if int(m) >= len(modeNames) {
		return nil, fmt.Errorf("encode simulator mode: unknown mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText decodes a wire name, as ParseMode does.
func (m *Mode) UnmarshalText(b []byte) error {
	parsed, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// modeBody is the body of the control API, both ways.
type modeBody struct {
	Name string `json:"name,omitempty"`
	Mode Mode   `json:"mode"`
}

// handleGetMode answers GET /_sim/mode.
func (s *Server) handleGetMode(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, modeBody{Name: s.profile.Name, Mode: s.Mode()})
}

// handleSetMode answers POST /_sim/mode {"mode":"down"} and replies with the
// mode now in force.
func (s *Server) handleSetMode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Mode *Mode `json:"mode"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil {
		errBadRequest("mode", "Could not read the mode: %v. Send {\"mode\":\"%s\"}.", err, strings.Join(modeNames[:], "|")).write(w)
		return
	}
	if body.Mode == nil {
		errBadRequest("mode", "Missing 'mode'. Send {\"mode\":\"%s\"}.", strings.Join(modeNames[:], "|")).write(w)
		return
	}
	s.SetMode(*body.Mode)
	writeJSON(w, http.StatusOK, modeBody{Name: s.profile.Name, Mode: s.Mode()})
}

// handleStats answers GET /_sim/stats with the counters.
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
