package rawsock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// echoPipeSize is the pipe a spliced echo asks for: what it may hold of
// a body read but not yet written back. The kernel may give less.
const echoPipeSize = 1 << 20

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// echoPipe is the conduit of a spliced echo (see Echo.Splice): a pipe,
// with the size the kernel gave it, that bytes enter and leave by
// splice(2), never entering user space.
type echoPipe struct {
	fds  [2]int
	size int
}

// echoPipes keeps a few empty pipes, so that a connection echoing large
// frames back to back does not make (and size, and free) a pipe per frame.
var echoPipes = make(chan *echoPipe, 16)

func takePipe() (*echoPipe, error) {
	select {
	case p := <-echoPipes:
		return p, nil
	default:
	}
	p := &echoPipe{}
	if err := unix.Pipe2(p.fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	size, err := unix.FcntlInt(uintptr(p.fds[1]), unix.F_SETPIPE_SZ, echoPipeSize)
	if err != nil {
		if size, err = unix.FcntlInt(uintptr(p.fds[1]), unix.F_GETPIPE_SZ, 0); err != nil {
			p.close()
			return nil, fmt.Errorf("pipe size: %w", err)
		}
	}
	p.size = size
	return p, nil
}

func (p *echoPipe) capacity() int { return p.size }

// grow does not: the pipe already has the size the kernel allows.
func (p *echoPipe) grow(int) int { return p.size }

func (p *echoPipe) fillFrom(sock, n int) (int, error) { return spliceNow(sock, p.fds[1], n, true) }

func (p *echoPipe) drainTo(sock, n int) (int, error) { return spliceNow(p.fds[0], sock, n, false) }

// release keeps an empty pipe for the next echo (or closes it when enough
// are kept) and closes one that still holds bytes.
func (p *echoPipe) release(empty bool) {
	if !empty {
		p.close()
		return
	}
	select {
	case echoPipes <- p:
	default:
		p.close()
	}
}

func (p *echoPipe) close() { _ = unix.Close(p.fds[0]); _ = unix.Close(p.fds[1]) }

// spliceNow moves up to n bytes from in to out without waiting (see
// moveNow): 0 when neither is ready, io.EOF when fromSocket and in is a
// socket its peer closed.
func spliceNow(in, out, n int, fromSocket bool) (int, error) {
	return moveNow("splice", fromSocket, func() (int, error) {
		m, err := unix.Splice(in, nil, out, nil, n, spliceFlags)
		return int(m), err
	})
}
