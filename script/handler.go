package script

import (
	"sync/atomic"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
)

// Handler serves frames by a compiled Spec. It is safe for concurrent
// use: its rules never change, and its counters are atomic.
type Handler struct {
	greeting    *reply
	rules       []rule
	def         *reply
	defaultHits atomic.Uint64
	unmatched   atomic.Uint64
}

// rule is a Rule compiled, with the count of the frames it answered.
type rule struct {
	match *match.Matcher
	reply *reply
	hits  atomic.Uint64
}

// Hits counts the frames a Handler served, by what answered them.
type Hits struct {
	// Rules[i] counts the frames rule i answered.
	Rules []uint64
	// Default counts the frames the default reply answered.
	Default uint64
	// Unmatched counts the frames nothing answered, which got an error
	// frame.
	Unmatched uint64
}

// NeverBlocks implements rawsock.NonBlocking: a script's replies wait on
// timers (Delay), never on the handler.
func (h *Handler) NeverBlocks() {}

// Interface guards.
var (
	_ rawsock.NonBlocking = (*Handler)(nil)
	_ rawsock.Greeter     = (*Handler)(nil)
)

// ServeFrame answers r with the reply of the first rule that matches it,
// or else the default reply, or else an error frame.
func (h *Handler) ServeFrame(w rawsock.ResponseWriter, r *rawsock.Request) {
	for i := range h.rules {
		rl := &h.rules[i]
		if rl.match.Match(r.Header, r.Body) {
			rl.hits.Add(1)
			rl.reply.send(w, r)
			return
		}
	}
	if h.def != nil {
		h.defaultHits.Add(1)
		h.def.send(w, r)
		return
	}
	h.unmatched.Add(1)
	_ = w.ReplyError("no rule matches the frame")
}

// Greet sends the greeting, if the script has one, when a stream
// connection opens.
func (h *Handler) Greet(w rawsock.ResponseWriter, r *rawsock.Request) {
	if h.greeting != nil {
		h.greeting.send(w, r)
	}
}

// Hits returns the counts so far.
func (h *Handler) Hits() Hits {
	hits := Hits{
		Rules:     make([]uint64, len(h.rules)),
		Default:   h.defaultHits.Load(),
		Unmatched: h.unmatched.Load(),
	}
	for i := range h.rules {
		hits.Rules[i] = h.rules[i].hits.Load()
	}
	return hits
}

// send writes the reply to r: delay, body, then the connection's end.
func (rp *reply) send(w rawsock.ResponseWriter, r *rawsock.Request) {
	if rp.delay > 0 {
		w.Delay(rp.delay)
	}
	if !rp.noReply {
		body := rp.body
		if rp.echo {
			body = r.Body
		}
		// A failed reply means the peer is gone or the frame could not be
		// sent; the engine has counted it, and the close below, if any,
		// still ends the connection as the script says.
		_ = w.Reply(body, rp.extra...)
	}
	switch rp.then {
	case ThenClose:
		w.CloseAfterReply(false)
	case ThenReset:
		w.CloseAfterReply(true)
	}
}
