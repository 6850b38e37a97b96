package rawsock

import (
	"errors"
	"fmt"
	"strings"
)

// Store keeps a Registry's desired state — every listener's Spec and
// whether it should run — so a restarted daemon can restore it. Save and
// Delete must be durable when they return: the Registry answers only
// after them.
type Store interface {
	Save(Record) error
	Delete(id string) error
	Load() ([]Record, error)
}

// Record is one listener's desired state.
type Record struct {
	Spec    Spec `json:"spec"`
	Running bool `json:"running"`
	// LastBound is the address the listener last bound, so a port-0
	// listener gets its port back after a restart when it is still free.
	LastBound string `json:"lastBound,omitempty"`
}

// ErrStore wraps a failure to read or write the store.
var ErrStore = errors.New("cannot save the listener's state")

// MarshalText implements encoding.TextMarshaler: the framing's name.
func (f Framing) MarshalText() ([]byte, error) {
	if f < FramingJSONHeader || f > FramingRaw {
		return nil, fmt.Errorf("unknown framing %d", f)
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Framing) UnmarshalText(b []byte) error {
	for c := FramingJSONHeader; c <= FramingRaw; c++ {
		if c.String() == string(b) {
			*f = c
			return nil
		}
	}
	return fmt.Errorf("unknown framing %q", b)
}

// MarshalText implements encoding.TextMarshaler: "little-endian" or
// "big-endian".
func (o ByteOrder) MarshalText() ([]byte, error) {
	if o != LittleEndian && o != BigEndian {
		return nil, fmt.Errorf("unknown byte order %d", o)
	}
	return []byte(o.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *ByteOrder) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case LittleEndian.String():
		*o = LittleEndian
	case BigEndian.String():
		*o = BigEndian
	default:
		return fmt.Errorf("unknown byte order %q", b)
	}
	return nil
}
