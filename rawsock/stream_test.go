package rawsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

func TestTCPHandlers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler Handler
		in      string
		want    string
	}{
		{"echo", Echo{}, "hello", "hello"},
		{"upper", Upper{}, "hello", "HELLO"},
		{"upper leaves non-ASCII alone", Upper{}, "héllo", "HéLLO"},
		{"empty body", Upper{}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, startListener(t, Config{Handler: tt.handler}))
			if got := c.roundTrip(tt.in); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTCPBigEndian(t *testing.T) {
	codec := wire.Codec{ByteOrder: wire.BigEndian}
	ln := startListener(t, Config{Handler: Upper{}, Request: codec})
	c := dial(t, ln)
	if c.codec.ByteOrder != wire.BigEndian {
		t.Fatalf("response codec byte order = %v, want the request's", c.codec.ByteOrder)
	}
	if got := c.roundTrip("abc"); got != "ABC" {
		t.Fatalf("got %q", got)
	}
}

// TestTCPSplitWrites sends a frame one byte per write.
func TestTCPSplitWrites(t *testing.T) {
	c := dial(t, startListener(t, Config{Handler: Upper{}}))
	b, _ := c.codec.AppendFrame(nil, []byte("split across many reads"))
	for i := range b {
		c.write(b[i : i+1])
	}
	if got := string(c.recv().Body); got != "SPLIT ACROSS MANY READS" {
		t.Fatalf("got %q", got)
	}
}

// TestTCPPipelined sends many frames in one write and expects every reply
// in order.
func TestTCPPipelined(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	c := dial(t, ln)
	const n = 2000
	var batch []byte
	for i := range n {
		batch, _ = c.codec.AppendFrame(batch, []byte(strings.Repeat("x", i%50)+"msg"))
	}
	go c.write(batch) // replies may fill the socket buffers before the write ends
	for i := range n {
		if got, want := string(c.recv().Body), strings.Repeat("X", i%50)+"MSG"; got != want {
			t.Fatalf("reply %d = %q, want %q", i, got, want)
		}
	}
	// Counted before they were written: no waiting.
	if s := ln.Stats().Snapshot(); s.FramesIn != n || s.BytesIn != uint64(len(batch)) || s.BytesOut != uint64(len(batch)) || s.Errors != 0 {
		t.Fatalf("stats = %+v, want %d frames and %d bytes each way", s, n, len(batch))
	}
}

// TestTCPLargeFrames echoes frames larger than every buffer, back to back.
func TestTCPLargeFrames(t *testing.T) {
	c := dial(t, startListener(t, Config{}))
	for _, size := range []int{1 << 20, 100, 3<<20 + 7} {
		body := bytes.Repeat([]byte{byte(size)}, size)
		b, _ := c.codec.AppendFrame(nil, body)
		go c.write(b)
		if got := c.recv().Body; !bytes.Equal(got, body) {
			t.Fatalf("size %d: got %d bytes back", size, len(got))
		}
	}
}

func TestTCPConcurrentClients(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	const clients, rounds = 20, 50
	errs := make(chan error, clients)
	for i := range clients {
		go func() {
			c := dial(t, ln)
			for r := range rounds {
				msg := strings.Repeat("ab", i+r)
				b, _ := c.codec.AppendFrame(nil, []byte(msg))
				if _, err := c.conn.Write(b); err != nil {
					errs <- err
					return
				}
				f, err := c.codec.ReadFrame(c.br)
				if err != nil || string(f.Body) != strings.ToUpper(msg) {
					errs <- errors.New("bad reply")
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s := ln.Stats().Snapshot()
	if s.ConnectionsTotal != clients {
		t.Fatalf("connectionsTotal = %d, want %d", s.ConnectionsTotal, clients)
	}
}

// TestTCPBadFrames: every hostile frame gets an error frame and a close,
// is counted, and leaves another client's connection working.
func TestTCPBadFrames(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"header length 0", []byte{0, 0, 0, 0}, "header length 0"},
		{"negative header length", []byte{0xf0, 0xff, 0xff, 0xff}, "header length -16"},
		{"header length 0xFFFFFFFF", []byte{0xff, 0xff, 0xff, 0xff}, "header length -1"},
		{"GET read as a length", []byte("GET / HTTP/1.1\r\n"), "exceeds the limit"},
		{"POST read as a length", []byte("POST / HTTP/1.1\r\n"), "exceeds the limit"},
		{"malformed JSON", le(`{"data_size": `, ""), "not a JSON object"},
		{"not an object", le(`"hello"`, ""), "not a JSON object"},
		{"no data_size", le(`{"size": 1}`, "x"), "no data_size"},
		{"negative data_size", le(`{"data_size": -5}`, ""), "negative data_size"},
		{"oversized data_size", le(`{"data_size": 4294967296}`, ""), "exceeds the limit"},
		{"garbage after the header", le(`{"data_size": 1} {}`, "x"), "not a JSON object"},
		{"header not UTF-8", le("{\"data_size\": 0, \"x\": \"\xff\xfe\"}", ""), "not valid UTF-8"},
	}
	ln := startListener(t, Config{Handler: Upper{}})
	bystander := dial(t, ln)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ln)
			c.write(tt.input)
			f := c.recv()
			var hdr struct {
				Error    string `json:"error"`
				DataSize *int   `json:"data_size"`
			}
			if err := json.Unmarshal(f.Header, &hdr); err != nil || hdr.DataSize == nil || *hdr.DataSize != 0 {
				t.Fatalf("error frame header %s: %v", f.Header, err)
			}
			if !strings.Contains(hdr.Error, tt.want) {
				t.Fatalf("error %q does not say %q", hdr.Error, tt.want)
			}
			if _, err := c.br.ReadByte(); err != io.EOF {
				t.Fatalf("after the error frame: %v, want EOF", err)
			}
			if got := ln.Stats().Snapshot().Errors; got != uint64(i+1) {
				t.Fatalf("errors = %d after the error frame, want %d", got, i+1)
			}
			if got := bystander.roundTrip("still here"); got != "STILL HERE" {
				t.Fatalf("bystander got %q", got)
			}
		})
	}
}

