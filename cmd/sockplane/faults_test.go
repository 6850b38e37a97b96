package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/wire"
)

// The tests in this file put faults on listeners through REST and
// measure, with Go clients, what a peer sees: delays, rates, cuts, black
// holes, lost and doubled datagrams, resets and slow closes, and the
// counters GET shows for each fault.

// timedRoundTrip sends body on c and returns the reply and how long it
// took, from the write to the whole reply.
func timedRoundTrip(c *framedConn, body string) (string, time.Duration) {
	start := time.Now()
	f := c.roundTrip(body)
	return string(f.Body), time.Since(start)
}

// faultCounters is status.faults as "name=applied" pairs.
func faultCounters(t *testing.T, d *daemon, id string) string {
	t.Helper()
	list, _ := listenerStatus(t, d, id)["faults"].([]any)
	var pairs []string
	for _, f := range list {
		m, _ := f.(map[string]any)
		pairs = append(pairs, fmt.Sprintf("%v=%v", m["name"], m["applied"]))
	}
	return strings.Join(pairs, " ")
}

// listenerStats is status.stats.
func listenerStats(t *testing.T, d *daemon, id string) map[string]any {
	t.Helper()
	stats, _ := listenerStatus(t, d, id)["stats"].(map[string]any)
	return stats
}

// wantNoReply checks that nothing arrives on conn within wait and that
// conn is not closed: the read times out, it does not end.
func wantNoReply(t *testing.T, what string, conn net.Conn, wait time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var buf [1]byte
	n, err := conn.Read(buf[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: the read returned %d bytes, %v; want nothing, the connection still open", what, n, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
}

// TestFaultLatency: every reply of a latency fault comes between delay
// and delay + jitter (+ 100ms for the machine), and GET counts them.
func TestFaultLatency(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const delay, jitter = 200 * time.Millisecond, 50 * time.Millisecond
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0",
		"faults":[{"latency":{"delay":"200ms","jitter":"50ms"}}],"faultSeed":7}`)
	c := dialFramed(t, addr)
	for i := range 3 {
		body := fmt.Sprintf("frame %d", i)
		got, took := timedRoundTrip(c, body)
		if got != body {
			t.Fatalf("echo under latency: %q, want %q", got, body)
		}
		if took < delay || took > delay+jitter+100*time.Millisecond {
			t.Errorf("frame %d took %v, want from %v to %v", i, took, delay, delay+jitter+100*time.Millisecond)
		}
	}
	if got := faultCounters(t, d, id); got != "latency-0=3" {
		t.Errorf("status.faults: %s, want latency-0=3", got)
	}
}

// TestFaultBandwidth: a 64 KiB reply under a bandwidth bound takes
// 64 KiB / rate, ±30 %, from its first byte to its last: at 256 KiB/s
// and at 128 KiB/s.
func TestFaultBandwidth(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	for _, rate := range []int{256 << 10, 128 << 10} {
		t.Run(fmt.Sprintf("%dKiBps", rate>>10), func(t *testing.T) {
			t.Parallel()
			id, addr := createdListener(t, d, fmt.Sprintf(`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0",
				"faults":[{"name":"slow-link","bandwidth":{"bytesPerSecond":%d}}]}`, rate))
			c := dialFramed(t, addr)
			body := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
			var codec wire.Codec
			frame, err := codec.AppendFrame(nil, body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			// The echo is the same frame: read its bytes as they come.
			got := make([]byte, 0, len(frame))
			buf := make([]byte, 64<<10)
			var first time.Time
			for len(got) < len(frame) {
				n, err := c.conn.Read(buf)
				if n > 0 && first.IsZero() {
					first = time.Now()
				}
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("after %d of %d bytes: %v", len(got), len(frame), err)
				}
			}
			took := time.Since(first)
			if !bytes.Equal(got, frame) {
				t.Fatal("the echo under a bandwidth fault is not the frame sent")
			}
			want := time.Duration(float64(len(frame)) / float64(rate) * float64(time.Second))
			if took < want*7/10 || took > want*13/10 {
				t.Errorf("%d bytes at %d B/s took %v from the first byte to the last (%.0f B/s), want %v ±30%%",
					len(frame), rate, took, float64(len(frame))/took.Seconds(), want)
			}
			if got := faultCounters(t, d, id); got != "slow-link=1" {
				t.Errorf("status.faults: %s, want slow-link=1", got)
			}
		})
	}
}

// TestFaultLimitData: a limitData fault lets through exactly its byte
// count of replies, then the client reads EOF.
func TestFaultLimitData(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const limit = 40
	id, addr := createdListener(t, d, fmt.Sprintf(`{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0",
		"faults":[{"limitData":{"bytes":%d}}]}`, limit))
	c := dialFramed(t, addr)
	var codec wire.Codec
	first, _ := codec.AppendFrame(nil, []byte("hello")) // 25 bytes: under the limit
	if got, _ := timedRoundTrip(c, "hello"); got != "hello" {
		t.Fatalf("the first echo: %q", got)
	}
	second, _ := codec.AppendFrame(nil, []byte("the reply that crosses the limit"))
	if _, err := c.conn.Write(second); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("reading to the end: %v, want EOF", err)
	}
	if want := second[:limit-len(first)]; !bytes.Equal(tail, want) {
		t.Errorf("after the first %d bytes the client got %d bytes %q then EOF, want the %d bytes %q", len(first), len(tail), tail, len(want), want)
	}
	if got := faultCounters(t, d, id); got != "limitData-0=1" {
		t.Errorf("status.faults: %s, want limitData-0=1", got)
	}
}

// TestFaultTimeoutBlackHole: a timeout fault with after 0s reads every
// frame and answers none, and never closes the connection.
func TestFaultTimeoutBlackHole(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","faults":[{"timeout":{"after":"0s"}}]}`)
	c := dialFramed(t, addr)
	var codec wire.Codec
	for i := 1; i <= 2; i++ {
		frame, _ := codec.AppendFrame(nil, []byte("anyone there?"))
		if _, err := c.conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "the daemon to read the frame", func() bool { return listenerStats(t, d, id)["framesIn"] == fmt.Sprint(i) })
		wantNoReply(t, "a black hole", c.conn, 200*time.Millisecond)
		conns := wantStatus(t, rest(t, d, "GET", "/v1/listeners/"+id+"/connections", ""), http.StatusOK)
		if list, _ := conns.body["connections"].([]any); len(list) != 1 || str(list[0].(map[string]any), "peerAddress") != c.conn.LocalAddr().String() {
			t.Fatalf("the black-holed connection is not listed as open: %s", conns.raw)
		}
	}
	if stats := listenerStats(t, d, id); stats["framesOut"] != "0" || stats["connectionsActive"] != "1" {
		t.Errorf("stats: %s", jsonOf(stats))
	}
	if got := faultCounters(t, d, id); got != "timeout-0=1" {
		t.Errorf("status.faults: %s, want timeout-0=1 (one connection)", got)
	}
}

