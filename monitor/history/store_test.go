package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"switchboard/monitor/monitortest"
)

// t0 is a minute start well inside the key range.
var t0 = time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)

// open opens a store in dir with a clock at t0 and closes it when the test ends.
func open(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.Now == nil {
		o.Now = (monitortest.NewClockAt(t0)).Now
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func record(endpoint string, start time.Time, requests uint32) Minute {
	m := full(15)
	m.Endpoint, m.Start, m.Requests = endpoint, start, requests
	return m
}

func mustAppend(t testing.TB, s *Store, ms ...Minute) {
	t.Helper()
	if err := s.Append(ms); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func mustSince(t testing.TB, s *Store, from time.Time) []Minute {
	t.Helper()
	ms, err := s.Since(from)
	if err != nil {
		t.Fatalf("Since(%s): %v", from, err)
	}
	return ms
}

// ids lists records as "endpoint@minute-offset:requests" for readable comparisons.
func ids(ms []Minute) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s+%d:%d", m.Endpoint, int(m.Start.Sub(t0)/time.Minute), m.Requests)
	}
	return out
}

func TestRoundTripEveryField(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	var want []Minute
	for i, n := range []int{0, 1, 15, 40} {
		m := full(n)
		m.Endpoint = fmt.Sprintf("meta-llama/llama-3.3-70b-instruct@provider:%d", i)
		m.Start = t0
		want = append(want, m)
	}
	mustAppend(t, s, want...)
	got := mustSince(t, s, t0)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Since:\n got %+v\nwant %+v", got, want)
	}
	for _, m := range got {
		if m.Start.Location() != time.UTC {
			t.Errorf("Start %v is not UTC", m.Start)
		}
	}
}

func TestUpsertOrderingAndBoundaries(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	min := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	// Endpoints first seen in an order unlike their sort order, over two appends, so numbers are not id order.
	mustAppend(t, s, record("groq", min(1), 1), record("cerebras", min(0), 1))
	mustAppend(t, s,
		record("together", min(1), 1), record("anthropic", min(1), 1), record("groq", min(0), 1),
		record("deepinfra", min(2), 1))
	// Same endpoint and minute: replaced, within one batch the last wins, and across batches too.
	mustAppend(t, s, record("groq", min(1), 2), record("groq", min(1), 3))

	want := []string{
		"cerebras+0:1", "groq+0:1",
		"anthropic+1:1", "groq+1:3", "together+1:1",
		"deepinfra+2:1",
	}
	if got := ids(mustSince(t, s, min(0))); !slices.Equal(got, want) {
		t.Fatalf("Since(min 0) = %v, want %v", got, want)
	}
	tests := []struct {
		name string
		from time.Time
		want []string
	}{
		{"long before", min(-1000), want},
		{"one nanosecond before a minute", min(1).Add(-time.Nanosecond), want[2:]},
		{"exactly a minute", min(1), want[2:]},
		{"one nanosecond after a minute", min(1).Add(time.Nanosecond), want[5:]},
		{"last minute", min(2), want[5:]},
		{"after everything", min(3), nil},
		{"zero time", time.Time{}, want},
		{"far future", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		{"another zone", min(1).In(time.FixedZone("X", 5*3600+1800)), want[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(mustSince(t, s, tt.from)); !slices.Equal(got, tt.want) {
				t.Errorf("Since(%v) = %v, want %v", tt.from, got, tt.want)
			}
		})
	}
}

func TestStartIsTruncatedToTheMinute(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	mustAppend(t, s, record("groq", t0.Add(59*time.Second+time.Millisecond), 1))
	got := mustSince(t, s, t0)
	if len(got) != 1 || !got[0].Start.Equal(t0) {
		t.Fatalf("Since = %v, want one record at %v", ids(got), t0)
	}
}

func TestAppendRejectsBadRecords(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	tests := map[string]Minute{
		"no endpoint":     {Start: t0},
		"no start":        {Endpoint: "groq"},
		"before 1970":     {Endpoint: "groq", Start: time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)},
		"too many errors": {Endpoint: "groq", Start: t0, Errors: make([]uint32, maxErrorClasses+1)},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			if err := s.Append([]Minute{record("fine", t0, 1), m}); err == nil {
				t.Fatal("Append accepted a bad record")
			}
		})
	}
	// A rejected batch stores nothing.
	if got := mustSince(t, s, time.Time{}); len(got) != 0 {
		t.Fatalf("after rejected appends Since = %v, want nothing", ids(got))
	}
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Now: (monitortest.NewClockAt(t0)).Now})
	if err != nil {
		t.Fatal(err)
	}
	want := []Minute{record("anthropic", t0, 5), record("bedrock", t0, 7), record("vertex", t0.Add(time.Minute), 9)}
	mustAppend(t, s, want...)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(want[:1]); err == nil {
		t.Error("Append after Close succeeded")
	}
	if _, err := s.Since(t0); err == nil {
		t.Error("Since after Close succeeded")
	}

	s = open(t, dir, Options{})
	if got := mustSince(t, s, t0); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen Since:\n got %+v\nwant %+v", got, want)
	}
	// New endpoints after a reopen get new numbers, not reused ones.
	mustAppend(t, s, record("aaa-new", t0, 1))
	if got := ids(mustSince(t, s, t0)); !slices.Equal(got, []string{"aaa-new+0:1", "anthropic+0:5", "bedrock+0:7", "vertex+1:9"}) {
		t.Fatalf("Since = %v", got)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	clk := monitortest.NewClockAt(t0)
	s := open(t, dir, Options{Retention: time.Hour, Now: clk.Now})
	min := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	// Records older than the retention are skipped on the way in.
	mustAppend(t, s, record("a", min(-61), 1), record("a", min(-60), 1), record("a", min(0), 1))
	if got := ids(mustSince(t, s, time.Time{})); !slices.Equal(got, []string{"a+-60:1", "a+0:1"}) {
		t.Fatalf("Since = %v, want the expired record skipped", got)
	}

	// Thirty seconds later, still in the same minute of Now: no prune yet, at most once per minute.
	clk.Set(t0.Add(30 * time.Second))
	mustAppend(t, s, record("b", min(0), 1))
	if got := ids(mustSince(t, s, time.Time{})); !slices.Equal(got, []string{"a+-60:1", "a+0:1", "b+0:1"}) {
		t.Fatalf("Since = %v, want no prune within the minute", got)
	}

	// The next minute: Append prunes what started before Now-Retention and keeps what starts at or after it.
	clk.Set(min(1))
	mustAppend(t, s, record("c", min(1), 1))
	if got := ids(mustSince(t, s, time.Time{})); !slices.Equal(got, []string{"a+0:1", "b+0:1", "c+1:1"}) {
		t.Fatalf("Since = %v after the next minute's Append", got)
	}

	// Prune deletes whenever asked. With a cutoff one second into minute 0, minute 0 started before it and goes.
	clk.Set(min(60).Add(time.Second))
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustSince(t, s, time.Time{})); !slices.Equal(got, []string{"c+1:1"}) {
		t.Fatalf("Since = %v after Prune", got)
	}

	// Reopening prunes too, so a store closed for a long time does not serve stale records.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Set(min(200))
	s = open(t, dir, Options{Retention: time.Hour, Now: clk.Now})
	if got := ids(mustSince(t, s, time.Time{})); len(got) != 0 {
		t.Fatalf("Since = %v after reopening long after, want nothing", got)
	}
}

