package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client.(*net.TCPConn), server.(*net.TCPConn)
}

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// A Writer given more than the socket holds waits for the peer to read,
// and every byte arrives in order, whatever the number of buffers.
func TestWriterWritesAllWhileThePeerReadsSlowly(t *testing.T) {
	client, server := tcpPair(t)
	_ = client.SetWriteBuffer(16 << 10) // so that the socket fills and the Writer waits
	bufs := make([][]byte, 7)           // more than one writev takes
	var want []byte
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{byte('a' + i)}, (i+1)*64<<10)
		want = append(want, bufs[i]...)
	}
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		chunk := make([]byte, 8<<10)
		for {
			n, err := server.Read(chunk)
			all = append(all, chunk[:n]...)
			if err != nil {
				got <- all
				return
			}
		}
	}()
	w := NewWriter(rawConn(t, client))
	n, err := w.Write(bufs...)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	_ = client.CloseWrite()
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("peer got %d bytes, not the %d written in order", len(all), len(want))
	}
}

// A write deadline set on the connection bounds a Writer waiting for a
// peer that does not read.
func TestWriterHonoursTheWriteDeadline(t *testing.T) {
	client, _ := tcpPair(t)
	_ = client.SetWriteBuffer(4 << 10)
	// Long enough that the first write comes before it on a loaded
	// machine (CI saw a 50 ms one pass before Write began).
	_ = client.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	w := NewWriter(rawConn(t, client))
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that does not read = %d, %v; want a deadline error", n, err)
	}
	if n == 0 || n >= 64<<20 {
		t.Fatalf("wrote %d bytes before the deadline; want some, not all", n)
	}
}

// A write to a peer that reset the connection reports the socket's error.
func TestWriterReportsTheSocketsError(t *testing.T) {
	client, server := tcpPair(t)
	_ = server.SetLinger(0)
	_ = server.Close()
	w := NewWriter(rawConn(t, client))
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		_, err = w.Write([]byte("after the reset"))
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after the peer's RST = %v; want ECONNRESET or EPIPE", err)
	}
}

// Read reports EAGAIN on an empty socket and end of file as 0 bytes.
func TestReadOnANonBlockingSocket(t *testing.T) {
	client, server := tcpPair(t)
	rc := rawConn(t, server)
	buf := make([]byte, 16)
	var n int
	var err error
	read := func() {
		if cerr := rc.Control(func(fd uintptr) { n, err = Read(int(fd), buf) }); cerr != nil {
			t.Fatal(cerr)
		}
	}
	read()
	if err != syscall.EAGAIN {
		t.Fatalf("Read of an empty socket = %d, %v; want EAGAIN", n, err)
	}
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = client.CloseWrite()
	var got []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		read()
		if err == nil && n == 0 {
			break // end of file
		}
		if err == nil {
			got = append(got, buf[:n]...)
		}
	}
	if string(got) != "hi" || err != nil || n != 0 {
		t.Fatalf("read %q then (%d, %v); want \"hi\" then end of file", got, n, err)
	}
}

func TestWriteAllocatesNothing(t *testing.T) {
	client, server := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	w := NewWriter(rawConn(t, client))
	hdr, body := []byte("header"), make([]byte, 64)
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Write(hdr, body); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("Write allocates %.1f objects; want 0", allocs)
	}
}

// WriteNow writes what the socket takes and returns at once when it is
// full; Write then waits for the rest.
func TestWriteNowStopsWhenTheSocketIsFull(t *testing.T) {
	client, server := tcpPair(t)
	_ = client.SetWriteBuffer(16 << 10)
	w := NewWriter(rawConn(t, client))
	if n, err := w.WriteNow([]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")); n != 5 || err != nil {
		t.Fatalf("WriteNow of five bytes in five buffers = %d, %v; want 5, nil", n, err)
	}
	bufs := [][]byte{[]byte("head"), make([]byte, 1<<20), []byte("tail")}
	total := 5
	for _, b := range bufs {
		total += len(b)
	}
	n, err := w.WriteNow(bufs...)
	if err != nil || n == 0 || n+5 >= int64(total) {
		t.Fatalf("WriteNow of a MiB to a peer that does not read = %d, %v; want some bytes, no error", n, err)
	}
	done := make(chan int64, 1)
	go func() {
		got, _ := io.Copy(io.Discard, server)
		done <- got
	}()
	m, err := w.Write(consume(bufs, int(n))...)
	if err != nil || 5+n+m != int64(total) {
		t.Fatalf("Write of the rest = %d, %v; want %d", m, err, int64(total)-5-n)
	}
	_ = client.CloseWrite()
	if got := <-done; got != int64(total) {
		t.Fatalf("peer read %d bytes; want %d", got, total)
	}
}

// Write writes once and never waits: on a socket whose peer does not
// read it takes what fits, then says EAGAIN; an empty write is no call.
func TestWriteOnANonBlockingSocket(t *testing.T) {
	client, server := tcpPair(t)
	_ = client.SetWriteBuffer(4 << 10)
	rc := rawConn(t, client)
	chunk := make([]byte, 64<<10)
	total := 0
	var n int
	var err error
	for err == nil {
		if cerr := rc.Control(func(fd uintptr) { n, err = Write(int(fd), chunk) }); cerr != nil {
			t.Fatal(cerr)
		}
		total += n
		if total > 64<<20 {
			t.Fatal("64 MiB written to a peer that does not read")
		}
	}
	if err != syscall.EAGAIN || total == 0 {
		t.Fatalf("writes to a peer that does not read: %d bytes, then %v; want some, then EAGAIN", total, err)
	}
	if cerr := rc.Control(func(fd uintptr) { n, err = Write(int(fd), nil) }); cerr != nil || n != 0 || err != nil {
		t.Fatalf("an empty Write = %d, %v", n, err)
	}
	got := make([]byte, total)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("the peer read: %v", err)
	}
}
