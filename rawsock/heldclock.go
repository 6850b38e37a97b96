package rawsock

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A heldClock wakes the held-reply writer when the next held reply falls
// due. The writer arms it and waits on it; schedule re-arms it, under the
// writer's lock, for a reply due before the one it is armed for.
type heldClock interface {
	// set has the clock fire once, d from now (at once for d <= 0),
	// replacing what it was armed for.
	set(d time.Duration)
	// wait blocks until the clock fires, or returns false once it is closed.
	wait() bool
	// close ends a wait and every one after it.
	close()
}

// newHeldClock returns a timerfd clock, or a Go timer where there is none.
func newHeldClock() heldClock {
	if c, err := newTimerfdClock(); err == nil {
		return c
	}
	return newGoClock()
}

// A timerfdClock is a timerfd in the runtime's poller. A Go timer fires
// when the runtime next looks at its timers, and a process with nothing
// else to do looks when its epoll_wait returns, whose timeout is in
// whole milliseconds: a 200 µs latency fault then took 1.2 ms, a 1 ms
// one up to 2 ms. A timerfd is a kernel high-resolution timer whose
// expiry makes the descriptor readable, which ends that epoll_wait
// when it falls due.
type timerfdClock struct {
	fd  int // set's: the writer's lock orders it before close
	f   *os.File
	rc  syscall.RawConn
	buf [8]byte // the expiry count wait reads
	// read is wait's function for rc.Read, made once: a closure made at
	// every wait would be an allocation per wake-up.
	read func(fd uintptr) bool
}

func newTimerfdClock() (*timerfdClock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	// A descriptor the runtime cannot poll takes no deadline: a wait on
	// it would block a thread.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	c := &timerfdClock{fd: fd, f: f, rc: rc}
	c.read = func(fd uintptr) bool {
		_, err := unix.Read(int(fd), c.buf[:])
		return !errors.Is(err, unix.EAGAIN)
	}
	return c, nil
}

func (c *timerfdClock) set(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))} // zero would disarm it
	_ = unix.TimerfdSettime(c.fd, 0, &spec, nil)
}

func (c *timerfdClock) wait() bool {
	return c.rc.Read(c.read) == nil
}

func (c *timerfdClock) close() { _ = c.f.Close() }

// A goClock is a Go timer: late by up to a millisecond on an idle
// process (see timerfdClock), for where timerfds are not to be had.
type goClock struct {
	t    *time.Timer
	stop chan struct{}
}

func newGoClock() *goClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &goClock{t: t, stop: make(chan struct{})}
}

func (c *goClock) set(d time.Duration) { c.t.Reset(d) }

func (c *goClock) wait() bool {
	select {
	case <-c.t.C:
		return true
	case <-c.stop:
		return false
	}
}

func (c *goClock) close() {
	c.t.Stop()
	close(c.stop)
}