// TestTCPPeerLeavesMidFrame: a client that vanishes halfway through a
// frame, politely or with a reset, disturbs nobody.
func TestTCPPeerLeavesMidFrame(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	bystander := dial(t, ln)
	for _, reset := range []bool{false, true} {
		c := dial(t, ln)
		b, _ := c.codec.AppendFrame(nil, []byte("never finished"))
		c.write(b[:len(b)-3])
		if reset {
			_ = c.conn.(*net.TCPConn).SetLinger(0)
		}
		_ = c.conn.Close()
		if got := bystander.roundTrip("ok"); got != "OK" {
			t.Fatalf("bystander got %q", got)
		}
	}
	waitFor(t, "the connections to go", func() bool { return ln.Stats().Snapshot().ConnectionsActive == 1 })
	waitFor(t, "truncated frames counted", func() bool { return ln.Stats().Snapshot().Errors == 2 })
}

func TestStartReportsBindErrors(t *testing.T) {
	first := startListener(t, Config{})
	second, err := NewListener(Config{Network: "tcp", Address: first.Addr().String(), Handler: Echo{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), first.Addr().String()) {
		t.Fatalf("Start on a used address: %v, want ErrAddrInUse naming the address", err)
	}
	_ = second.Close()
	// 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
	third, _ := NewListener(Config{Network: "tcp", Address: "192.0.2.1:0", Handler: Echo{}})
	if err := third.Start(); !errors.Is(err, ErrBind) || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("Start on a foreign address: %v, want ErrBind", err)
	}
	_ = third.Close()
}

