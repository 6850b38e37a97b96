package rawsock

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMaxConnections: the connection past the limit is closed at once and
// counted; those within it are served.
func TestMaxConnections(t *testing.T) {
	ln := startListener(t, Config{Limits: Limits{MaxConnections: 3}})
	var kept []*client
	for range 3 {
		c := dial(t, ln)
		c.roundTrip("in")
		kept = append(kept, c)
	}
	extra := dial(t, ln)
	if _, err := extra.br.ReadByte(); err != io.EOF && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("connection past the limit: %v, want it closed", err)
	}
	if s := ln.Stats().Snapshot(); s.ConnectionsRejected != 1 || s.ConnectionsTotal != 3 {
		t.Fatalf("stats %+v", s)
	}
	for _, c := range kept {
		if got := c.roundTrip("still"); got != "still" {
			t.Fatalf("got %q", got)
		}
	}
	_ = kept[0].conn.Close()
	waitFor(t, "a slot to free", func() bool { return ln.Stats().Snapshot().ConnectionsActive == 2 })
	if got := dial(t, ln).roundTrip("now in"); got != "now in" {
		t.Fatalf("got %q", got)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestHeaderTimeout: a frame that starts and never finishes gets an error
// frame and a close once the header timeout passes.
func TestHeaderTimeout(t *testing.T) {
	ln := startListener(t, Config{Limits: Limits{HeaderTimeout: 100 * time.Millisecond}})
	slow := dial(t, ln)
	start := time.Now()
	slow.write([]byte{16, 0}) // half a length
	f := slow.recv()
	var hdr struct{ Error string }
	if err := json.Unmarshal(f.Header, &hdr); err != nil || !strings.Contains(hdr.Error, "not complete within 100ms") {
		t.Fatalf("error frame %s", f.Header)
	}
	if _, err := slow.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the error frame: %v", err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the timeout", took)
	}
	if ln.Stats().Snapshot().Errors != 1 {
		t.Fatal("the slow frame was not counted")
	}
}

// TestHeaderTimeoutCountsFromTheFrameStart: a peer that trickles a frame
// byte by byte does not reset the clock with each byte.
func TestHeaderTimeoutCountsFromTheFrameStart(t *testing.T) {
	ln := startListener(t, Config{Limits: Limits{HeaderTimeout: 200 * time.Millisecond}})
	c := dial(t, ln)
	frame, _ := c.codec.AppendFrame(nil, bytes.Repeat([]byte("x"), 100))
	start := time.Now()
	for _, b := range frame {
		if _, err := c.conn.Write([]byte{b}); err != nil {
			break // closed: what the test wants
		}
		time.Sleep(10 * time.Millisecond) // the trickle itself, not synchronisation
	}
	f, err := c.codec.ReadFrame(c.br)
	if err != nil || !strings.Contains(string(f.Header), "not complete within") {
		t.Fatalf("trickled frame: %s %v", f.Header, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("closed after %v: the trickle reset the clock", took)
	}
}

func TestIdleTimeout(t *testing.T) {
	ln := startListener(t, Config{Limits: Limits{IdleTimeout: 100 * time.Millisecond}})
	c := dial(t, ln)
	c.roundTrip("hi")
	start := time.Now()
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Fatalf("closed after %v", took)
	}
	if s := ln.Stats().Snapshot(); s.Errors != 0 {
		t.Fatalf("an idle close counted as an error: %+v", s)
	}
	never := startListener(t, Config{Limits: Limits{IdleTimeout: NoTimeout, HeaderTimeout: 50 * time.Millisecond}})
	c = dial(t, never)
	c.roundTrip("hi")
	_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("with no idle timeout: %v, want the client's own deadline", err)
	}
}

// TestSlowLorisDoesNotStarveOthers: many connections holding half a frame
// each do not keep a normal client from being served.
func TestSlowLorisDoesNotStarveOthers(t *testing.T) {
	const loris = 1000
	ln := startListener(t, Config{Handler: Upper{}, Limits: Limits{MaxConnections: loris + 10}})
	for range loris {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{16, 0, 0, 0, '{', '"'}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every slow connection", func() bool { return ln.Stats().Snapshot().ConnectionsActive == loris })
	start := time.Now()
	if got := dial(t, ln).roundTrip("served"); got != "SERVED" {
		t.Fatalf("got %q", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the normal client waited %v", took)
	}
}

// TestDatagramRepliesNeverAmplify: a reply larger than its request is not
// sent unless the listener allows it.
func TestDatagramRepliesNeverAmplify(t *testing.T) {
	grow := HandlerFunc(func(w ResponseWriter, r *Request) { _ = w.Reply(bytes.Repeat(r.Body, 10)) })
	for _, allow := range []bool{false, true} {
		ln := startListener(t, Config{Network: "udp", Handler: grow, Limits: Limits{AllowLargerDatagramReplies: allow}})
		c := dialUDP(t, ln)
		frame, _ := ln.current().request.AppendFrame(nil, []byte("x"))
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 1024)
		n, err := c.Read(buf)
		if allow && (err != nil || n <= len(frame)) {
			t.Fatalf("allowed: %d bytes, %v", n, err)
		}
		if !allow && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("not allowed: got %d bytes (%v), want no reply", n, err)
		}
		if !allow && ln.Stats().Snapshot().Errors != 1 {
			t.Fatal("the refused reply was not counted")
		}
	}
}