func TestDefaultRetentionKeepsAWeek(t *testing.T) {
	clk := monitortest.NewClockAt(t0)
	s := open(t, t.TempDir(), Options{Now: clk.Now})
	week := 7 * 24 * time.Hour
	mustAppend(t, s, record("old", t0.Add(-week-time.Minute), 1), record("kept", t0.Add(-week), 1))
	if got := ids(mustSince(t, s, time.Time{})); len(got) != 1 || !strings.HasPrefix(got[0], "kept") {
		t.Fatalf("Since = %v, want only the record exactly a week old", got)
	}
}

func TestOpenRejectsNegativeRetention(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{Retention: -time.Hour}); err == nil {
		t.Fatal("Open accepted a negative retention")
	}
}

// filled returns a closed history file with some records, for tests that damage it.
func filled(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	s, err := Open(dir, Options{Now: (monitortest.NewClockAt(t0)).Now})
	if err != nil {
		t.Fatal(err)
	}
	var ms []Minute
	for i := range 200 {
		for e := range 20 {
			ms = append(ms, record(fmt.Sprintf("model@provider-%d", e), t0.Add(time.Duration(i)*time.Minute), 1))
		}
	}
	mustAppend(t, s, ms...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, fileName)
}

// openBroken opens a store that should fail or, when bbolt cannot see the damage at open, fail when read.
// Either way it must return an error naming the path, not panic.
func openBroken(t *testing.T, dir, path string) error {
	t.Helper()
	s, err := Open(dir, Options{Now: (monitortest.NewClockAt(t0)).Now})
	if err == nil {
		_, err = s.Since(time.Time{})
		if cerr := s.Close(); cerr != nil {
			t.Errorf("Close: %v", cerr)
		}
	}
	if err == nil {
		t.Fatal("a damaged file opened and read without error")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	return err
}

func TestCorruptFile(t *testing.T) {
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7919 + i>>8)
		}
		return b
	}
	tests := map[string][]byte{
		"short garbage": garbage(100),
		"page garbage":  garbage(4096),
		"long garbage":  garbage(64 << 10),
		"text":          []byte("this is not a database\n"),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, fileName)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, Options{})
			if err == nil {
				t.Fatal("Open accepted garbage")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
				t.Errorf("error %q should name %s and say to move it aside", err, path)
			}
		})
	}
}

