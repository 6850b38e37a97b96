package rawsock

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// cutThroughMin is the smallest body an echo connection streams through
// (see cutThrough) rather than storing it and writing it back: below it,
// copying through the read buffer costs less than the extra syscalls.
const cutThroughMin = 256 << 10

// cutThrough echoes the frame whose start is in the read buffer as it
// arrives, when the connection's behaviour allows it (streamEcho, a
// plaintext socket) and the body still to come is at least
// cutThroughMin: the reply's header and the body bytes already read leave
// in one writev, and the rest of the body is moved from the socket to
// itself (see echoBody) through a 32 KiB buffer of its own or, with
// Echo.Splice, a pipe, never through the read buffer, which stays small.
// What the peer receives is exactly what
// Echo would have replied. The write lock is held until the body has
// gone, as the reply is in flight all that time: an operator's frame
// (see send) waits for its end rather than landing inside it.
//
// It returns false when it did not take the frame, which is then read and
// served as any other; true when it did, with an error if the connection
// must end (the peer left mid-body: the reply is short, and only a close
// tells the peer so).
func (c *streamConn) cutThrough() (bool, error) {
	b := c.b.Load()
	if !b.streamEcho || c.tls != nil || c.rc == nil || c.conn != nil {
		return false, nil
	}
	have := c.rbuf.b[c.r:c.w]
	start, ok := b.request.BodyStart(have)
	if !ok || c.need-len(have) < cutThroughMin {
		return false, nil
	}
	size := c.need - start
	body := have[start:] // the body's first bytes
	c.cnt.framesIn.Add(1)
	c.armDeadline(time.Now()) // the frame's header timeout bounds the whole body, as when buffered

	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return true, c.werr
	}
	hdr, err := b.response.AppendHeader(c.scratch().hdr[:0], size)
	if err != nil {
		return true, err
	}
	if err := c.writeLocked(hdr, body); err != nil {
		return true, err
	}
	c.cnt.bytesOut.Add(uint64(len(hdr) + len(body)))
	if err := c.echoBody(size-len(body), b.spliceEcho); err != nil {
		// Either side may have failed, and the reply is cut short: end
		// the connection, which is what tells the peer.
		c.werr = err
		c.cnt.errors.Add(1)
		return true, err
	}
	c.cnt.framesOut.Add(1)
	c.bulk = true
	c.r, c.w = 0, 0
	c.need = b.request.MinFrame()
	c.frameStart = time.Time{}
	return true, nil
}

// echoWait bounds one wait of a streamed echo for its socket to take or
// give bytes (when it waits for both), so that a Close, which waits for
// the descriptor to be released, waits no longer.
const echoWait = 20 * time.Millisecond

// echoBody moves the next rest bytes the peer sends back to it through
// a conduit (a ring buffer, or a pipe when splice is set), reading and
// writing as each side allows. It never stops reading while the peer
// still sends: a peer that writes its whole frame before it reads a
// byte (the tutorial's client does) would otherwise wait for a reader
// that waits for it. So when the conduit is full and the socket takes
// nothing, the ring grows (up to what is left of the body); the pipe
// cannot, so the rest of the body is then read into memory, as a stored
// frame is, and written after the pipe has drained. It counts the bytes as
// they move. The caller holds wmu and has armed the frame's read
// deadline.
func (c *streamConn) echoBody(rest int, splice bool) error {
	st := &echoing{c: c, rest: rest}
	if splice {
		pp, err := takePipe()
		if err != nil {
			return err
		}
		st.cd = pp
	} else {
		st.ring.take()
		st.cd = &st.ring // in st, which is on the heap already: no allocation of its own
	}
	st.size = st.cd.capacity()
	defer func() { st.cd.release(st.held == 0) }()
	// One closure each for the whole body, not one per step.
	step, wait, stepOrWait := st.step, st.wait, st.stepOrWait
	var stored *buffer // the body's rest, when it had to be read into memory
	for st.rest > 0 || st.held > 0 {
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
		if st.rest > 0 && st.held == st.size {
			// The socket takes nothing while the peer sends: it reads
			// slowly, or not before it has sent it all. Hold more of the
			// body; or, when the conduit cannot grow, take the rest of it
			// into memory, and the loop then drains the conduit.
			if size := st.cd.grow(st.rest); size > st.size {
				st.size = size
				continue
			}
			var err error
			if stored, err = c.readRest(st.rest); err != nil {
				return err
			}
			defer putBuffer(stored)
			st.rest = 0
			continue
		}
		if st.held == 0 {
			// Only the peer's next bytes can move anything: wait for
			// them in the runtime's poller, which honours the read
			// deadline and a Close, and lets the thread go meanwhile.
			if err := c.rc.Read(stepOrWait); err != nil {
				return err
			}
			if st.err != nil {
				return st.err
			}
			continue
		}
		if !c.deadline.IsZero() && time.Now().After(c.deadline) {
			return os.ErrDeadlineExceeded
		}
		st.poll[0].Events = unix.POLLOUT
		if st.rest > 0 {
			st.poll[0].Events |= unix.POLLIN
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

// echoing is a streamed echo in progress: what is left to read, what the
// conduit holds, and the result of the last step.
type echoing struct {
	c     *streamConn
	cd    echoConduit
	ring  echoRing // cd, unless spliced
	size  int      // what cd holds at most
	rest  int      // body bytes not yet read from the socket
	held  int      // bytes read but not yet written back
	moved bool
	err   error
	poll  [1]unix.PollFd
}

// step is a RawConn.Control callback: it writes what the conduit holds
// and reads into it what the socket has, as far as each goes without
// waiting.
func (st *echoing) step(fd uintptr) {
	c := st.c
	if st.held > 0 {
		n, err := st.cd.drainTo(int(fd), st.held)
		if err != nil {
			st.err = err
			return
		}
		st.held -= n
		c.cnt.bytesOut.Add(uint64(n))
		st.moved = st.moved || n > 0
	}
	if st.rest > 0 && st.held < st.size {
		n, err := st.cd.fillFrom(int(fd), min(st.rest, st.size-st.held))
		if err == io.EOF {
			st.err = fmt.Errorf("the peer closed with %d bytes of the body unsent: %w", st.rest, io.ErrUnexpectedEOF)
			return
		}
		if err != nil {
			st.err = err
			return
		}
		st.rest -= n
		st.held += n
		c.cnt.bytesIn.Add(uint64(n))
		st.moved = st.moved || n > 0
	}
}

// stepOrWait is a RawConn.Read callback: a step, and false (wait until
// the socket is readable, then call again) when it moved nothing.
func (st *echoing) stepOrWait(fd uintptr) bool {
	st.step(fd)
	return st.moved || st.err != nil
}

// wait is a RawConn.Control callback: it waits, for at most echoWait, until
// the socket is ready for the events in st.poll.
func (st *echoing) wait(fd uintptr) {
	st.poll[0].Fd = int32(fd)
	if _, err := unix.Poll(st.poll[:], int(echoWait/time.Millisecond)); err != nil && err != unix.EINTR {
		st.err = fmt.Errorf("poll: %w", err)
	}
}
