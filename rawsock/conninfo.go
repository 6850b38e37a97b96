package rawsock

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// ErrConnNotFound means a listener has no connection or datagram peer
// with the given id.
var ErrConnNotFound = errors.New("connection not found")

// operatorSendTimeout bounds a SendFrame to a peer that does not read.
const operatorSendTimeout = 5 * time.Second

// ConnInfo is a connection of a stream listener, or a recent peer of a
// datagram listener, as it is now.
type ConnInfo struct {
	ID           uint64
	Peer         string
	Local        string
	OpenedAt     time.Time
	LastActivity time.Time
	FramesIn     uint64
	FramesOut    uint64
	BytesIn      uint64
	BytesOut     uint64
	// TLSPeerSubject is the subject of the client certificate of a
	// mutual-TLS connection.
	TLSPeerSubject string
}

// activity is what ConnInfo reports of a connection or peer.
type activity struct {
	id      uint64
	peer    string
	opened  time.Time
	lastIn  atomic.Int64 // unix nanoseconds of the last bytes in
	counter *counters
	tlsPeer atomic.Pointer[string] // a verified client certificate's subject
}

func (a *activity) touch(now time.Time) { a.lastIn.Store(now.UnixNano()) }

func (a *activity) info(local string) ConnInfo {
	return ConnInfo{
		ID:             a.id,
		Peer:           a.peer,
		Local:          local,
		OpenedAt:       a.opened,
		LastActivity:   time.Unix(0, a.lastIn.Load()),
		FramesIn:       a.counter.framesIn.Load(),
		FramesOut:      a.counter.framesOut.Load(),
		BytesIn:        a.counter.bytesIn.Load(),
		BytesOut:       a.counter.bytesOut.Load(),
		TLSPeerSubject: a.tlsPeerSubject(),
	}
}

func (a *activity) tlsPeerSubject() string {
	if p := a.tlsPeer.Load(); p != nil {
		return *p
	}
	return ""
}

// Connections returns the open connections (stream listeners) or the
// recent peers (datagram listeners), oldest first.
func (l *Listener) Connections() []ConnInfo {
	local := ""
	if a := l.Addr(); a != nil {
		local = a.String()
	}
	var infos []ConnInfo
	if p := l.packets(); p != nil {
		infos = p.peerInfos(local)
	} else {
		l.mu.Lock()
		for _, c := range l.conns {
			infos = append(infos, c.act.info(local))
		}
		l.mu.Unlock()
	}
	slices.SortFunc(infos, func(a, b ConnInfo) int { return cmp.Compare(a.ID, b.ID) })
	return infos
}

// CloseConn closes a stream connection (the peer sees EOF) or forgets a
// datagram peer.
func (l *Listener) CloseConn(id uint64) error {
	if p := l.packets(); p != nil {
		return p.forget(id)
	}
	l.mu.Lock()
	c, ok := l.conns[id]
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", ErrConnNotFound, id)
	}
	return c.closeSocket()
}

// SendFrame writes one frame in the response framing to a connection or
// datagram peer, whole, between the frames its handler writes. It returns
// the bytes written. A stream connection gets it in the response framing
// it was accepted with (see Update); a datagram peer in the current one.
func (l *Listener) SendFrame(id uint64, body []byte, extra ...wire.HeaderField) (int, error) {
	if p := l.packets(); p != nil {
		return p.sendTo(id, body, extra)
	}
	l.mu.Lock()
	c, ok := l.conns[id]
	l.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("%w: %d", ErrConnNotFound, id)
	}
	return c.send(body, extra)
}

// checkExtraFields refuses extra header fields for a response framing
// that has no header to carry them: dropping them quietly would let an
// operator believe they were sent.
func checkExtraFields(response wire.Codec, extra []wire.HeaderField) error {
	if len(extra) > 0 && response.Framing != wire.FramingJSONHeader {
		return fieldErrorf("header", "the listener's response framing is %s, which has no header to carry them", response.Framing)
	}
	return nil
}

// packets returns the datagram server, or nil for stream listeners and
// before Start.
func (l *Listener) packets() *packetConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pconn
}
