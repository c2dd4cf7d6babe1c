package monitor

import (
	"encoding/json"
	"strings"
	"testing"
)

// States and kinds of event read back from JSON as they were written, and
// an unknown name is an error that lists the known ones.
func TestNamesReadBack(t *testing.T) {
	for s := Healthy; s <= Disabled; s++ {
		b, _ := json.Marshal(s)
		var back State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s read back as %s (%v)", b, back, err)
		}
	}
	for k := EventOutageStarted; k <= EventTurnedOn; k++ {
		b, _ := json.Marshal(k)
		var back EventKind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("%s read back as %s (%v)", b, back, err)
		}
	}
	var s State
	if err := json.Unmarshal([]byte(`"sleepy"`), &s); err == nil || !strings.Contains(err.Error(), "healthy, degraded") {
		t.Errorf("an unknown state: %v", err)
	}
}
