package history

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestDefaultDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)

	t.Setenv("XDG_STATE_HOME", "/var/lib/someone")
	if got, err := DefaultDir(); err != nil || got != "/var/lib/someone/switchboard" {
		t.Errorf("with XDG_STATE_HOME set, DefaultDir() = %q, %v", got, err)
	}

	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the fallback is os.UserConfigDir on " + runtime.GOOS)
	}
	want := filepath.Join(home, ".local", "state", "switchboard")
	for _, xdg := range []string{"", "relative/state"} { // the XDG spec says to ignore a relative path
		t.Setenv("XDG_STATE_HOME", xdg)
		if got, err := DefaultDir(); err != nil || got != want {
			t.Errorf("with XDG_STATE_HOME=%q, DefaultDir() = %q, %v; want %q", xdg, got, err, want)
		}
	}

	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	if got, err := DefaultDir(); err == nil {
		t.Errorf("with no HOME, DefaultDir() = %q, want an error", got)
	}
}