// TestTCPSocketOptions: a TCP listener's socket is plain TCP, not
// Multipath TCP, and has SO_REUSEADDR (from Go's net package), so a
// stopped listener's port binds again despite connections in TIME_WAIT.
func TestTCPSocketOptions(t *testing.T) {
	ln := startListener(t, Config{})
	rc, err := ln.sock.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var proto, reuse int
	var perr, rerr error
	if err := rc.Control(func(fd uintptr) {
		proto, perr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		reuse, rerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR)
	}); err != nil {
		t.Fatal(err)
	}
	if perr != nil || proto != syscall.IPPROTO_TCP {
		t.Errorf("SO_PROTOCOL = %d (%v), want IPPROTO_TCP (%d)", proto, perr, syscall.IPPROTO_TCP)
	}
	if rerr != nil || reuse != 1 {
		t.Errorf("SO_REUSEADDR = %d (%v), want 1", reuse, rerr)
	}
}

func TestPortZeroReportsRealPort(t *testing.T) {
	ln := startListener(t, Config{})
	if ln.Addr().(*net.TCPAddr).Port == 0 {
		t.Fatal("Addr reports port 0")
	}
}

// TestCloseRefusesAtOnce: after Close the port refuses and open
// connections end; the listener reports ErrListenerClosed.
func TestCloseRefusesAtOnce(t *testing.T) {
	ln := startListener(t, Config{})
	c := dial(t, ln)
	c.roundTrip("hi")
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("open connection after Close: %v, want EOF", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Close: %v, want connection refused", err)
	}
	if err := ln.Err(); err != ErrListenerClosed {
		t.Fatalf("Err = %v, want ErrListenerClosed", err)
	}
	if err := ln.Start(); err != ErrListenerClosed {
		t.Fatalf("Start after Close = %v, want ErrListenerClosed", err)
	}
	if s := ln.Stats().Snapshot(); s.ConnectionsActive != 0 {
		t.Fatalf("connectionsActive = %d after Close", s.ConnectionsActive)
	}
}

// TestShutdownDrains: Shutdown closes idle connections at once, lets a
// connection in the middle of a frame finish it, and honours its deadline.
func TestShutdownDrains(t *testing.T) {
	ln := startListener(t, Config{Handler: Upper{}})
	idle := dial(t, ln)
	idle.roundTrip("warm")
	busy := dial(t, ln)
	b, _ := busy.codec.AppendFrame(nil, []byte("in flight"))
	busy.write(b[:5])
	waitFor(t, "the partial frame to arrive", func() bool {
		return ln.Stats().Snapshot().BytesIn >= uint64(len(b)-len("in flight")+len("warm")+5)
	})

	expired, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := ln.Shutdown(expired); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown with a busy connection and a short deadline = %v", err)
	}
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection after Shutdown: %v, want EOF", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("the port still accepts during Shutdown")
	}

	// More of the frame arrives while draining, still not all of it.
	busy.write(b[5:9])
	waitFor(t, "the second piece to arrive", func() bool {
		return ln.Stats().Snapshot().BytesIn >= uint64(len(b)-len("in flight")+len("warm")+9)
	})
	done := make(chan error, 1)
	go func() { done <- ln.Shutdown(context.Background()) }()
	busy.write(b[9:])
	if got := string(busy.recv().Body); got != "IN FLIGHT" {
		t.Fatalf("frame in flight got %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after the last frame")
	}
	if _, err := busy.br.ReadByte(); err != io.EOF {
		t.Fatalf("drained connection: %v, want EOF", err)
	}
}

func TestCloseBeforeStart(t *testing.T) {
	ln, err := NewListener(Config{Network: "tcp", Address: "127.0.0.1:0", Handler: Echo{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ln.Start(); err != ErrListenerClosed {
		t.Fatalf("Start = %v, want ErrListenerClosed", err)
	}
}

func TestNewListenerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Network: "sctp", Address: ":0", Handler: Echo{}},
		{Network: "tcp", Address: ":0"},
	} {
		var fe *FieldError
		if _, err := NewListener(cfg); !errors.As(err, &fe) {
			t.Errorf("NewListener(%+v) = %v, want a FieldError", cfg, err)
		}
	}
}
