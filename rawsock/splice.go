package rawsock

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// echoPipeSize is the pipe a spliced echo asks for: what it may hold of
// a body read but not yet written back. The kernel may give less.
const echoPipeSize = 1 << 20

// spliceWait bounds one wait of a spliced echo for its socket, so that a
// Close, which waits for the descriptor to be released, waits no longer.
const spliceWait = 20 * time.Millisecond

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// spliceEcho moves the next rest bytes the peer sends back to it, socket
// to pipe to socket, never through user space, reading and writing as
// each side allows. It never stops reading while the peer still sends: a
// peer that writes its whole frame before it reads a byte (the
// tutorial's client does) would otherwise wait for a reader that waits
// for it. So when the pipe is full and the socket takes nothing, the rest
// of the body is read into memory, as a stored frame is, and written
// after the pipe has drained. It counts the bytes as they move. The caller holds wmu
// and has armed the frame's read deadline.
func (c *streamConn) spliceEcho(rest int) error {
	pp, err := takePipe()
	if err != nil {
		return err
	}
	st := &splicing{c: c, pipe: pp, rest: rest}
	defer func() {
		if st.inPipe == 0 {
			givePipe(pp) // empty: the next frame may use it
		} else {
			pp.close()
		}
	}()
	// One closure each for the whole body, not one per step.
	step, wait := st.step, st.wait
	var stored *buffer // the body's rest, when it had to be read into memory
	for st.rest > 0 || st.inPipe > 0 {
		st.moved, st.err = false, nil
		if err := c.rc.Control(step); err != nil {
			return err
		}
		if st.err != nil {
			return st.err
		}
		if st.moved {
			continue
		}
		if st.rest > 0 && st.inPipe == pp.size {
			// The peer reads nothing while it sends: take the rest of
			// its body into memory; the loop then drains the pipe.
			if stored, err = c.readRest(st.rest); err != nil {
				return err
			}
			defer putBuffer(stored)
			st.rest = 0
			continue
		}
		if !c.deadline.IsZero() && time.Now().After(c.deadline) {
			return os.ErrDeadlineExceeded
		}
		st.poll[0].Events = 0
		if st.rest > 0 {
			st.poll[0].Events |= unix.POLLIN
		}
		if st.inPipe > 0 {
			st.poll[0].Events |= unix.POLLOUT
		}
		if err := c.rc.Control(wait); err != nil {
			return err
		}
		if st.err != nil {
			return st.err
		}
	}
	c.act.touch(time.Now())
	if stored != nil {
		w, err := c.nc.Write(stored.b)
		c.cnt.bytesOut.Add(uint64(w))
		return err
	}
	return nil
}

// readRest reads the last n bytes of a body into a buffer of their own.
func (c *streamConn) readRest(n int) (*buffer, error) {
	buf := getBuffer(n)
	buf.b = buf.b[:n]
	got, err := io.ReadFull(c.nc, buf.b)
	c.cnt.bytesIn.Add(uint64(got))
	if err != nil {
		putBuffer(buf)
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return buf, nil
}

// splicing is a spliced echo in progress: what is left to read, what
// the pipe holds, and the result of the last step.
type splicing struct {
	c      *streamConn
	pipe   *echoPipe
	rest   int // body bytes not yet read from the socket
	inPipe int // bytes read but not yet written back
	moved  bool
	err    error
	poll   [1]unix.PollFd
}

// step is a RawConn.Control callback: it writes what the pipe holds and
// reads into it what the socket has, as far as each goes without waiting.
func (st *splicing) step(fd uintptr) {
	c, pipe := st.c, st.pipe
	if st.inPipe > 0 {
		n, err := spliceOnce(pipe.fds[0], int(fd), st.inPipe)
		if err != nil {
			st.err = err
			return
		}
		st.inPipe -= n
		c.cnt.bytesOut.Add(uint64(n))
		st.moved = st.moved || n > 0
	}
	if st.rest > 0 && st.inPipe < pipe.size {
		n, err := spliceOnce(int(fd), pipe.fds[1], min(st.rest, pipe.size-st.inPipe))
		if err == io.EOF {
			st.err = fmt.Errorf("the peer closed with %d bytes of the body unsent: %w", st.rest, io.ErrUnexpectedEOF)
			return
		}
		if err != nil {
			st.err = err
			return
		}
		st.rest -= n
		st.inPipe += n
		c.cnt.bytesIn.Add(uint64(n))
		st.moved = st.moved || n > 0
	}
}

// wait is a RawConn.Control callback: it waits, for at most spliceWait
// (a Close waits for the descriptor meanwhile), until the socket is ready
// for the events in st.poll.
func (st *splicing) wait(fd uintptr) {
	st.poll[0].Fd = int32(fd)
	if _, err := unix.Poll(st.poll[:], int(spliceWait/time.Millisecond)); err != nil && err != unix.EINTR {
		st.err = fmt.Errorf("poll: %w", err)
	}
}

// echoPipe is a pipe of a spliced echo, with the size the kernel gave it.
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

// givePipe keeps p, which must be empty, for the next echo, or closes it.
func givePipe(p *echoPipe) {
	select {
	case echoPipes <- p:
	default:
		p.close()
	}
}

func (p *echoPipe) close() { _ = unix.Close(p.fds[0]); _ = unix.Close(p.fds[1]) }

// spliceOnce moves up to n bytes from in to out without waiting: 0 when
// neither is ready, io.EOF when in is a socket its peer closed.
func spliceOnce(in, out, n int) (int, error) {
	for {
		m, err := unix.Splice(in, nil, out, nil, n, spliceFlags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("splice: %w", err)
		case m == 0:
			return 0, io.EOF
		}
		return int(m), nil
	}
}
