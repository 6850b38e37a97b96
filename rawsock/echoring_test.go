package rawsock

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// ringPeer is a Unix socket pair for a ring to serve: the test writes
// to and reads from peer, the ring reads from and writes to sock.
type ringPeer struct {
	t          *testing.T
	peer, sock int
	src, got   []byte
	sent       int
}

func newRingPeer(t *testing.T, src []byte) *ringPeer {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	return &ringPeer{t: t, peer: fds[0], sock: fds[1], src: src}
}

// send writes up to n more bytes of src to the ring's socket.
func (p *ringPeer) send(n int) {
	m, err := unix.Write(p.peer, p.src[p.sent:min(len(p.src), p.sent+n)])
	if err != nil && err != unix.EAGAIN {
		p.t.Fatal(err)
	}
	p.sent += max(m, 0)
}

// receive reads what the ring wrote back.
func (p *ringPeer) receive() {
	buf := make([]byte, 64<<10)
	for {
		m, err := unix.Read(p.peer, buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			p.t.Fatal(err)
		}
		p.got = append(p.got, buf[:m]...)
	}
}

// fill and drain move exactly n bytes, or fail the test.
func (p *ringPeer) fill(g *echoRing, n int) {
	p.t.Helper()
	for n > 0 {
		m, err := g.fillFrom(p.sock, n)
		if err != nil || m == 0 {
			p.t.Fatalf("fillFrom: %d, %v with %d to go", m, err, n)
		}
		n -= m
	}
}

func (p *ringPeer) drain(g *echoRing, n int) {
	p.t.Helper()
	for n > 0 {
		m, err := g.drainTo(p.sock, n)
		if err != nil || m == 0 || m > echoRingSize {
			p.t.Fatalf("drainTo: %d, %v with %d to go", m, err, n)
		}
		n -= m
	}
}

// TestEchoRingKeepsOrder: bytes leave a ring once each, in the order they
// came, when what it holds wraps around its end, when it grows while it
// wraps, and through reads and writes of uneven sizes after; no read or
// write moves more than echoRingSize, and a full ring reads nothing.
func TestEchoRingKeepsOrder(t *testing.T) {
	src := randomBody(7, 300<<10)
	p := newRingPeer(t, src)
	var g echoRing
	g.take()
	defer g.release(true)

	p.send(len(src))
	p.fill(&g, echoRingSize) // full
	p.drain(&g, 10000)       // the first 10,000 gone
	p.fill(&g, 10000)        // full again, the last 10,000 wrapped to the start
	if g.r+g.n <= len(g.b) {
		t.Fatalf("r %d n %d in %d: not wrapped", g.r, g.n, len(g.b))
	}
	if size := g.grow(len(src)); size != 2*echoRingSize || g.n != echoRingSize {
		t.Fatalf("grow: %d bytes holding %d, want %d holding %d", size, g.n, 2*echoRingSize, echoRingSize)
	}
	if size := g.grow(echoRingSize); size != 2*echoRingSize {
		t.Fatalf("grow beyond what is held and more: %d", size)
	}
	// Steps are capped: emptied, the ring reads 32 KiB, not the 64 KiB
	// free; full, it writes 32 KiB, not the 64 KiB held.
	p.drain(&g, echoRingSize)
	for _, want := range []int{echoRingSize, echoRingSize, 0} {
		held := g.n
		if m, err := g.fillFrom(p.sock, 1<<20); m != want || err != nil {
			t.Fatalf("fillFrom with %d of %d held: %d, %v; want %d", held, len(g.b), m, err, want)
		}
	}
	if m, err := g.drainTo(p.sock, 1<<20); m != echoRingSize || err != nil {
		t.Fatalf("drainTo of %d bytes: %d, %v; want one step of %d", g.n, m, err, echoRingSize)
	}
	p.receive()
	for step := 0; len(p.got) < len(src); step++ {
		if step > 10000 {
			t.Fatalf("stuck: sent %d, got %d, the ring holds %d of %d", p.sent, len(p.got), g.n, len(g.b))
		}
		p.send(len(src))
		if free := len(g.b) - g.n; free > 0 {
			if _, err := g.fillFrom(p.sock, min(free, step*7919%20000+1)); err != nil {
				t.Fatal(err)
			}
		}
		if g.n > 0 {
			p.drain(&g, min(g.n, step*104729%15000+1))
		}
		p.receive()
	}
	if !bytes.Equal(p.got, src) {
		t.Fatal("the bytes came back changed or out of order")
	}
}