// udpClient is a connected UDP socket with a deadline.
func udpClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return conn
}

func sendDatagram(t *testing.T, conn net.Conn, body string) {
	t.Helper()
	var codec wire.Codec
	frame, _ := codec.AppendFrame(nil, []byte(body))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}

// readDatagram reads one reply within wait; ok is false on a timeout.
func readDatagram(t *testing.T, conn net.Conn, wait time.Duration) (body string, ok bool) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = conn.SetReadDeadline(time.Now().Add(testTimeout)) }()
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	var codec wire.Codec
	f, err := codec.ParseDatagram(buf[:n])
	if err != nil {
		t.Fatalf("reply %q: %v", buf[:n], err)
	}
	return string(f.Body), true
}

// TestFaultUDPDropAll: a drop fault (probability 1) on UDP answers no
// datagram.
func TestFaultUDPDropAll(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","faults":[{"drop":{},"probability":1}]}`)
	conn := udpClient(t, addr)
	for i := 1; i <= 3; i++ {
		sendDatagram(t, conn, "lost")
		poll.Until(t, "the drop to apply", func() bool { return faultCounters(t, d, id) == fmt.Sprintf("drop-0=%d", i) })
	}
	if body, ok := readDatagram(t, conn, 200*time.Millisecond); ok {
		t.Errorf("a dropped datagram was answered: %q", body)
	}
	if stats := listenerStats(t, d, id); stats["framesIn"] != "3" || stats["framesOut"] != "0" {
		t.Errorf("stats: %s", jsonOf(stats))
	}
}

