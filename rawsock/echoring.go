package rawsock

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/sockplane/sockplane/internal/sockio"
)

// echoConduit holds the bytes of a streamed echo (see echoBody) read
// from the socket and not yet written back to it. Neither move waits.
type echoConduit interface {
	capacity() int
	// fillFrom reads up to n bytes from sock: 0 when it has none now,
	// io.EOF when its peer closed.
	fillFrom(sock, n int) (int, error)
	// drainTo writes up to n of the bytes held to sock, oldest first: 0
	// when it takes none now.
	drainTo(sock, n int) (int, error)
	// grow makes room for up to more bytes beyond what the conduit
	// holds, and returns its capacity then: the same when it cannot.
	grow(more int) int
	// release gives the conduit back; empty says whether it holds nothing.
	release(empty bool)
}

// echoRingSize is the ring a streamed echo copies through, and the most
// one of its reads or writes moves once the ring has grown. Measured on
// 1 MiB frames against a read/write echo with a 32 KiB buffer (Intel Xeon
// VM, Linux 6.18): 16 KiB 0.87 x its MB/s, 32 KiB 0.95-1.0 x, 64 KiB
// 0.6 x, 128 KiB 0.75 x, 1 MiB 0.9-1.0 x at more CPU, 256 KiB moved in
// 32 KiB steps 0.91-0.99 x: reads and writes of more than 32 KiB cost
// more per byte on loopback, and a ring that fits the L1/L2 cache keeps
// the copies cheap.
const echoRingSize = 32 << 10

// echoRing is the default conduit: a ring buffer, from the buffer pool,
// that bytes enter by read(2) and leave by write(2) (raw system calls,
// see sockio: the socket is non-blocking), echoRingSize at
// most at a time. It grows (see grow) when the peer sends faster than it
// reads, which the pipe cannot.
type echoRing struct {
	buf  *buffer
	b    []byte
	r, n int // the bytes held start at b[r], n of them, wrapping at the end
}

// take gives g an empty ring from the buffer pool.
func (g *echoRing) take() {
	g.buf = getBuffer(echoRingSize)
	g.b, g.r, g.n = g.buf.b[:echoRingSize], 0, 0
}

func (g *echoRing) capacity() int { return len(g.b) }

func (g *echoRing) fillFrom(sock, n int) (int, error) {
	if g.n == 0 {
		g.r = 0 // one free span, the whole ring
	}
	start, end := g.r+g.n, len(g.b)
	if start >= len(g.b) {
		start, end = start-len(g.b), g.r
	}
	free := g.b[start:min(end, start+n, start+echoRingSize)]
	if len(free) == 0 {
		return 0, nil // full, or asked for nothing: a read of nothing would look like the peer's end
	}
	m, err := moveNow("read", true, func() (int, error) { return sockio.Read(sock, free) })
	g.n += m
	return m, err
}

func (g *echoRing) drainTo(sock, n int) (int, error) {
	held := g.b[g.r:min(g.r+g.n, len(g.b), g.r+n, g.r+echoRingSize)]
	m, err := moveNow("write", false, func() (int, error) { return sockio.Write(sock, held) })
	g.r, g.n = (g.r+m)%len(g.b), g.n-m
	return m, err
}

// grow moves what g holds, in order, to a ring twice as large, or as large
// as what it holds and more, whichever is smaller.
func (g *echoRing) grow(more int) int {
	size := min(2*len(g.b), g.n+more)
	if size <= len(g.b) {
		return len(g.b)
	}
	buf := getBuffer(size)
	b := buf.b[:size]
	k := copy(b, g.b[g.r:min(g.r+g.n, len(g.b))])
	copy(b[k:g.n], g.b) // the part that wrapped, if any
	putBuffer(g.buf)
	g.buf, g.b, g.r = buf, b, 0
	return size
}

func (g *echoRing) release(bool) {
	putBuffer(g.buf)
	g.buf, g.b = nil, nil
}

// moveNow makes call, a read, write or splice on non-blocking
// descriptors, again while a signal interrupts it: 0 and no error when it
// would wait (EAGAIN); io.EOF when it moved nothing and zeroIsEOF (its
// source is a socket whose peer closed); the error, named op, otherwise.
func moveNow(op string, zeroIsEOF bool, call func() (int, error)) (int, error) {
	for {
		m, err := call()
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("%s: %w", op, err)
		case m == 0 && zeroIsEOF:
			return 0, io.EOF
		}
		return m, nil
	}
}