func TestDamagedPages(t *testing.T) {
	// Valid meta pages over garbage data pages: bbolt opens the file and only trips when it reads the pages.
	for _, offset := range []int64{2 * 4096, 3 * 4096, 5 * 4096, 9 * 4096} {
		t.Run(fmt.Sprint(offset), func(t *testing.T) {
			dir, path := filled(t)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 4096)
			for i := range junk {
				junk[i] = byte(i * 31)
			}
			_, err = f.WriteAt(junk, offset)
			if cerr := f.Close(); err != nil || cerr != nil {
				t.Fatal(err, cerr)
			}
			// Some pages are free and their damage harmless; the rest must fail cleanly.
			s, err := Open(dir, Options{Now: (monitortest.NewClockAt(t0)).Now})
			if err != nil {
				t.Log(err)
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				return
			}
			defer s.Close()
			if _, err := s.Since(time.Time{}); err != nil {
				t.Log(err)
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
			}
		})
	}
}

func TestTruncatedFile(t *testing.T) {
	dir, path := filled(t)
	if err := os.Truncate(path, 4*4096); err != nil {
		t.Fatal(err)
	}
	openBroken(t, dir, path)
	// The advice works: with the file moved aside, a new history starts.
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, Options{})
	mustAppend(t, s, record("groq", t0, 1))
}

func TestForeignBoltFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, fileName)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = openBroken(t, dir, path)
	if !strings.Contains(err.Error(), `"theirs"`) {
		t.Errorf("error %q does not say what the file holds", err)
	}
}

// poke changes a closed history file directly.
func poke(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchema(t *testing.T) {
	dir, path := filled(t)
	poke(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.AppendUvarint(nil, schemaVersion+1))
	})
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 2") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want an error naming schema version 2 and %s", err, path)
	}
}

func TestNewerRecordVersion(t *testing.T) {
	dir, path := filled(t)
	poke(t, path, func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketMinutes).Cursor().Last()
		return tx.Bucket(bucketMinutes).Put(k, []byte{recordV1 + 1, 0, 0})
	})
	s := open(t, dir, Options{})
	_, err := s.Since(time.Time{})
	if err == nil || !strings.Contains(err.Error(), "record version 2") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Since = %v, want an error naming record version 2 and %s", err, path)
	}
}

func TestUnknownEndpointNumber(t *testing.T) {
	dir, path := filled(t)
	poke(t, path, func(tx *bbolt.Tx) error {
		m, _ := unixMinute(t0)
		return tx.Bucket(bucketMinutes).Put(appendKey(nil, m, 999), appendValue(nil, new(full(1))))
	})
	s := open(t, dir, Options{})
	if _, err := s.Since(time.Time{}); err == nil || !strings.Contains(err.Error(), "endpoint number 999") {
		t.Fatalf("Since = %v, want an error about endpoint number 999", err)
	}
}

func TestUnwritableDir(t *testing.T) {
	t.Run("path under a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "switchboard")
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Open = %v, want an error naming %s", err, dir)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		if probe, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			_ = probe.Close()
			t.Skip("chmod 0o500 does not stop this user (root?) from writing; the path-under-a-file case covers the error")
		}
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Open = %v, want an error naming %s", err, dir)
		}
	})
}

func TestLockedByAnotherStore(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	start := time.Now()
	s, err := Open(dir, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("a second Open of a locked file succeeded")
	}
	if elapsed := time.Since(start); elapsed > lockTimeout+2*time.Second {
		t.Errorf("Open took %v to give up, want about %v", elapsed, lockTimeout)
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q should say the file in %s is locked", err, dir)
	}
}

func TestConcurrentAppendAndSince(t *testing.T) {
	clk := monitortest.NewClockAt(t0)
	s := open(t, t.TempDir(), Options{Now: clk.Now})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			clk.Set(t0.Add(time.Duration(i) * time.Minute))
			if err := s.Append([]Minute{record(fmt.Sprintf("e%d", i%7), t0.Add(time.Duration(i)*time.Minute), 1)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 50 {
		ms, err := s.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].Start.Before(ms[i-1].Start) {
				t.Fatalf("records out of order: %v", ids(ms))
			}
		}
	}
	wg.Wait()
	if got := mustSince(t, s, t0); len(got) != 50 {
		t.Fatalf("Since = %d records, want 50", len(got))
	}
}
