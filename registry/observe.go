package registry

import (
	"fmt"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// Connections returns a listener's connections, or its recent datagram
// peers; none while it is stopped.
func (r *Registry) Connections(id string) ([]rawsock.ConnInfo, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	if ln := e.serving(); ln != nil {
		return ln.Connections(), nil
	}
	return nil, nil
}

// CloseConnection closes a connection, or forgets a datagram peer.
func (r *Registry) CloseConnection(id string, connID uint64) error {
	ln, err := r.servingListener(id, connID)
	if err != nil {
		return err
	}
	return ln.CloseConn(connID)
}

// SendFrame writes one frame to a connection or datagram peer; see
// rawsock.Listener.SendFrame.
func (r *Registry) SendFrame(id string, connID uint64, body []byte, extra ...wire.HeaderField) (int, error) {
	ln, err := r.servingListener(id, connID)
	if err != nil {
		return 0, err
	}
	return ln.SendFrame(connID, body, extra...)
}

// Frames returns a listener's captured frames, oldest first; connID 0
// means all connections'. A listener without capture has none.
func (r *Registry) Frames(id string, connID uint64) ([]rawsock.CapturedFrame, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	capture := e.capture
	e.mu.Unlock()
	return capture.Frames(connID), nil
}

// servingListener finds a listener that serves; a stopped one has no
// connections.
func (r *Registry) servingListener(id string, connID uint64) (*rawsock.Listener, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	ln := e.serving()
	if ln == nil {
		return nil, fmt.Errorf("%w: %d (listener %s is not running)", rawsock.ErrConnNotFound, connID, id)
	}
	return ln, nil
}
