package wire

import (
	"fmt"
	"strings"
)

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
