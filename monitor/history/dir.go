package history

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultDir returns the directory for Switchboard's state, history.db among it. It is
// $XDG_STATE_HOME/switchboard when XDG_STATE_HOME is an absolute path (the XDG spec says to ignore a relative
// one); otherwise, on macOS and Windows, the switchboard directory in os.UserConfigDir (~/Library/Application
// Support, %AppData%), where those systems keep per-user application state; otherwise ~/.local/state/switchboard,
// the XDG default. It does not create the directory; Open does.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "switchboard"), nil
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("history: finding the state directory: %w", err)
		}
		return filepath.Join(d, "switchboard"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("history: finding the state directory: %w; set XDG_STATE_HOME", err)
	}
	return filepath.Join(home, ".local", "state", "switchboard"), nil
}
