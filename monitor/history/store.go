// Package history keeps minute-level health aggregates on disk, so that a day's availability and the hourly bars
// survive a restart.
//
// The store is one bbolt file, history.db, with three buckets:
//
//	meta       "schema" -> uvarint schema version
//	endpoints  uvarint number -> endpoint id (see endpoints.go)
//	minutes    big-endian unix minute + uvarint endpoint number -> versioned record (see encode.go)
//
// Keys sort by time first, so Since is one seek and a forward scan and pruning deletes from the front.
// bbolt rather than SQLite: we need only ordered keys, and a pure-Go SQLite adds minutes to every -race build.
package history

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// DefaultRetention is how long records are kept when Options.Retention is zero.
const DefaultRetention = 7 * 24 * time.Hour

const (
	fileName      = "history.db"
	schemaVersion = 1

	// lockTimeout bounds the wait for another process's lock on the file: a second Switchboard must get an
	// error and go on without history, not hang at startup.
	lockTimeout = time.Second

	// fillPercent packs pages fuller than bbolt's default of half: records arrive in key order (time first),
	// so a split page is rarely written to again.
	fillPercent = 0.9
)

var (
	bucketMeta      = []byte("meta")
	bucketEndpoints = []byte("endpoints")
	bucketMinutes   = []byte("minutes")
	keySchema       = []byte("schema")
)

// Options configures a Store. The zero value is usable.
type Options struct {
	Retention time.Duration    // default DefaultRetention; records older than Now()-Retention are pruned
	Now       func() time.Time // default time.Now
}

// Store is the on-disk history. Its methods are safe for concurrent use.
type Store struct {
	db        *bbolt.DB
	path      string
	retention time.Duration
	now       func() time.Time

	// mu serializes Append and Prune, which bbolt serializes anyway, so that the prune bookkeeping needs no
	// other guard.
	mu        sync.Mutex
	pruned    bool
	lastPrune int64 // unix minute of Now at the last prune

	closeOnce sync.Once
	closeErr  error
}

// Append stores ms in one transaction. A record for an endpoint and minute already stored replaces it. Records
// already older than the retention are skipped. Expired records are pruned at most once per minute of Now.
func (s *Store) Append(ms []Minute) error {
	for i := range ms {
		if err := ms[i].validate(); err != nil {
			return s.fail("appending to", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	nowMinute := now.Unix() / 60
	pruneDue := !s.pruned || s.lastPrune != nowMinute
	if len(ms) == 0 && !pruneDue {
		return nil
	}
	cutoff := now.Add(-s.retention)
	err := s.update(func(tx *bbolt.Tx) error {
		minutes := tx.Bucket(bucketMinutes)
		minutes.FillPercent = fillPercent
		ids := make([]string, 0, len(ms))
		for i := range ms {
			if !ms[i].Start.Before(cutoff) {
				ids = append(ids, ms[i].Endpoint)
			}
		}
		nums, err := endpointNumbers(tx.Bucket(bucketEndpoints), ids)
		if err != nil {
			return err
		}
		// One buffer holds every key and value. bbolt keeps the slices given to Put until the commit, which is
		// fine: the buffer is only appended to, and a reallocation leaves the earlier slices intact.
		buf := make([]byte, 0, len(ids)*48)
		for i := range ms {
			m := &ms[i]
			if m.Start.Before(cutoff) {
				continue
			}
			um, _ := unixMinute(m.Start) // validated above
			k := len(buf)
			buf = appendKey(buf, um, nums[m.Endpoint])
			v := len(buf)
			buf = appendValue(buf, m)
			if err := minutes.Put(buf[k:v:v], buf[v:len(buf):len(buf)]); err != nil {
				return fmt.Errorf("storing %q at %s: %w", m.Endpoint, m.Start.Format(time.RFC3339), err)
			}
		}
		if pruneDue {
			return deleteBefore(minutes, cutoff)
		}
		return nil
	})
	if err != nil {
		return s.fail(fmt.Sprintf("appending %d minutes to", len(ms)), err)
	}
	if pruneDue {
		s.pruned, s.lastPrune = true, nowMinute
	}
	return nil
}

// Prune deletes the records older than Now()-Retention.
func (s *Store) Prune() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	err := s.update(func(tx *bbolt.Tx) error {
		return deleteBefore(tx.Bucket(bucketMinutes), now.Add(-s.retention))
	})
	if err != nil {
		return s.fail("pruning", err)
	}
	s.pruned, s.lastPrune = true, now.Unix()/60
	return nil
}

// deleteBefore deletes the records that start before cutoff: exactly those Since(cutoff) would not return.
func deleteBefore(minutes *bbolt.Bucket, cutoff time.Time) error {
	if minutes == nil {
		return corrupt("the minutes bucket is missing")
	}
	var bound []byte // nil: every key is before the cutoff
	if from := firstMinuteAtOrAfter(cutoff); from <= math.MaxUint32 {
		bound = binary.BigEndian.AppendUint32(nil, uint32(from))
	}
	c := minutes.Cursor()
	for k, _ := c.First(); k != nil && (bound == nil || bytes.Compare(k, bound) < 0); k, _ = c.Next() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("deleting an expired record: %w", err)
		}
	}
	return nil
}

// Close closes the file and releases its lock. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("history: closing %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// update runs fn in a write transaction under guard.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	return guard(func() error { return s.db.Update(fn) })
}
