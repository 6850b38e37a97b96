package rawsock

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/testcert"
	"github.com/sockplane/sockplane/wire"
)

// prefixMatcher matches frames whose body starts with its text.
type prefixMatcher string

func (p prefixMatcher) Match(_, body []byte) bool { return bytes.HasPrefix(body, []byte(p)) }

// elapsed runs f and says how long it took.
func elapsed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func TestLatencyFaultHoldsRepliesInOrder(t *testing.T) {
	ln := startListener(t, Config{Faults: []Fault{{Kind: FaultLatency, Delay: 150 * time.Millisecond, Match: prefixMatcher("slow")}}})
	c := dial(t, ln)
	// Pipelined: the slow reply is held by a timer, and the fast one
	// after it waits behind it, so replies stay in order.
	var replies []string
	took := elapsed(func() {
		c.send("slow 1")
		c.send("fast 2")
		replies = append(replies, string(c.recv().Body), string(c.recv().Body))
	})
	if strings.Join(replies, ",") != "slow 1,fast 2" {
		t.Fatalf("replies %q, want them in order", replies)
	}
	if took < 150*time.Millisecond {
		t.Errorf("slow reply after %v, want at least 150ms", took)
	}
	if d := elapsed(func() { c.roundTrip("fast 3") }); d > 100*time.Millisecond {
		t.Errorf("a frame the fault does not match took %v", d)
	}
	if hits := ln.FaultHits(); len(hits) != 1 || hits[0].Applied != 1 || hits[0].Name != "latency-0" {
		t.Errorf("FaultHits = %+v, want latency-0 applied once", hits)
	}
}

func TestUpdateRemovesFaultOnOpenConnection(t *testing.T) {
	cfg := Config{Network: "tcp", Address: "127.0.0.1:0", Handler: Echo{}, Faults: []Fault{{Kind: FaultLatency, Delay: 300 * time.Millisecond}}}
	ln := startListener(t, cfg)
	c := dial(t, ln)
	if d := elapsed(func() { c.roundTrip("a") }); d < 300*time.Millisecond {
		t.Fatalf("with the fault, a reply after %v", d)
	}
	cfg.Faults = nil
	if err := ln.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if d := elapsed(func() { c.roundTrip("b") }); d > 150*time.Millisecond {
		t.Errorf("the same connection after the fault is gone: %v", d)
	}
}

func TestLimitDataCutsAtTheByteCount(t *testing.T) {
	ln := startListener(t, Config{Request: wire.Codec{Framing: wire.FramingRaw}, Faults: []Fault{{Kind: FaultLimitData, Bytes: 10}}})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write([]byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "0123456789" {
		t.Errorf("read %q then EOF, want the first 10 bytes", got)
	}
}

func TestCloseAfterReplyResets(t *testing.T) {
	ln := startListener(t, Config{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		_ = w.Reply(r.Body)
		w.CloseAfterReply(string(r.Body) == "reset")
	})})
	c := dial(t, ln)
	if got := c.roundTrip("close"); got != "close" {
		t.Fatalf("reply %q", got)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("after a close: %v, want EOF", err)
	}
	c = dial(t, ln)
	if got := c.roundTrip("reset"); got != "reset" {
		t.Fatalf("reply %q", got)
	}
	if _, err := c.br.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after a reset: %v, want ECONNRESET", err)
	}
}

// greeter speaks first, then echoes.
type greeter struct{ Echo }

func (greeter) Greet(w ResponseWriter, _ *Request) { _ = w.Reply([]byte("hello")) }

func TestGreeterSpeaksFirst(t *testing.T) {
	ln := startListener(t, Config{Handler: greeter{}})
	c := dial(t, ln)
	if got := string(c.recv().Body); got != "hello" {
		t.Fatalf("first frame %q, want the greeting", got)
	}
	if got := c.roundTrip("x"); got != "x" {
		t.Errorf("then %q", got)
	}
}

func TestTimeoutFaultIsABlackHole(t *testing.T) {
	ln := startListener(t, Config{Faults: []Fault{{Kind: FaultTimeout}}})
	c := dial(t, ln)
	c.send("anyone?")
	_ = c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want nothing and the connection open", err)
	}
	if n := len(ln.Connections()); n != 1 {
		t.Errorf("%d connections, want the black hole's one open", n)
	}
}

