package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docNamed is a valid configuration whose only model is called name, so a
// test can tell which file was read.
func docNamed(name string) []byte {
	return []byte(okProvider + lines(`[[model]]`, `name = "`+name+`"`, `[[model.endpoint]]`, `provider = "ok"`))
}

func modelName(t *testing.T, cfg *Config, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Models[0].Name
}

func TestLoadExplicitPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "mine.toml")
	if err := os.WriteFile(path, docNamed("explicit"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A ./config.toml is there too, and loses to the explicit path.
	if err := os.WriteFile(DefaultFile, docNamed("working-dir"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, docNamed("embedded"))
	if got := modelName(t, cfg, err); got != "explicit" || cfg.Source != path {
		t.Errorf("read model %q from %q", got, cfg.Source)
	}
}

func TestLoadExplicitPathMissing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(DefaultFile, docNamed("working-dir"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.toml")
	cfg, err := Load(missing, docNamed("embedded"))
	if err == nil {
		t.Fatalf("loaded %q instead of failing", cfg.Source)
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %v does not say that %s is missing", err, missing)
	}
}

func TestLoadWorkingDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(DefaultFile, docNamed("working-dir"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("", docNamed("embedded"))
	if got := modelName(t, cfg, err); got != "working-dir" || cfg.Source != DefaultFile {
		t.Errorf("read model %q from %q", got, cfg.Source)
	}
}

func TestLoadEmbedded(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", docNamed("embedded"))
	if got := modelName(t, cfg, err); got != "embedded" || cfg.Source != EmbeddedName {
		t.Errorf("read model %q from %q", got, cfg.Source)
	}

	// Problems in the embedded copy are reported under its name.
	_, err = Load("", []byte("[monitor]\nwindw = \"5m\"\n"+okRest))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Pos != (Pos{File: EmbeddedName, Line: 2, Col: 1}) {
		t.Errorf("error = %v", err)
	}
	if !strings.HasPrefix(err.Error(), "config.toml (embedded):2:1: unknown key monitor.windw; did you mean window?") {
		t.Errorf("error = %v", err)
	}
}

func TestLoadNothing(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := Load("", nil); err == nil || !strings.Contains(err.Error(), "no configuration") {
		t.Errorf("error = %v", err)
	}
}

// A ./config.toml that exists but cannot be read is an error, not a reason to
// fall back to the embedded copy silently.
func TestLoadUnreadableWorkingDirectoryFile(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir(DefaultFile, 0o700); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load("", docNamed("embedded")); err == nil {
		t.Errorf("loaded %q instead of failing", cfg.Source)
	}
}

// Load takes keys from the process environment.
func TestLoadReadsEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SWITCHBOARD_TEST_KEY", "sk-test-0123")
	doc := lines(`[[provider]]`, `name = "real"`, `base_url = "https://example.com/v1/"`, `api_key_env = "SWITCHBOARD_TEST_KEY"`) + okRest +
		lines(`[[model.endpoint]]`, `provider = "real"`)
	if err := os.WriteFile(DefaultFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Provider("real"); p.APIKey != "sk-test-0123" || p.BaseURL != "https://example.com/v1" {
		t.Errorf("provider = %v (key %q)", p, p.APIKey)
	}
}
