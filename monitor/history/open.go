package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Open opens or creates the store at dir/history.db, creating dir with mode 0o700 if needed, and prunes expired
// records. A damaged or unreadable file, a file with a newer schema, or one locked by another running
// Switchboard is an error that says what, where and what to do; the caller reports it and goes on without history.
func Open(dir string, o Options) (*Store, error) {
	if o.Retention < 0 {
		return nil, fmt.Errorf("history: retention %v is negative", o.Retention)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: creating the directory %s: %w; check the permissions of its parent", dir, err)
	}
	path := filepath.Join(dir, fileName)
	if err := checkLocked(path); err != nil {
		return nil, err
	}
	var db *bbolt.DB
	err := guard(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
		return err
	})
	if err != nil {
		// If bbolt panicked inside Open, its mapping of the file, and with it the lock, stay until the process
		// exits: a later Open of the same file in this process reports it locked. Switchboard opens history once.
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, retention: o.Retention, now: o.Now}
	now := s.now()
	if err := s.update(func(tx *bbolt.Tx) error { return s.prepare(tx, now) }); err != nil {
		_ = db.Close()
		return nil, s.fail("opening", err)
	}
	s.pruned, s.lastPrune = true, now.Unix()/60
	return s, nil
}

// checkLocked runs checkFile on an existing file while holding bbolt's shared lock on it, so that no other
// Switchboard writes it meanwhile; a read-only bbolt trusts nothing a write would (it loads no freelist).
func checkLocked(path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return nil // new, or for bbolt to report
	}
	var ro *bbolt.DB
	err := guard(func() (err error) {
		ro, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
		return err
	})
	if err != nil {
		return openError(path, err)
	}
	defer ro.Close()
	if err := checkFile(path); err != nil {
		return damaged(path, err)
	}
	return nil
}

// openError turns a failure of bbolt.Open into advice: locked, inaccessible, or not a database we can read.
func openError(path string, err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("history: %s is locked by another process, probably another Switchboard (waited %v): %w; stop that one to keep history here", path, lockTimeout, err)
	case errors.As(err, &pathErr):
		return fmt.Errorf("history: cannot open %s: %w; check the permissions of the file and its directory", path, err)
	default:
		return damaged(path, err)
	}
}

// damaged describes a file whose content cannot be used.
func damaged(path string, err error) error {
	return fmt.Errorf("history: %s is not a readable history database (%w); move it aside and Switchboard will start a new one", path, err)
}

// fail wraps an error of the store's work with the file, and with advice when the file's content is the cause.
func (s *Store) fail(doing string, err error) error {
	if isCorrupt(err) {
		return fmt.Errorf("history: %s %s: the file is damaged (%w); move it aside and Switchboard will start a new one", doing, s.path, err)
	}
	return fmt.Errorf("history: %s %s: %w", doing, s.path, err)
}

// prepare checks the file's schema, creating it in a new file, and prunes.
func (s *Store) prepare(tx *bbolt.Tx, now time.Time) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		// A new file, or another program's bbolt file: refuse the latter rather than add our buckets to it.
		if k, _ := tx.Cursor().First(); k != nil {
			return corrupt("it holds bucket %q but no Switchboard schema", k)
		}
		for _, name := range [][]byte{bucketMeta, bucketEndpoints, bucketMinutes} {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("creating bucket %q: %w", name, err)
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, binary.AppendUvarint(nil, schemaVersion)); err != nil {
			return fmt.Errorf("writing the schema version: %w", err)
		}
		return nil
	}
	v, n := binary.Uvarint(meta.Get(keySchema))
	if n <= 0 || v == 0 {
		return corrupt("its schema version is missing or unreadable")
	}
	if v > schemaVersion {
		return fmt.Errorf("it has schema version %d, newer than this Switchboard reads (up to %d); upgrade Switchboard, or move the file aside to start a new history", v, schemaVersion)
	}
	if tx.Bucket(bucketEndpoints) == nil || tx.Bucket(bucketMinutes) == nil {
		return corrupt("a bucket is missing")
	}
	if err := deleteBefore(tx.Bucket(bucketMinutes), now.Add(-s.retention)); err != nil {
		return fmt.Errorf("pruning: %w", err)
	}
	return nil
}

// guard runs fn with memory faults turned into panics and panics turned into errors. bbolt reads the file
// through mmap and trusts its pages, so a damaged file can make it panic or fault; history is not worth
// crashing the gateway for. bbolt rolls the transaction back while the panic unwinds.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt("the database engine failed on it: %v", r)
		}
	}()
	return fn()
}
