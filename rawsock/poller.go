package rawsock

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A poller waits for many idle plaintext stream connections at once, so
// that a waiting connection costs no goroutine: its socket is in the
// poller's epoll set, level-triggered, keyed by connection id. When one
// becomes readable, the poller either serves it itself, when its
// behaviour is inline (a NonBlocking handler, no faults, no
// ConnOpener): one read, every whole frame of it served and the replies
// written in one non-blocking write, as a hand-written epoll server
// does; or it hands the connection back to a goroutine of its own
// (serveFresh), which serves it the usual way and returns it when it is
// idle again.
//
// The poller never waits on anything but its epoll set: a connection
// whose write lock another goroutine holds (an operator's send, a timer
// writing held replies), whose reply the socket does not take whole, or
// whose serving must wait (CloseAfterReply, a closing connection) goes to
// a goroutine. Its own wake-ups come from the runtime's network poller,
// in which the epoll descriptor is registered like a socket: a poller
// with nothing to do parks its goroutine like any reader, and a
// read deadline on it wakes it to close connections whose idle or header
// timeout passed.
//
// A Listener has GOMAXPROCS pollers (at most maxPollers), made when its
// first connection parks, and stops them once its connections are gone.
type poller struct {
	l    *Listener
	epfd int
	file *os.File // epfd, registered in the runtime's poller
	rc   syscall.RawConn
	done chan struct{} // closed when run returns

	mu    sync.Mutex
	conns map[uint64]*streamConn // in the epoll set, by id

	// The run goroutine's.
	events    []unix.EpollEvent
	iov       [3]syscall.Iovec // writeNow's, which only the poller calls
	nextSweep time.Time
	expired   []*streamConn
	now       time.Time     // when the last epoll_wait returned
	unread    bool          // a read of this batch filled its buffer: the socket may hold more
	bufs      pollerBuffers // lent to the connection served (see pollbuf.go)
	relayBuf  []byte        // what a relay step reads and writes (see relay.go); made on first use
}

// maxPollers bounds a listener's pollers: more than a few cores' worth
// would only spread its connections thinner.
const maxPollers = 8

// pollerEvents is how many ready connections one epoll_wait returns.
const pollerEvents = 256

// newPoller makes a poller and starts its goroutine, which l stops with
// stop once its connections are gone.
func newPoller(l *Listener) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	// A file the runtime cannot poll takes no deadline: then the poller
	// could neither park nor sweep, and is not used.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("epoll descriptor is not pollable: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &poller{
		l: l, epfd: epfd, file: f, rc: rc,
		done:   make(chan struct{}),
		conns:  make(map[uint64]*streamConn),
		events: make([]unix.EpollEvent, pollerEvents),
		bufs:   newPollerBuffers(),
	}
	go p.run()
	return p, nil
}

// stop ends the poller's goroutine and waits for it. Its set must be
// empty: the listener stops its pollers after its last connection.
func (p *poller) stop() {
	_ = p.file.Close()
	<-p.done
}

// pollers returns the listener's pollers, making them on first use, or
// nil when the listener is closing or they could not be made.
func (l *Listener) pollers() []*poller {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing || l.noPollers.Load() {
		return nil
	}
	if l.loops == nil {
		n := min(runtime.GOMAXPROCS(0), maxPollers)
		for range n {
			p, err := newPoller(l)
			if err != nil {
				// Connections then wait on goroutines, as they did
				// before pollers: slower, not wrong.
				l.logger().Warn("no poller: idle connections keep a goroutine each", "error", err)
				l.noPollers.Store(true)
				for _, p := range l.loops {
					p.stop()
				}
				l.loops = nil
				return nil
			}
			l.loops = append(l.loops, p)
		}
	}
	return l.loops
}

// stopPollers ends the pollers once no connection is left to wait on them.
func (l *Listener) stopPollers() {
	l.mu.Lock()
	loops := l.loops
	l.loops = nil
	l.noPollers.Store(true) // closing: no connection will park again
	l.mu.Unlock()
	for _, p := range loops {
		p.stop()
	}
}

// waitsOnPoller reports whether a plaintext connection that found no
// bytes between frames should wait on the poller rather than on its
// goroutine: when the poller can serve its frames, or when the goroutine
// has not served anything yet (it is new, or was just handed back): an
// idle connection then costs no goroutine. A connection that has served
// on its goroutine parks after parkAfter instead (see serve), so a busy
// one does not move to the poller and back for every frame; so does one
// that sends large bodies (bulk), which the poller would hand back for
// each.
func (c *streamConn) waitsOnPoller() bool {
	return c.rc != nil && !c.l.noPollers.Load() && (c.fresh || c.b.Load().inline && !c.bulk)
}

// park puts the idle connection in its poller's set. It reports false
// when the connection cannot wait there (the listener is closing, or the
// connection was closed); the caller then finishes it. On true the
// poller owns the connection: the caller must not touch it again.
func (c *streamConn) park() bool {
	p := c.p.Load()
	if p == nil {
		loops := c.l.pollers()
		if loops == nil {
			return false
		}
		p = loops[c.act.id%uint64(len(loops))]
		c.p.Store(p)
	}
	c.l.parked.Add(1)
	return p.add(c)
}