func TestReplyErrorKeepsConnection(t *testing.T) {
	ln := startListener(t, Config{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		if string(r.Body) == "bad" {
			_ = w.ReplyError("no rule matches")
			return
		}
		_ = w.Reply(r.Body)
	})})
	c := dial(t, ln)
	c.send("bad")
	f := c.recv()
	if !strings.Contains(string(f.Header), `"error": "no rule matches"`) {
		t.Errorf("header %s, want the error", f.Header)
	}
	if got := c.roundTrip("good"); got != "good" {
		t.Errorf("after the error frame: %q", got)
	}
	if e := ln.Stats().Snapshot().Errors; e != 1 {
		t.Errorf("errors = %d, want 1", e)
	}
}

func TestDatagramDropIsReproducible(t *testing.T) {
	dropped := func() []int {
		ln := startListener(t, Config{Network: "udp", FaultSeed: 42, Faults: []Fault{{Kind: FaultDrop, Probability: 0.5}}})
		conn, err := net.Dial("udp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var out []int
		codec := wire.Codec{}
		buf := make([]byte, 1024)
		for i := range 40 {
			frame, _ := codec.AppendFrame(nil, []byte("x"))
			if _, err := conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			// A reply comes at once or not at all; a dropped one is known
			// when the next datagram's reply arrives first, so each waits
			// a bounded time.
			_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := conn.Read(buf); err != nil {
				out = append(out, i)
			}
		}
		return out
	}
	a, b := dropped(), dropped()
	if len(a) < 8 || len(a) > 32 {
		t.Errorf("dropped %d of 40 at probability 0.5", len(a))
	}
	if !slicesEqual(a, b) {
		t.Errorf("with one seed, dropped %v, then %v", a, b)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckFaultsNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		network string
		f       Fault
		field   string
	}{
		{"tcp", Fault{Kind: FaultLatency}, "faults[0].latency.delay"},
		{"tcp", Fault{Kind: FaultLatency, Delay: 2 * time.Minute}, "faults[0].latency.delay"},
		{"udp", Fault{Kind: FaultSlowClose, Delay: time.Second}, "faults[0].slowClose"},
		{"tcp", Fault{Kind: FaultSlicer, AverageBytes: 4, VariationBytes: 4}, "faults[0].slicer.variationBytes"},
		{"tcp", Fault{Kind: FaultSlicer, AverageBytes: 4, Inbound: true}, "faults[0].direction"},
		{"tcp", Fault{Kind: FaultDrop, Probability: 1.5}, "faults[0].probability"},
		{"tcp", Fault{}, "faults[0].kind"},
	} {
		err := CheckFaults([]Fault{tc.f}, tc.network)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CheckFaults(%+v) = %v, want a FieldError on %s", tc.f, err, tc.field)
		}
	}
}

// TestTLSListener serves TLS, counts a plaintext client's failed
// handshake, and shows a mutual-TLS client's subject.
func TestTLSListener(t *testing.T) {
	files := testcert.New(t)
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	ln := startListener(t, Config{TLS: cfg})

	clientCert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{clientCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	c := &client{tb: t, conn: conn, br: bufio.NewReader(conn), codec: wire.Codec{}}
	if got := c.roundTrip("secret"); got != "secret" {
		t.Fatalf("echo over TLS: %q", got)
	}
	if conns := ln.Connections(); len(conns) != 1 || !strings.Contains(conns[0].TLSPeerSubject, "CN=sockctl-test") {
		t.Errorf("connections %+v, want the client's subject", conns)
	}

	plain := dial(t, ln)
	plain.send("hello")
	if _, err := plain.br.ReadByte(); err == nil {
		t.Error("a plaintext client got an answer")
	}
	waitFor(t, "the failed handshake counted", func() bool { return ln.Stats().Snapshot().Errors >= 1 })

	// Without a client certificate, refused.
	noCert, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err == nil {
		defer noCert.Close()
		_ = noCert.SetDeadline(time.Now().Add(testTimeout))
		_, err = noCert.Read(make([]byte, 1)) // TLS 1.3 reports the refusal on the first read
	}
	if err == nil {
		t.Error("a client without a certificate was served")
	}
}

func TestUpdateChangesUnixModeInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	cfg := Config{Network: "unix", Address: path, Handler: Echo{}, UnixMode: 0o600}
	ln := startListener(t, cfg)
	c := dial(t, ln)
	cfg.UnixMode = 0o660
	if err := ln.Update(cfg); err != nil {
		t.Fatalf("Update of the mode: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want 0660", st.Mode().Perm())
	}
	if got := c.roundTrip("still here"); got != "still here" {
		t.Errorf("the open connection after the chmod: %q", got)
	}
}