// droppedOf sends n datagrams to a UDP listener, one at a time, and
// returns the indices of those it did not answer. It waits for each
// reply, or for the drop fault's counter to say the datagram was dropped,
// so that a slow machine makes no datagram look lost.
func droppedOf(t *testing.T, d *daemon, id, addr string, n int) []int {
	t.Helper()
	conn := udpClient(t, addr)
	var dropped []int
	counter := func() string { return faultCounters(t, d, id) }
	applied := 0
	for i := range n {
		body := fmt.Sprintf("datagram %02d", i)
		sendDatagram(t, conn, body)
		deadline := time.Now().Add(testTimeout)
		for {
			if got, ok := readDatagram(t, conn, 5*time.Millisecond); ok {
				if got != body {
					t.Fatalf("datagram %d answered with %q", i, got)
				}
				break
			}
			if counter() == fmt.Sprintf("half=%d", applied+1) {
				applied++
				dropped = append(dropped, i)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("datagram %d: neither answered nor dropped (%s)", i, counter())
			}
		}
	}
	return dropped
}

// TestFaultUDPDropSeeded: a drop fault of probability 0.5 with a fault
// seed drops about half the datagrams, and the same ones on another
// listener with the same seed; another seed drops others.
func TestFaultUDPDropSeeded(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const n = 40
	spec := func(seed int) string {
		return fmt.Sprintf(`{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","faults":[{"name":"half","drop":{},"probability":0.5}],"faultSeed":%d}`, seed)
	}
	idA, addrA := createdListener(t, d, spec(42))
	idB, addrB := createdListener(t, d, spec(42))
	idC, addrC := createdListener(t, d, spec(43))
	a := droppedOf(t, d, idA, addrA, n)
	b := droppedOf(t, d, idB, addrB, n)
	c := droppedOf(t, d, idC, addrC, n)
	if len(a) < n/4 || len(a) > 3*n/4 {
		t.Errorf("probability 0.5 dropped %d of %d datagrams: %v", len(a), n, a)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("seed 42 dropped %v on one listener and %v on another", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 42 and 43 dropped the same datagrams %v", a)
	}
	if stats := listenerStats(t, d, idA); stats["framesIn"] != fmt.Sprint(n) || stats["framesOut"] != fmt.Sprint(n-len(a)) {
		t.Errorf("stats: %s, want %d in and %d out", jsonOf(stats), n, n-len(a))
	}
}

// TestFaultConditionalLatency: a latency fault with a match delays the
// frames that match it and no others, on the same connection.
func TestFaultConditionalLatency(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const delay = 300 * time.Millisecond
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0",
		"faults":[{"name":"slow-path","match":{"bodyPrefix":"slow"},"latency":{"delay":"300ms"}}]}`)
	c := dialFramed(t, addr)
	for _, body := range []string{"fast 1", "slow 1", "fast 2", "slower", "fast 3"} {
		got, took := timedRoundTrip(c, body)
		if got != body {
			t.Fatalf("echo: %q, want %q", got, body)
		}
		if strings.HasPrefix(body, "slow") {
			if took < delay || took > delay+100*time.Millisecond {
				t.Errorf("%q matches the fault: took %v, want from %v to %v", body, took, delay, delay+100*time.Millisecond)
			}
		} else if took >= delay {
			t.Errorf("%q does not match the fault: took %v, want less than %v", body, took, delay)
		}
	}
	if got := faultCounters(t, d, id); got != "slow-path=2" {
		t.Errorf("status.faults: %s, want slow-path=2", got)
	}
}

// TestFaultPatchLive: PATCH ?updateMask=faults with no faults makes the
// same open connection fast at its next frame; a PATCH that puts a
// latency fault back makes it slow again; the client never reconnects.
func TestFaultPatchLive(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const delay = 300 * time.Millisecond
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","faults":[{"latency":{"delay":"300ms"}}]}`)
	c := dialFramed(t, addr)
	if _, took := timedRoundTrip(c, "slow"); took < delay {
		t.Fatalf("under the latency fault: %v, want at least %v", took, delay)
	}

	patched := wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/"+id+"?updateMask=faults", `{"faults":[]}`), http.StatusOK)
	if _, has := patched.body["faults"]; has && jsonOf(patched.body["faults"]) != "[]" {
		t.Fatalf("the PATCH left faults: %s", patched.raw)
	}
	if got := faultCounters(t, d, id); got != "" {
		t.Errorf("status.faults with no faults: %s", got)
	}
	if got, took := timedRoundTrip(c, "fast"); got != "fast" || took >= delay {
		t.Errorf("the same connection after the PATCH removed the fault: %q in %v, want less than %v", got, took, delay)
	}

	wantStatus(t, rest(t, d, "PATCH", "/v1/listeners/"+id+"?updateMask=faults", `{"faults":[{"name":"back","latency":{"delay":"300ms"}}]}`), http.StatusOK)
	if _, took := timedRoundTrip(c, "slow again"); took < delay {
		t.Errorf("the same connection after the PATCH put the fault back: %v, want at least %v", took, delay)
	}
	if got := faultCounters(t, d, id); got != "back=1" {
		t.Errorf("status.faults: %s, want back=1", got)
	}
	if stats := listenerStats(t, d, id); stats["connectionsTotal"] != "1" || stats["connectionsActive"] != "1" {
		t.Errorf("the PATCHes reconnected the client: %s", jsonOf(stats))
	}
}

