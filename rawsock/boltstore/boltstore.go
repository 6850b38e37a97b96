// Package boltstore keeps a rawsock.Registry's desired state in a bbolt
// file, so a restarted daemon restores its listeners.
//
// Every change is its own bbolt transaction, and bbolt fsyncs a
// transaction before Commit returns: what Save or Delete acknowledged
// survives a crash or a SIGKILL. The file is locked while open, so two
// daemons cannot share one data directory.
package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sockplane/sockplane/rawsock"
)

// FileName is the store's file inside the data directory.
const FileName = "sockplane.db"

// lockTimeout is how long Open waits for another process's lock on the
// file before it says so.
const lockTimeout = time.Second

var bucket = []byte("listeners")

// Store is a rawsock.Store in a bbolt file.
type Store struct {
	db *bolt.DB
}

var _ rawsock.Store = (*Store)(nil)

// Open opens (creating them if needed) dir with mode 0700 and the store
// file in it. A file that is not a valid store, or is locked by another
// process, is an error that says so.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: another process holds it (is another sockplane running with this --data-dir?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (move the file away to start empty)", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// Save implements rawsock.Store.
func (s *Store) Save(rec rawsock.Record) error {
	value, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode listener %s: %w", rec.Spec.ID, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(rec.Spec.ID), value)
	})
}

// Delete implements rawsock.Store.
func (s *Store) Delete(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(id))
	})
}

// Load implements rawsock.Store: every record, by id. A record that does
// not decode is an error naming it.
func (s *Store) Load() ([]rawsock.Record, error) {
	var recs []rawsock.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return errors.New("no listeners bucket: not a sockplane store")
		}
		return b.ForEach(func(k, v []byte) error {
			var rec rawsock.Record
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rec); err != nil {
				return fmt.Errorf("listener %q: %w", k, err)
			}
			if rec.Spec.ID != string(k) {
				return fmt.Errorf("listener %q: the record names %q", k, rec.Spec.ID)
			}
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.db.Path(), err)
	}
	return recs, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error { return s.db.Close() }
