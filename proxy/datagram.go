package proxy

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// OpenPeer gives a new datagram peer a socket of its own, connected to
// the upstream, and starts relaying what the upstream sends on it back to
// the peer (rawsock.PacketOpener). The listener forgets the peer — and
// so closes its socket — when the peer table does (idle past its expiry,
// evicted, closed through the API) or when it stops.
func (h *Handler) OpenPeer(w rawsock.PeerWriter, _ *rawsock.Request) (rawsock.PeerHandler, error) {
	d := net.Dialer{Timeout: h.cfg.ConnectTimeout}
	up, err := d.Dial(h.cfg.Network, h.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", h.cfg.Address, err)
	}
	f := &flow{h: h, w: w, up: up, done: make(chan struct{}), rec: cursor{rec: h.cfg.Recording, id: w.ConnID()}}
	go f.relayUpstream()
	return f, nil
}

// flow is one datagram peer's upstream socket.
type flow struct {
	h    *Handler
	w    rawsock.PeerWriter
	up   net.Conn
	done chan struct{}  // closed when relayUpstream returns
	rec  cursor         // where its exchanges go in the recording, if any
	held rawsock.Timers // requests held by faults on requests (latency)
}

// ServeFrame sends the peer's datagram upstream, as it came: at once, or
// when faults on requests hold it (latency), from a timer.
func (f *flow) ServeFrame(w rawsock.ResponseWriter, r *rawsock.Request) {
	frame := f.h.cfg.Request.AppendRawHeader(make([]byte, 0, len(r.Header)+len(r.Body)+8), r.Header, len(r.Body))
	frame = append(frame, r.Body...)
	f.rec.request(r.Header, r.Body)
	if wait := time.Until(f.w.HeldUntil()); wait > 0 {
		f.held.After(wait, func() { f.send(nil, frame) })
		return
	}
	f.send(w, frame)
}

// send writes one datagram upstream; a failure is answered with an error
// when w, the reply path of the datagram being served, is given.
func (f *flow) send(w rawsock.ResponseWriter, frame []byte) {
	n, err := f.up.Write(frame)
	f.w.CountUpstream(1, uint64(n), 0, 0)
	if err != nil && w != nil && !errors.Is(err, net.ErrClosed) {
		_ = w.ReplyError(fmt.Sprintf("upstream %s: %v", f.h.cfg.Address, err))
	}
}

// relayUpstream sends the peer each datagram the upstream sends, until
// the socket is closed.
func (f *flow) relayUpstream() {
	defer close(f.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors (the upstream refused a datagram): not fatal on a datagram socket
		}
		f.w.CountUpstream(0, 0, 1, uint64(n))
		fr, err := f.h.cfg.Response.ParseDatagram(buf[:n])
		if err != nil {
			continue // not a frame: an upstream's bad datagram is not relayed
		}
		f.rec.reply(fr.Header, fr.Body)
		_ = f.w.ReplyFrame(fr.Header, fr.Body)
	}
}

// ClosePeer implements rawsock.PeerHandler.
func (f *flow) ClosePeer() {
	f.held.Stop()
	_ = f.up.Close()
	<-f.done
}
