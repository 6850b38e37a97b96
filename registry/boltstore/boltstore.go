// Package boltstore keeps a registry's desired state in a bbolt file, so
// a restarted daemon restores its listeners.
//
// Each listener is one key of the "listeners" bucket, its id, whose value
// is a sockplane.v1.ListenerRecord in protojson (package specpb): a
// versioned, documented format, not the JSON of a Go struct. Records of
// version 0 (the first release's format) are rewritten in the current
// format when the store opens, after a copy of the file is kept beside it;
// a record that cannot be read (a newer version, a damaged value) is
// left untouched and reported by Load.
//
// Durability: bbolt fsyncs a transaction before Commit returns, and Save
// and Delete return only after the commit that holds their change. Calls
// that arrive while a commit is running share the next one (group
// commit), so concurrent creates pay one fsync between them instead of
// one each. The file is locked while open, so two daemons cannot share
// one data directory.
package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
)

// FileName is the store's file inside the data directory.
const FileName = "sockplane.db"

// backupSuffix names the copy of the file kept before records of an older
// schema are rewritten: sockplane.db.schema0.bak.
const backupSuffix = ".schema0.bak"

// lockTimeout is how long Open waits for another process's lock on the
// file before it says so.
const lockTimeout = time.Second

var bucket = []byte("listeners")

// Store is a registry.Store in a bbolt file.
type Store struct {
	db       *bolt.DB
	migrated int
	commits  atomic.Uint64 // write transactions of Save and Delete, for tests of the group commit

	mu         sync.Mutex
	pending    []*change // waiting for the next commit
	committing bool      // a caller is committing; the others wait for it
}

// change is one Save (value set) or Delete (value nil) waiting for its
// commit.
type change struct {
	id    string
	value []byte
	done  chan error // buffered: the committer never waits on a caller
}

var _ registry.Store = (*Store)(nil)

// options are the bbolt options of Open. The freelist is not written
// with each commit (NoFreelistSync), so a commit writes one page fewer
// and a Save waits for less before its two fdatasyncs return (data pages,
// then the meta page, which no option of bbolt's removes without giving up
// durability); Open rebuilds the freelist by scanning the file, which is
// small, and keeps it as a map (FreelistMapType), whose cost does not grow
// with the number of free pages. etcd runs bbolt the same way. Neither
// changes the file's format: an older sockplane opens it.
func options() *bolt.Options {
	return &bolt.Options{Timeout: lockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// Open opens (creating them if needed) dir with mode 0700 and the store
// file in it, and migrates the records of older schemas. A file that is
// not a valid store, or is locked by another process, is an error naming
// the file.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, options())
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: another process holds it (is another sockplane running with this data directory?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (move the file away to start empty)", path, err)
	}
	s := &Store{db: db}
	if err := s.prepare(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// prepare creates the bucket and rewrites records of older schemas in the
// current one, keeping a copy of the file first.
func (s *Store) prepare() error {
	var old []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if rec, current := specpb.DecodeRecord(string(k), v); !current && rec.Unreadable == nil {
				old = append(old, string(k))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	backup := s.db.Path() + backupSuffix
	if _, err := os.Stat(backup); errors.Is(err, os.ErrNotExist) {
		if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(backup, 0o600) }); err != nil {
			return fmt.Errorf("keep a copy before migrating: %w", err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, id := range old {
			rec, _ := specpb.DecodeRecord(id, b.Get([]byte(id)))
			value, err := specpb.EncodeRecord(rec)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %d records to schema version %d: %w", len(old), specpb.SchemaVersion, err)
	}
	s.migrated = len(old)
	return nil
}

// Migrated is how many records Open rewrote from an older schema.
func (s *Store) Migrated() int { return s.migrated }

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// Save implements registry.Store.
func (s *Store) Save(rec registry.Record) error {
	value, err := specpb.EncodeRecord(rec)
	if err != nil {
		return err
	}
	return s.apply(&change{id: rec.Spec.ID, value: value, done: make(chan error, 1)})
}

// Delete implements registry.Store.
func (s *Store) Delete(id string) error {
	return s.apply(&change{id: id, done: make(chan error, 1)})
}

// apply queues c and returns once a commit holding it is durable. The
// first caller to find no commit running commits everything queued, and
// again while more arrives; the others wait for it.
func (s *Store) apply(c *change) error {
	s.mu.Lock()
	s.pending = append(s.pending, c)
	if s.committing {
		s.mu.Unlock()
		return <-c.done
	}
	s.committing = true
	for len(s.pending) > 0 {
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		err := s.commit(batch)
		for _, b := range batch {
			b.done <- err
		}
		s.mu.Lock()
	}
	s.committing = false
	s.mu.Unlock()
	return <-c.done
}

// commit writes a batch in one transaction, in the order it came.
func (s *Store) commit(batch []*change) error {
	s.commits.Add(1)
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, c := range batch {
			var err error
			if c.value == nil {
				err = b.Delete([]byte(c.id))
			} else {
				err = b.Put([]byte(c.id), c.value)
			}
			if err != nil {
				return fmt.Errorf("listener %s: %w", c.id, err)
			}
		}
		return nil
	})
}

// Load implements registry.Store: every record, by id.
func (s *Store) Load() ([]registry.Record, error) {
	var recs []registry.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return errors.New("no listeners bucket: not a sockplane store")
		}
		return b.ForEach(func(k, v []byte) error {
			rec, _ := specpb.DecodeRecord(string(k), v)
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