// TestFaultUDPDuplicate: a duplicate fault on UDP answers each datagram
// twice.
func TestFaultUDPDuplicate(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_UDP","address":"127.0.0.1:0","faults":[{"duplicate":{}}]}`)
	conn := udpClient(t, addr)
	sendDatagram(t, conn, "twice")
	for i := range 2 {
		if got, ok := readDatagram(t, conn, testTimeout); !ok || got != "twice" {
			t.Fatalf("reply %d: %q, %v", i, got, ok)
		}
	}
	if stats := listenerStats(t, d, id); stats["framesIn"] != "1" || stats["framesOut"] != "2" {
		t.Errorf("stats: %s, want one frame in, two out", jsonOf(stats))
	}
	if got, ok := readDatagram(t, conn, 100*time.Millisecond); ok {
		t.Errorf("a third reply: %q", got)
	}
	if got := faultCounters(t, d, id); got != "duplicate-0=1" {
		t.Errorf("status.faults: %s, want duplicate-0=1", got)
	}
}

// TestFaultResetPeer: a resetPeer fault with after 100ms serves the
// connection until then, and then resets it: the client's read fails
// with ECONNRESET.
func TestFaultResetPeer(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const after = 100 * time.Millisecond
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","faults":[{"resetPeer":{"after":"100ms"}}]}`)
	start := time.Now()
	c := dialFramed(t, addr)
	if got := c.roundTrip("quick"); string(got.Body) != "quick" {
		t.Fatalf("before the reset: %q", got.Body)
	}
	_, err := c.br.ReadByte()
	took := time.Since(start)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the read after the resetPeer fault: %v, want ECONNRESET", err)
	}
	if took < after || took > after+time.Second {
		t.Errorf("reset after %v, want from %v to %v", took, after, after+time.Second)
	}
	if got := faultCounters(t, d, id); got != "resetPeer-0=1" {
		t.Errorf("status.faults: %s, want resetPeer-0=1", got)
	}
}

