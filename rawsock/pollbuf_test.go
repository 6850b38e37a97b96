package rawsock

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
)

// TestPollerBuffersAreNotShared: the poller lends every connection it
// serves the same buffers, so what one connection leaves in them - half
// a frame, replies its peer does not read - must move to buffers of its
// own. Many connections each send a frame in two halves, interleaved
// with the others' whole frames; one peer reads nothing until the end.
// Every reply must be its own connection's, whole and in order.
func TestPollerBuffersAreNotShared(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	const n = 40
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, ln)
		clients[i].roundTrip("first") // on the poller from now on
	}
	waitFor(t, "the connections to wait on the poller", func() bool { return ln.parked.Load() >= n })

	// A peer that does not read: its 6 MB of replies fill the sockets'
	// buffers, then its own, while the poller serves the others.
	const backlog = 30000
	slow := clients[0]
	if err := slow.conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	var burst []byte
	for i := range backlog {
		burst, _ = slow.codec.AppendFrame(burst, fmt.Appendf(nil, "slow-%0200d", i))
	}
	errc := make(chan error, 1)
	go func() { _, err := slow.conn.Write(burst); errc <- err }()

	frames := make([][]byte, n)
	for i := 1; i < n; i++ {
		frames[i], _ = clients[i].codec.AppendFrame(nil, bytes.Repeat(fmt.Appendf(nil, "c%d-", i), 50))
		clients[i].write(frames[i][:len(frames[i])/2])
	}
	for round := range 3 {
		for i := 1; i < n; i++ {
			if round == 0 {
				clients[i].write(frames[i][len(frames[i])/2:]) // the second half
			} else {
				clients[i].write(frames[i])
			}
		}
		for i := 1; i < n; i++ {
			want := bytes.ToUpper(bytes.Repeat(fmt.Appendf(nil, "c%d-", i), 50))
			if got := clients[i].recv().Body; !bytes.Equal(got, want) {
				t.Fatalf("round %d, connection %d got %q", round, i, got)
			}
		}
	}
	for i := range backlog {
		if got, want := string(slow.recv().Body), fmt.Sprintf("SLOW-%0200d", i); got != want {
			t.Fatalf("the slow peer's reply %d = %q, want %q", i, got, want)
		}
	}
	if err := <-errc; err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if s := ln.Stats().Snapshot(); s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
}
