package history

import (
	"strings"
	"testing"
	"time"
)

// maxOpenError bounds an error of Open or Since: what, where, what to do.
const maxOpenError = 2048

// FuzzOpen feeds what Switchboard reads from disk when it starts, Open (with
// its schema check and pruning) and Since (as the monitor's restore calls
// it), any file, then appends a minute as the monitor's Flush does.
// Properties: no panic or fault; a failure is an error that names the file,
// of bounded length; and memory stays bounded by the file's size, whatever a
// length field in it claims. fix recomputes the meta checksums (see
// fixChecksums).
//
// The seeds (files written by the store, truncated, damaged, and hostile
// ones) run with go test; explore with scripts/fuzz.sh or
// go test -run '^$' -fuzz '^FuzzOpen$' -parallel 1 ./monitor/history/.
func FuzzOpen(f *testing.F) {
	empty := historyFile(f, nil)
	small := historyFile(f, fuzzRecords(3, 3))
	bigger := historyFile(f, fuzzRecords(30, 12))
	for _, b := range [][]byte{empty, small, bigger} {
		f.Add(b, false)
		for _, n := range []int{0, 100, 4096, 2 * 4096, 4*4096 + 17, len(b) / 2, len(b) - 1} {
			if n < len(b) {
				f.Add(b[:n], false) // truncated
			}
		}
	}
	for _, at := range []int{0, 20, 4096 + 20, 2*4096 + 100, 3*4096 + 100, len(small) - 100} {
		b := append([]byte(nil), small...)
		for i := range 16 {
			b[at+i] ^= 0x5A // damaged, checksums left as they are
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	for _, b := range hostileFiles(f) {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, file []byte, fix bool) {
		if fix {
			fixChecksums(file)
		}
		path, allocated, err := openBytes(t, file, openReadAppend)
		if limit := 32<<20 + 64*uint64(len(file)); allocated > limit {
			t.Errorf("a %d-byte file made the store allocate %d bytes, over %d", len(file), allocated, limit)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "history: ") || !strings.Contains(msg, path) || len(msg) > maxOpenError {
			t.Errorf("the error should start with \"history: \", name %s and be at most %d bytes; it is %d bytes: %.500s",
				path, maxOpenError, len(msg), msg)
		}
	})
}

// openReadAppend opens the store in dir, reads it as the monitor does at
// start, appends a minute and closes it.
func openReadAppend(dir string) error {
	s, err := Open(dir, Options{Now: func() time.Time { return later }})
	if err != nil {
		return err
	}
	_, err = s.Since(later.Add(-24 * time.Hour))
	if err == nil {
		err = s.Append([]Minute{record("model@fuzz", later.Truncate(time.Minute), 1)})
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}
