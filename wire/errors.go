package wire

import "errors"

// Frame errors. Callers test them with errors.Is; the messages they wrap
// say what was wrong.
var (
	// ErrMalformedFrame means the bytes are not a frame of the framing.
	ErrMalformedFrame = errors.New("malformed frame")
	// ErrFrameTooLarge means a frame declared a header or body larger than
	// the codec's limits allow.
	ErrFrameTooLarge = errors.New("frame too large")
)
