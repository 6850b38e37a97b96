package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a Recording.
const (
	// DefaultMaxExchanges is how many exchanges a recording keeps when
	// the options name no number: 1000.
	DefaultMaxExchanges = 1000
	// MaxMaxExchanges bounds what may be asked: 100,000.
	MaxMaxExchanges = 100_000
	// MaxRecordedBytes bounds each body (and header) a recording keeps:
	// 64 KiB; an exchange that had a longer one is marked Truncated.
	MaxRecordedBytes = 64 << 10
)

// Exchange is one request a proxy relayed and what the upstream sent
// back before the connection's next request: the replies to it. An
// exchange with no request is what the upstream sent first, a greeting.
type Exchange struct {
	Seq       uint64 // 1 for the first exchange the recording kept, then in order
	ConnID    uint64
	At        time.Time
	Request   *Frame // nil: the upstream spoke first
	Replies   []Frame
	Truncated bool // a header or body was longer than MaxRecordedBytes and is cut
}

// Frame is a recorded frame: its JSON header (nil in the other
// framings) and its body.
type Frame struct{ Header, Body []byte }

// Recording is a bounded ring of the last exchanges a proxy relayed, for
// every connection of the listener. It is safe for concurrent use.
type Recording struct {
	mu      sync.Mutex
	max     int
	ring    []Exchange
	next    int    // where the next exchange goes
	seq     uint64 // of the last exchange recorded
	dropped uint64 // exchanges overwritten
}

// NewRecording returns a Recording of at most max exchanges
// (DefaultMaxExchanges when 0).
func NewRecording(max int) *Recording {
	if max <= 0 {
		max = DefaultMaxExchanges
	}
	return &Recording{max: max, ring: make([]Exchange, 0, min(max, 1024))}
}

// Max is how many exchanges the recording keeps.
func (r *Recording) Max() int { return r.max }

// request records a new exchange of connection conn and returns its
// sequence number, for the replies.
func (r *Recording) request(conn uint64, header, body []byte) uint64 {
	f, cut := keep(header, body)
	return r.add(Exchange{ConnID: conn, At: time.Now(), Request: &f, Truncated: cut})
}

func (r *Recording) add(e Exchange) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	e.Seq = r.seq
	if len(r.ring) < r.max {
		r.ring = append(r.ring, e)
		return e.Seq
	}
	r.ring[r.next] = e
	r.next = (r.next + 1) % len(r.ring)
	r.dropped++
	return e.Seq
}

// reply records a frame the upstream sent on connection conn: a reply to
// exchange seq while the ring still has it, or else (seq 0: nothing was
// asked yet) a greeting of its own. It returns the exchange the next
// replies go to.
func (r *Recording) reply(conn, seq uint64, header, body []byte) uint64 {
	f, cut := keep(header, body)
	r.mu.Lock()
	if seq != 0 {
		if e := r.find(seq); e != nil {
			e.Replies = append(e.Replies, f)
			e.Truncated = e.Truncated || cut
			r.mu.Unlock()
			return seq
		}
	}
	r.mu.Unlock()
	return r.add(Exchange{ConnID: conn, At: time.Now(), Replies: []Frame{f}, Truncated: cut})
}

// find returns the ring's exchange seq, or nil once overwritten. The
// caller holds mu.
func (r *Recording) find(seq uint64) *Exchange {
	oldest := r.seq - uint64(len(r.ring)) + 1
	if seq < oldest || seq > r.seq {
		return nil
	}
	i := int(seq - oldest)
	if len(r.ring) == r.max {
		i = (r.next + i) % len(r.ring)
	}
	return &r.ring[i]
}

// Exchanges returns a copy of the recorded exchanges, oldest first, and
// how many older ones the ring dropped.
func (r *Recording) Exchanges() ([]Exchange, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Exchange, 0, len(r.ring))
	n := len(r.ring)
	start := 0
	if n == r.max {
		start = r.next
	}
	for i := range n {
		e := r.ring[(start+i)%n]
		e.Replies = append([]Frame(nil), e.Replies...)
		out = append(out, e)
	}
	return out, r.dropped
}

// keep copies a frame for the recording, cut to MaxRecordedBytes.
func keep(header, body []byte) (Frame, bool) {
	cut := len(header) > MaxRecordedBytes || len(body) > MaxRecordedBytes
	f := Frame{Body: append([]byte{}, body[:min(len(body), MaxRecordedBytes)]...)}
	if header != nil {
		f.Header = append([]byte{}, header[:min(len(header), MaxRecordedBytes)]...)
	}
	return f, cut
}

// cursor is one connection's (or datagram peer's) place in a Recording:
// the exchange its upstream's frames answer. The request side and the
// upstream's reader move it from their own goroutines. A cursor with no
// Recording records nothing.
type cursor struct {
	rec *Recording
	id  uint64 // the connection's or peer's
	seq atomic.Uint64
}

// request records a frame of the client as a new exchange.
func (c *cursor) request(header, body []byte) {
	if c.rec != nil {
		c.seq.Store(c.rec.request(c.id, header, body))
	}
}

// reply records a frame of the upstream as a reply of the current
// exchange; one that came before any request starts a greeting, which the
// next ones join until a request.
func (c *cursor) reply(header, body []byte) {
	if c.rec == nil {
		return
	}
	seq := c.seq.Load()
	if next := c.rec.reply(c.id, seq, header, body); next != seq {
		c.seq.CompareAndSwap(seq, next)
	}
}
