package proxy

import (
	"io"
	"syscall"

	"github.com/sockplane/sockplane/internal/sockio"
	"github.com/sockplane/sockplane/wire"
)

// replies reads what the upstream sends and relays it to the client
// frame by frame: in the listener's response framing, or, with
// FramingRaw, what each read returned. Frames are cut from one buffer
// that grows only as bytes arrive, so a relayed frame costs no
// allocation and a header that declares a huge frame costs nothing
// until its bytes come.
type replies struct {
	c     *conn
	codec wire.Codec
	buf   []byte
	r, w  int // bytes buf[r:w] are not yet relayed
	need  int // bytes buf[r:] must hold for the next frame to be whole
	err   error
	ready func(uintptr) bool // readReady, made once
}

// maxKeptBuffer is the largest buffer replies keeps between frames: one
// grown for frames of up to 256 KiB serves the next ones as it is.
const maxKeptBuffer = 256 << 10

func newReplies(c *conn) *replies {
	p := &replies{c: c, codec: c.h.cfg.Response, buf: make([]byte, rawReadSize)}
	p.ready = p.readReady
	return p
}

// room returns where the next read goes: after the partial frame held,
// moved to the front, in a buffer doubled (up to the frame's size) when
// the frame outgrows it.
func (p *replies) room() []byte {
	if p.r == p.w {
		p.r, p.w = 0, 0
	}
	if p.r > 0 && p.need > len(p.buf)-p.r {
		p.w = copy(p.buf, p.buf[p.r:p.w])
		p.r = 0
	}
	if p.w == len(p.buf) {
		grown := make([]byte, max(min(p.need, 2*len(p.buf)), p.w+1))
		copy(grown, p.buf[:p.w])
		p.buf = grown
	}
	return p.buf[p.w:]
}

// got relays every whole frame of the n bytes a read added, then writes
// what they left in one write to the client.
func (p *replies) got(n int) error {
	p.w += n
	for p.r < p.w {
		f, size, need, err := p.codec.Parse(p.buf[p.r:p.w])
		if err != nil {
			return err
		}
		if size == 0 {
			p.need = need
			break
		}
		p.r += size
		p.c.w.CountUpstream(0, 0, 1, uint64(len(f.Header)+len(f.Body)))
		p.c.rec.reply(f.Header, f.Body)
		if p.c.w.ReplyFrame(f.Header, f.Body) != nil {
			return errClient
		}
	}
	if p.c.w.Flush() != nil {
		return errClient
	}
	if p.r == p.w && len(p.buf) > maxKeptBuffer {
		p.buf = make([]byte, rawReadSize) // a very large frame's buffer goes with it
	}
	return nil
}

// take relays b as if read from the upstream.
func (p *replies) take(b []byte) error {
	for len(b) > 0 {
		n := copy(p.room(), b)
		b = b[n:]
		if err := p.got(n); err != nil {
			return err
		}
	}
	return nil
}

// eof is the error for the upstream's end of file: clean between frames.
func (p *replies) eof() error {
	if p.r != p.w {
		return io.ErrUnexpectedEOF
	}
	return io.EOF
}

// relaySocket relays from a plaintext upstream socket inside one
// RawConn.Read, with raw reads (see package sockio). A read that returned
// less than it asked for is followed by another all the same, which
// says EAGAIN: the end of file may have come with the last bytes, and an
// edge-triggered poller would not report it again.
func (p *replies) relaySocket(rc syscall.RawConn) error {
	if err := rc.Read(p.ready); p.err == nil {
		return err
	}
	return p.err
}

// readReady is relaySocket's RawConn.Read callback: false to wait for
// the upstream's next bytes, true when the relay ends (p.err says why).
func (p *replies) readReady(fd uintptr) bool {
	for {
		n, err := sockio.Read(int(fd), p.room())
		switch {
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			p.err = err
			return true
		case n == 0:
			p.err = p.eof()
			return true
		}
		if p.err = p.got(n); p.err != nil {
			return true
		}
	}
}

// relayConn relays from an upstream with no socket of its own to wait on
// (TLS), with its blocking reads.
func (p *replies) relayConn(up io.Reader) error {
	for {
		n, err := up.Read(p.room())
		if n > 0 {
			if gerr := p.got(n); gerr != nil {
				return gerr
			}
		}
		if err == io.EOF {
			return p.eof()
		}
		if err != nil {
			return err
		}
	}
}
