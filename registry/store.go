package registry

import "time"

// Store keeps a Registry's desired state — every listener's Spec and
// whether it should run — so a restarted daemon can restore it. Save and
// Delete must be durable when they return, since the Registry answers
// only after them, and safe for concurrent use: concurrent calls may
// share one commit (group commit), but none returns before its own change
// is durable.
type Store interface {
	Save(Record) error
	Delete(id string) error
	// Load returns every record. A record that cannot be decoded (written
	// by a newer sockplane, or damaged) comes back with Unreadable set and
	// stays in the store untouched; only a store that cannot be read at
	// all is an error.
	Load() ([]Record, error)
}

// Record is one listener's desired state.
type Record struct {
	// Spec is the listener as it was asked for, not the effective spec:
	// Provision completes it again, under the policy of the day, each
	// time the listener starts.
	Spec Spec
	// Running says whether it should run.
	Running bool
	// LastBound is the address the listener last bound, so a port-0
	// listener gets its port back after a restart when it is still free.
	LastBound string
	// Generation of the desired state, CreateTime of the listener (with
	// it, the etag) and the RequestID of its Create.
	Generation int64
	CreateTime time.Time
	RequestID  string
	// Unreadable, on a loaded record, says why it could not be decoded;
	// then only Spec.ID is set.
	Unreadable error
}
