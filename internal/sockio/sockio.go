// Package sockio reads and writes non-blocking sockets with raw system
// calls, for the paths where a frame's cost is counted in system calls.
//
// A read or write of a non-blocking socket never waits, so the runtime
// need not be told it is in a system call, as syscall.Syscall (and so
// net.Conn) does for each one: that bookkeeping costs about as much as a
// small read, and a P left in a system call is what the runtime's
// monitor thread wakes to take back. Waiting for readiness stays the
// runtime's: Writer waits in its network poller through a RawConn, so
// deadlines set on the connection still bound it.
package sockio

import (
	"syscall"
	"unsafe"
)

// Read reads once from the non-blocking socket fd.
func Read(fd int, b []byte) (int, error) { return once(syscall.SYS_READ, fd, b) }

// Write writes b once to the non-blocking socket fd.
func Write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return once(syscall.SYS_WRITE, fd, b)
}

// once is read(2) or write(2) (trap) of b on fd, retried on EINTR.
func once(trap uintptr, fd int, b []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// Writev writes bufs once to the non-blocking socket fd, in one system
// call: the first len(iov) non-empty ones, which iov is scratch for.
func Writev(fd int, iov []syscall.Iovec, bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		if n == len(iov) {
			break
		}
		if len(b) == 0 {
			continue
		}
		iov[n].Base = unsafe.SliceData(b)
		iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	defer clear(iov[:n]) // do not pin the buffers
	for {
		var w uintptr
		var e syscall.Errno
		if n == 1 { // write(2) is a little cheaper than writev(2) of one buffer
			w, _, e = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len))
		} else {
			w, _, e = syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		}
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(w), nil
	}
}

// maxIov is how many buffers one writev of a Writer takes.
const maxIov = 4

// Writer writes whole byte slices to one socket, blocking like
// net.Conn's Write (waiting in the runtime's poller while the socket is
// full) but with raw system calls. Make one with NewWriter (or Reset a zero
// one) and keep it: a Write allocates nothing. It is not safe for concurrent use.
type Writer struct {
	rc    syscall.RawConn
	ready func(uintptr) bool // w.write, made once
	now   func(uintptr)      // w.writeNow, made once
	iov   [maxIov]syscall.Iovec
	arr   [maxIov][]byte // bufs' backing array: a Write's own arguments do not escape
	bufs  [][]byte
	n     int64
	err   error
}

// NewWriter returns a Writer to the socket of rc.
func NewWriter(rc syscall.RawConn) *Writer {
	w := new(Writer)
	w.Reset(rc)
	return w
}

// Reset points w at the socket of rc. A zero Writer is ready for use
// once Reset.
func (w *Writer) Reset(rc syscall.RawConn) {
	w.rc = rc
	if w.ready == nil {
		w.ready, w.now = w.write, w.writeNow
	}
}

// Write writes every byte of bufs, in as few writev calls as the socket
// takes them in, and returns how many it wrote. An error is the write's
// (EPIPE, ECONNRESET), or the RawConn's (closed, deadline exceeded).
func (w *Writer) Write(bufs ...[]byte) (int64, error) { return w.run(bufs, true) }

// WriteNow writes what the socket takes of bufs now, without waiting,
// and returns how many bytes that was: fewer than given when the socket
// is full (which is no error). The error is a failed write's, or the
// RawConn's (closed).
func (w *Writer) WriteNow(bufs ...[]byte) (int64, error) { return w.run(bufs, false) }

// run is Write, or with wait false WriteNow: bufs go maxIov at a time.
func (w *Writer) run(bufs [][]byte, wait bool) (int64, error) {
	var total int64
	for len(bufs) > 0 {
		k := copy(w.arr[:], bufs)
		bufs = bufs[k:]
		w.bufs, w.n, w.err = w.arr[:k], 0, nil
		var err error
		if wait {
			err = w.rc.Write(w.ready)
		} else {
			err = w.rc.Control(w.now)
		}
		total += w.n
		werr, left := w.err, len(w.bufs)
		clear(w.arr[:]) // do not pin the caller's buffers
		w.bufs, w.err = nil, nil
		if werr != nil {
			return total, werr
		}
		if err != nil || left > 0 { // left: the socket is full (WriteNow)
			return total, err
		}
	}
	return total, nil
}

// write is the RawConn.Write callback: false to wait until the socket
// takes more.
func (w *Writer) write(fd uintptr) bool { return !w.fill(int(fd)) }

// writeNow is WriteNow's RawConn.Control callback.
func (w *Writer) writeNow(fd uintptr) { w.fill(int(fd)) }

// fill writes w.bufs until they are written, the socket is full
// (it returns true) or a write fails (w.err).
func (w *Writer) fill(fd int) (full bool) {
	for len(w.bufs) > 0 {
		n, err := Writev(fd, w.iov[:], w.bufs)
		if err == syscall.EAGAIN {
			return true
		}
		if err != nil {
			w.err = err
			return false
		}
		w.n += int64(n)
		w.bufs = consume(w.bufs, n)
	}
	return false
}

// consume drops the first n bytes of bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}
