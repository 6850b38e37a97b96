package rawsock

import (
	"errors"
	"time"
)

// inbound applies the request-side faults to the datagram being served
// and returns how many times to serve it. A datagram listener has one
// reader for every peer, so inbound delays become delays of the replies,
// and an inbound bandwidth bound drops what exceeds it, as a congested
// link would.
func (p *packetConn) inbound(header, body []byte, size int) int {
	fs := p.b.faults
	serve := 1
	now := time.Now()
	for i, f := range fs.faults {
		if !f.Inbound || !fs.applies(i, p.seq) || f.Match != nil && !f.Match.Match(header, body) {
			continue
		}
		fs.applied[i].Add(1)
		switch f.Kind {
		case FaultLatency:
			d := f.Delay + fs.jitter(i, p.seq, 0, f.Jitter)
			if t := now.Add(d); t.After(p.hold) {
				p.hold = t
			}
		case FaultBandwidth:
			if p.paceFree.After(now) {
				serve = 0
				continue
			}
			p.paceFree = now.Add(time.Duration(int64(size) * int64(time.Second) / f.BytesPerSecond))
		case FaultDrop:
			serve = 0
		case FaultTimeout:
			serve = 0
		case FaultDuplicate:
			if serve > 0 {
				serve = 2
			}
		}
	}
	return serve
}

// replyFaulted is Reply's path when faults or a Delay apply: out is the
// framed reply, in p.out's buffer.
func (p *packetConn) replyFaulted(out, body []byte) error {
	due, copies := p.hold, 1
	if p.dropOut {
		copies = 0
	}
	now := time.Now()
	if fs := p.b.faults; fs != nil {
		d, c := fs.outboundDatagram(p.seq, p.b.response.HeaderText(out[:len(out)-len(body)]), body, len(out), &p.paceFree, now)
		if d.After(due) {
			due = d
		}
		if copies > 0 {
			copies = c
		}
	}
	if copies == 0 {
		return nil
	}
	for range copies {
		p.countOut(p.b, p.cur, out, body)
	}
	if !due.After(now) {
		var err error
		for range copies {
			err = errors.Join(err, p.writeTo(out, p.peer, p.unixPeer, p.cur))
		}
		return err
	}
	frame := append([]byte(nil), out...)
	peer, unixPeer, pe := p.peer, p.unixPeer, p.cur
	p.timers.After(due.Sub(now), func() {
		for range copies {
			_ = p.writeTo(frame, peer, unixPeer, pe)
		}
	})
	return nil
}

// outboundDatagram applies the reply-side faults to one datagram of size
// bytes, the seq'th of its unit (the datagram served, or a peer's relayed
// reply): when it may leave (zero: now) and how many copies go (0:
// dropped). paceFree is the bandwidth fault's next free moment, which it
// moves.
func (fs *faultSet) outboundDatagram(seq uint64, header, body []byte, size int, paceFree *time.Time, now time.Time) (due time.Time, copies int) {
	copies = 1
	for i, f := range fs.faults {
		if f.Inbound || !fs.applies(i, seq) || f.Match != nil && !f.Match.Match(header, body) {
			continue
		}
		fs.applied[i].Add(1)
		switch f.Kind {
		case FaultLatency:
			if t := now.Add(f.Delay + fs.jitter(i, seq, 1, f.Jitter)); t.After(due) {
				due = t
			}
		case FaultBandwidth:
			free := *paceFree
			if free.Before(now) {
				free = now
			}
			*paceFree = free.Add(time.Duration(int64(size) * int64(time.Second) / f.BytesPerSecond))
			if free.After(due) {
				due = free
			}
		case FaultDrop, FaultTimeout:
			copies = 0
		case FaultDuplicate:
			if copies > 0 {
				copies = 2
			}
		}
	}
	return due, copies
}

// ReplyError implements ResponseWriter. A datagram listener never
// answers a bad datagram (its sender may be forged), but a handler's
// error answers a well-formed one, as a reply would.
func (p *packetConn) ReplyError(msg string) error {
	p.cnt.errors.Add(1)
	p.cur.cnt.errors.Add(1)
	out := p.b.response.AppendErrorFrame(p.out[:0], errors.New(msg))
	if len(out) == 0 {
		return nil
	}
	p.out = out[:0]
	if len(out) > p.reqLen && !p.b.limits.AllowLargerDatagramReplies {
		return errReplyTooLarge
	}
	if p.b.faults != nil || !p.hold.IsZero() {
		return p.replyFaulted(out, nil)
	}
	p.countOut(p.b, p.cur, out, nil)
	return p.writeTo(out, p.peer, p.unixPeer, p.cur)
}

// Delay implements ResponseWriter: the datagram's later replies leave d
// from now, on a timer.
func (p *packetConn) Delay(d time.Duration) {
	if t := time.Now().Add(d); d > 0 && t.After(p.hold) {
		p.hold = t
	}
}

// CloseAfterReply implements ResponseWriter: a datagram has no
// connection to close.
func (p *packetConn) CloseAfterReply(bool) {}