// TestFaultSlowClose: a slowClose fault holds a closing connection open:
// after a THEN_CLOSE reply the EOF comes the fault's delay later, and so
// does the daemon's side of the close after the peer closes its side.
func TestFaultSlowClose(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	const delay = 300 * time.Millisecond
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"rules":[{"match":{"bodyEquals":"bye"},"reply":{"body":"BYE","then":"THEN_CLOSE"}}],"default":{"echo":true}},
		"faults":[{"slowClose":{"delay":"300ms"}}]}`)
	wantEOFAfter := func(what string, c *framedConn, since time.Time) {
		t.Helper()
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: %v, want EOF", what, err)
		}
		if took := time.Since(since); took < delay || took > delay+time.Second {
			t.Errorf("%s: EOF %v later, want from %v to %v", what, took, delay, delay+time.Second)
		}
	}

	c := dialFramed(t, addr)
	// The daemon's wait begins once it has the request, so from the
	// request the EOF is at least the delay away; from the reply's
	// arrival it could be a little less.
	asked := time.Now()
	if f := c.roundTrip("bye"); string(f.Body) != "BYE" {
		t.Fatalf("the THEN_CLOSE reply: %q", f.Body)
	}
	if took := time.Since(asked); took >= delay {
		t.Errorf("the THEN_CLOSE reply took %v: it must leave before the slow close, not after", took)
	}
	wantEOFAfter("after the THEN_CLOSE request and its reply", c, asked)

	c = dialFramed(t, addr)
	if f := c.roundTrip("hello"); string(f.Body) != "hello" {
		t.Fatalf("echo: %q", f.Body)
	}
	closed := time.Now()
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	wantEOFAfter("after the client closed its side", c, closed)
	if got := faultCounters(t, d, id); got != "slowClose-0=2" {
		t.Errorf("status.faults: %s, want slowClose-0=2", got)
	}
}

// TestFaultDropDirections: an inbound drop (DIRECTION_IN) swallows the
// request before the handler, which never sees it; an outbound one
// (the default) swallows the handler's reply. Frames neither matches are
// served, on the same connection, in order.
func TestFaultDropDirections(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	id, addr := createdListener(t, d, `{"transport":"TRANSPORT_TCP","address":"127.0.0.1:0","handler":"HANDLER_SCRIPT",
		"script":{"default":{"echo":true}},
		"faults":[
			{"name":"lose-request","direction":"DIRECTION_IN","match":{"bodyPrefix":"in "},"drop":{}},
			{"name":"lose-reply","match":{"bodyPrefix":"out "},"drop":{}}
		]}`)
	c := dialFramed(t, addr)
	var codec wire.Codec
	var frames []byte
	for _, body := range []string{"in 1", "out 1", "kept 1", "in 2", "kept 2"} {
		frames, _ = codec.AppendFrame(frames, []byte(body))
	}
	if _, err := c.conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kept 1", "kept 2"} {
		f, err := codec.ReadFrame(c.br)
		if err != nil || string(f.Body) != want {
			t.Fatalf("reply %q, %v; want %q: the dropped frames get no reply", f.Body, err, want)
		}
	}
	poll.Until(t, "the daemon to read every frame", func() bool { return listenerStats(t, d, id)["framesIn"] == "5" })
	wantNoReply(t, "after the frames that are served", c.conn, 100*time.Millisecond)
	st := listenerStatus(t, d, id)
	if got := jsonOf(st["script"]); got != `{"defaultHits":"3","ruleHits":[],"unmatched":"0"}` {
		t.Errorf("status.script = %s: the handler must serve out 1, kept 1 and kept 2 only", got)
	}
	if stats, _ := st["stats"].(map[string]any); stats["framesOut"] != "2" {
		t.Errorf("stats: %s, want 2 frames out", jsonOf(stats))
	}
	if got := faultCounters(t, d, id); got != "lose-request=2 lose-reply=1" {
		t.Errorf("status.faults: %s, want lose-request=2 lose-reply=1", got)
	}
}

// TestFaultInvalidSpecs: a fault that cannot work is refused with 400
// naming its field path, on create and on a PATCH, which changes nothing.
func TestFaultInvalidSpecs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	faults := func(transport, faults string) string {
		return fmt.Sprintf(`{"transport":%q,"address":"127.0.0.1:0","faults":%s}`, transport, faults)
	}
	tests := []struct{ name, body, field string }{
		{"latency without a delay", faults("TRANSPORT_TCP", `[{"latency":{}}]`), "listener.faults[0].latency.delay"},
		{"a negative delay", faults("TRANSPORT_TCP", `[{"latency":{"delay":"-1s"}}]`), "listener.faults[0].latency.delay"},
		{"a delay over 1m", faults("TRANSPORT_TCP", `[{"latency":{"delay":"2m"}}]`), "listener.faults[0].latency.delay"},
		{"probability over 1", faults("TRANSPORT_TCP", `[{"drop":{}},{"probability":1.5,"drop":{}}]`), "listener.faults[1].probability"},
		{"a bad regex in a match", faults("TRANSPORT_TCP", `[{"match":{"bodyRegex":"("},"drop":{}}]`), "listener.faults[0].match.bodyRegex"},
		{"an inbound slicer", faults("TRANSPORT_TCP", `[{"direction":"DIRECTION_IN","slicer":{"averageBytes":8}}]`), "listener.faults[0].direction"},
		{"no kind", faults("TRANSPORT_TCP", `[{"name":"nothing"}]`), "listener.faults[0]"},
		{"limitData on UDP", faults("TRANSPORT_UDP", `[{"limitData":{"bytes":10}}]`), "listener.faults[0].limitData"},
		{"slowClose on UDP", faults("TRANSPORT_UDP", `[{"drop":{}},{"slowClose":{"delay":"1s"}}]`), "listener.faults[1].slowClose"},
		{"a match on limitData", faults("TRANSPORT_TCP", `[{"limitData":{"bytes":10},"match":{"bodyPrefix":"a"}}]`), "listener.faults[0].match"},
	}
	for _, tt := range tests {
		wantFieldViolation(t, tt.name, rest(t, d, "POST", "/v1/listeners", tt.body), tt.field)
	}
	id, _ := createdListener(t, d, faults("TRANSPORT_UDP", `[{"name":"kept","duplicate":{}}]`))
	wantFieldViolation(t, "PATCH with a stream-only fault on UDP", rest(t, d, "PATCH", "/v1/listeners/"+id+"?updateMask=faults",
		`{"faults":[{"resetPeer":{"after":"1s"}}]}`), "listener.faults[0].resetPeer")
	if got := faultCounters(t, d, id); got != "kept=0" {
		t.Errorf("after a refused PATCH, status.faults: %s, want kept=0", got)
	}
}