// add puts c in the epoll set.
func (p *poller) add(c *streamConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	fd, ok := p.watchOpen(c, c.rc, c.act.id)
	if !ok {
		return false // closed meanwhile
	}
	c.fd = fd
	p.conns[c.act.id] = c
	c.inPoller = true
	return true
}

// watch adds the socket of rc to the epoll set under key, and returns its
// descriptor; false when the socket was closed. The caller holds p.mu.
func (p *poller) watch(rc syscall.RawConn, key uint64) (int, bool) {
	var err error
	sock := -1
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(uint32(key)), Pad: int32(uint32(key >> 32))}
	cerr := rc.Control(func(fd uintptr) {
		sock = int(fd)
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, sock, &ev)
	})
	return sock, cerr == nil && err == nil
}

// watchOpen is watch for c's own socket, which closeSocket may be
// closing meanwhile. closeSocket sets c.closing, then, under p.mu, shuts
// the socket's reading side down if c is in the set, or else closes it:
// a socket added after it looked would be closed while in the set, and
// the poller would go on using its number. So once the socket is in,
// watchOpen (under p.mu too) takes it out again if c.closing is set.
func (p *poller) watchOpen(c *streamConn, rc syscall.RawConn, key uint64) (int, bool) {
	fd, ok := p.watch(rc, key)
	if ok && c.closing.Load() {
		p.unwatch(rc)
		return -1, false
	}
	return fd, ok
}

// unwatch takes the socket of rc out of the epoll set. The caller holds
// p.mu.
func (p *poller) unwatch(rc syscall.RawConn) {
	_ = rc.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

// remove takes c out of the epoll set, with the other socket of a relay:
// it goes to a goroutine, or ends.
func (p *poller) remove(c *streamConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.inPoller {
		return
	}
	delete(p.conns, c.act.id)
	c.inPoller = false
	p.unwatch(c.rc)
	if c.relay != nil && c.relay.watched {
		c.relay.watched = false
		p.unwatch(c.relay.rc)
	}
}

// closeSocket ends a connection from outside its reader (Shutdown, Close,
// CloseConn, a fault's timer): a connection on a goroutine is closed, and
// its read then fails; one in a poller's set has its reading side shut
// down instead, so that its socket stays open and reports end of file to
// the poller, which finishes it the usual way (closed, it would leave the
// set without a word).
func (c *streamConn) closeSocket() error {
	c.closing.Store(true) // before shutInPoller looks: see watchOpen
	if shut, err := c.shutInPoller(); shut {
		return err
	}
	return c.nc.Close()
}

// resetSocket is closeSocket with an RST for the peer, for a reset fault.
func (c *streamConn) resetSocket() {
	c.resetOnClose.Store(true)
	c.closing.Store(true)
	if shut, _ := c.shutInPoller(); !shut {
		resetConn(c.nc)
	}
}

// shutInPoller shuts down the reading side of c if it is in its
// poller's set, and reports whether it was.
func (c *streamConn) shutInPoller() (bool, error) {
	p := c.p.Load()
	if p == nil {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.inPoller {
		return false, nil
	}
	var err error
	c.shutRead.Store(true) // before the poller can see the end of file it makes
	if cerr := c.rc.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_RD) }); cerr != nil {
		return true, cerr
	}
	if errors.Is(err, unix.ENOTCONN) {
		err = nil // the peer had gone: the poller sees it all the same
	}
	return true, err
}

// run is the poller's goroutine: it waits for its epoll set through the
// runtime's poller and serves what is ready, until stop.
func (p *poller) run() {
	defer close(p.done)
	for {
		p.armSweep(time.Now())
		err := p.rc.Read(p.ready)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.sweep(time.Now())
			continue
		}
		if err != nil {
			return // stop closed the file
		}
	}
}

// ready is run's RawConn.Read callback: it serves every ready connection
// until none is left, then returns false to wait for the next.
func (p *poller) ready(fd uintptr) bool {
	for {
		// A raw call: with a zero timeout, epoll_wait never waits.
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			p.l.logger().Error("epoll_wait failed", "error", e)
			return true
		}
		n := int(r)
		if n == 0 {
			return false
		}
		p.now = time.Now()
		p.unread = false
		for i := range p.events[:n] {
			ev := &p.events[i]
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			c := p.conns[key&^relayKey]
			p.mu.Unlock()
			switch {
			case c == nil: // it left the set after this epoll_wait
			case c.relay != nil:
				p.relayReady(c, key&relayKey != 0)
			case key&relayKey == 0: // else a relay's socket, reported before the relay ended
				p.serveReady(c)
			}
		}
		if now := time.Now(); now.After(p.nextSweep) {
			p.sweep(now)
			p.armSweep(now)
		}
		// Asking epoll again would find none ready when this batch was
		// not full and every read found the socket drained: park. Bytes
		// that arrive from now on wake the epoll descriptor in the
		// runtime's poller (the kernel wakes an epoll file's watchers on
		// every event of its set, ready before or not); a socket left
		// unread may not, so then ask.
		if n < len(p.events) && !p.unread {
			return false
		}
	}
}

// handOff gives c to a goroutine of its own, which serves it the usual way.
func (p *poller) handOff(c *streamConn) {
	p.remove(c)
	go c.serveFresh()
}

// end finishes c, which the poller had, on a goroutine: finishing takes
// c's write lock, which the poller must not wait for.
func (p *poller) end(c *streamConn) {
	p.remove(c)
	go c.finish()
}
