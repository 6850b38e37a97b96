package rawsock

import (
	"bufio"
	"bytes"
	"net"
	"syscall"
	"testing"
	"time"
)

// The listener's held-reply writer never waits on one peer: a peer that
// does not read its delayed replies, more than its socket takes, leaves
// them to a goroutine of its own, and another connection's delayed
// replies still come on time; the first peer then gets every byte when
// it reads.
func TestHeldRepliesOfAPeerThatDoesNotReadHoldUpNoOther(t *testing.T) {
	const delay = 200 * time.Millisecond // more than reading two frames takes, even under -race
	ln := startListener(t, Config{Faults: []Fault{{Kind: FaultLatency, Delay: delay}}})
	// A small receive buffer, set before connecting, and replies of three
	// times the largest send buffer (tcp_wmem's 4 MiB): the socket cannot
	// take them.
	d := net.Dialer{Timeout: testTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
	}}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	stuck := &client{tb: t, conn: conn, br: bufio.NewReader(conn), codec: ln.current().response}
	const frames, size = 3, 4<<20 - 1<<10
	body := bytes.Repeat([]byte("s"), size)
	frame, err := stuck.codec.AppendFrame(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	// Sent from a goroutine: the server may stop reading until the peer
	// reads (its reader waits for the write lock the blocked writer holds).
	sent := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < frames && err == nil; i++ {
			_, err = conn.Write(frame)
		}
		sent <- err
	}()
	// Two held: the second cannot leave whole, and falls due before any
	// reply of the other connection. (The third may wait to be held:
	// the goroutine writing the second holds the write lock.)
	waitFor(t, "the stuck peer's replies to be held", func() bool {
		return ln.Stats().Snapshot().FramesOut >= 2
	})
	other := dial(t, ln)
	for i := range 3 {
		var got string
		took := elapsed(func() { got = other.roundTrip("on time") })
		if got != "on time" {
			t.Fatalf("round trip %d: got %q", i, got)
		}
		if took > delay+time.Second {
			t.Fatalf("round trip %d took %v with a %v latency fault: held up by the peer that does not read", i, took, delay)
		}
	}
	for i := range frames {
		if f := stuck.recv(); !bytes.Equal(f.Body, body) {
			t.Fatalf("the stuck peer's reply %d: %d bytes; want its %d back", i, len(f.Body), size)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("the stuck peer's sends: %v", err)
	}
}
