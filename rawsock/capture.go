package rawsock

import (
	"sync"
	"time"
)

// Capture limits.
const (
	// DefaultCaptureBytesPerFrame is the body kept of a captured frame.
	DefaultCaptureBytesPerFrame = 4 << 10
	// DefaultRecordFrames is the capture of a record listener that sets none.
	DefaultRecordFrames = 1000
	// MaxCaptureFrames and MaxCaptureBytesPerFrame bound what a listener may ask.
	MaxCaptureFrames        = 100_000
	MaxCaptureBytesPerFrame = 1 << 20
	// maxCapturedHeader is the JSON header text kept of a captured frame.
	maxCapturedHeader = 1 << 10
)

// CapturedFrame is one frame of a Capture.
type CapturedFrame struct {
	ConnID    uint64
	Out       bool // written to the peer; false: read from it
	At        time.Time
	Header    []byte // JSON header text, nil for framings without one
	Body      []byte
	BodySize  int  // the body's full size
	Truncated bool // header or body was cut
}

// Capture keeps a listener's most recent frames, both directions, in a
// ring. Its memory is bounded by its size whatever the traffic: each slot
// keeps at most maxBody body bytes and 1 KiB of header, in buffers it
// reuses. Safe for concurrent use.
type Capture struct {
	maxBody int

	mu   sync.Mutex
	ring []CapturedFrame
	next int // the slot the next frame goes to
	full bool
}

// NewCapture returns a ring of maxFrames frames keeping maxBody bytes of
// each body; maxFrames <= 0 returns nil, which captures nothing.
func NewCapture(maxFrames, maxBody int) *Capture {
	if maxFrames <= 0 {
		return nil
	}
	if maxBody <= 0 {
		maxBody = DefaultCaptureBytesPerFrame
	}
	return &Capture{maxBody: maxBody, ring: make([]CapturedFrame, maxFrames)}
}

// record copies a frame into the ring. A nil Capture records nothing.
func (c *Capture) record(connID uint64, out bool, header, body []byte) {
	if c == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := &c.ring[c.next]
	slot.ConnID, slot.Out, slot.At, slot.BodySize = connID, out, now, len(body)
	slot.Truncated = len(header) > maxCapturedHeader || len(body) > c.maxBody
	slot.Body = append(slot.Body[:0], body[:min(len(body), c.maxBody)]...)
	if header == nil {
		slot.Header = slot.Header[:0]
	} else {
		slot.Header = append(slot.Header[:0], header[:min(len(header), maxCapturedHeader)]...)
	}
	c.next++
	if c.next == len(c.ring) {
		c.next, c.full = 0, true
	}
}

// Frames copies the captured frames out, oldest first; connID 0 means
// every connection's.
func (c *Capture) Frames(connID uint64) []CapturedFrame {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.next
	start := 0
	if c.full {
		n, start = len(c.ring), c.next
	}
	frames := make([]CapturedFrame, 0, n)
	for i := range n {
		f := c.ring[(start+i)%len(c.ring)]
		if connID != 0 && f.ConnID != connID {
			continue
		}
		f.Header = cloneOrNil(f.Header)
		f.Body = append([]byte(nil), f.Body...)
		frames = append(frames, f)
	}
	return frames
}

func cloneOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// retainedBytes is what the ring's buffers hold on to, for tests of its
// bound.
func (c *Capture) retainedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.ring {
		n += cap(f.Body) + cap(f.Header)
	}
	return n
}
