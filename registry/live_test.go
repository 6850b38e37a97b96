package registry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// TestUpdateKeepsTheConnection: an echo listener becomes upper while a
// client stays connected; its next frame comes back uppercased, on the
// same connection, and the etag and generation move.
func TestUpdateKeepsTheConnection(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), tcpSpec("live"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, info.BoundAddr)
	c.write(mustFrame(t, "before"))
	if f := c.recv(); string(f.Body) != "before" {
		t.Fatalf("echo: %q", f.Body)
	}
	spec, etag, err := r.Desired("live")
	if err != nil || etag != info.Etag {
		t.Fatalf("Desired = %v, %q, %v", spec, etag, err)
	}
	spec.Handler = HandlerUpper
	spec.Limits.MaxBodyBytes = 16
	updated, err := r.Update(t.Context(), spec, etag)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Etag == info.Etag || updated.Generation != 2 || updated.ObservedGeneration != 2 || updated.BoundAddr != info.BoundAddr {
		t.Fatalf("after update: %+v", updated)
	}
	c.write(mustFrame(t, "after"))
	if f := c.recv(); string(f.Body) != "AFTER" {
		t.Fatalf("the same connection after the update: %q, want AFTER", f.Body)
	}
	c.write(mustFrame(t, strings.Repeat("x", 17)))
	if f := c.recv(); !strings.Contains(string(f.Header), "exceeds the limit of 16") {
		t.Fatalf("the new body limit on the open connection: %s", f.Header)
	}
	if _, err := r.Update(t.Context(), spec, etag); !errors.Is(err, ErrEtagMismatch) {
		t.Fatalf("update with the old etag = %v, want ErrEtagMismatch", err)
	}
	if _, err := r.Stop(t.Context(), "live", StopOptions{Etag: etag}); !errors.Is(err, ErrEtagMismatch) {
		t.Fatalf("stop with the old etag = %v, want ErrEtagMismatch", err)
	}
	same, err := r.Update(t.Context(), spec, "")
	if err != nil || same.Generation != 2 {
		t.Fatalf("an update that changes nothing: %+v, %v", same, err)
	}
}

// TestUpdateRebinds: a new address binds first; a taken one fails the
// update and changes nothing.
func TestUpdateRebinds(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), tcpSpec("move"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	spec, _, _ := r.Desired("move")
	spec.Address = taken.Addr().String()
	if _, err := r.Update(t.Context(), spec, ""); !errors.Is(err, rawsock.ErrAddrInUse) {
		t.Fatalf("update to a taken address = %v, want ErrAddrInUse", err)
	}
	if now, _ := r.Get("move"); now.BoundAddr != info.BoundAddr || now.Generation != 1 || now.Spec.Address != "127.0.0.1:0" {
		t.Fatalf("a failed rebind changed the listener: %+v", now)
	}
	spec.Address = "127.0.0.1:0"
	spec.Transport = TransportUDP
	moved, err := r.Update(t.Context(), spec, "")
	if err != nil || moved.State != StateRunning || moved.Spec.Transport != TransportUDP {
		t.Fatalf("rebind to UDP: %+v, %v", moved, err)
	}
	if c, err := net.Dial("tcp", info.BoundAddr); err == nil {
		c.Close()
		t.Fatal("the old TCP socket still accepts")
	}
}

func mustFrame(t *testing.T, body string) []byte {
	t.Helper()
	var c wire.Codec
	f, err := c.AppendFrame(nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLabelsSelectAndBatchDelete(t *testing.T) {
	r := newTestRegistry(t)
	for i, l := range []map[string]string{
		{"env": "ci", "team": "net"}, {"env": "ci", "team": "web"}, {"env": "dev"}, nil,
	} {
		spec := tcpSpec(fmt.Sprintf("l%d", i))
		spec.Labels = l
		if _, err := r.Create(t.Context(), spec, CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(infos []Info) string {
		var s []string
		for _, i := range infos {
			s = append(s, i.Spec.ID)
		}
		return strings.Join(s, ",")
	}
	for selector, want := range map[string]string{
		"env=ci":               "l0,l1",
		"env=ci,team!=web":     "l0",
		"env in (ci,dev)":      "l0,l1,l2",
		"!env":                 "l3",
		"":                     "l0,l1,l2,l3",
		"team,env notin (dev)": "l0,l1",
	} {
		sel, err := ParseSelector("filter", selector)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(r.List(sel)); got != want {
			t.Errorf("List(%q) = %s, want %s", selector, got, want)
		}
	}
	var fe *rawsock.FieldError
	if _, err := ParseSelector("filter", "env in ci"); !errors.As(err, &fe) || fe.Field != "filter" {
		t.Fatalf("a bad selector: %v", err)
	}
	bad := tcpSpec("bad")
	bad.Labels = map[string]string{"-nope": "x"}
	if _, err := r.Create(t.Context(), bad, CreateOptions{}); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "labels") {
		t.Fatalf("a bad label key: %v", err)
	}
	sel, _ := ParseSelector("filter", "env=ci")
	deleted, err := r.DeleteMatching(t.Context(), sel, []string{"l3", "nobody"}, StopOptions{Immediate: true})
	if err != nil || strings.Join(deleted, ",") != "l0,l1,l3" {
		t.Fatalf("DeleteMatching = %v, %v", deleted, err)
	}
	if got := ids(r.List(nil)); got != "l2" {
		t.Fatalf("left: %s", got)
	}
}

func TestRequestIDMakesCreateRetriable(t *testing.T) {
	r := newTestRegistry(t)
	opts := CreateOptions{RequestID: "req-1"}
	spec := Spec{Transport: TransportTCP, Address: "127.0.0.1:0", TTL: time.Hour}
	first, err := r.Create(t.Context(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Create(t.Context(), spec, opts)
	if err != nil || again.Spec.ID != first.Spec.ID || again.BoundAddr != first.BoundAddr {
		t.Fatalf("retry = %+v, %v; want the first listener %s", again, err, first.Spec.ID)
	}
	if n := len(r.List(nil)); n != 1 {
		t.Fatalf("%d listeners after a retry", n)
	}
	other := spec
	other.Handler = HandlerUpper
	if _, err := r.Create(t.Context(), other, opts); !errors.Is(err, ErrRequestReused) {
		t.Fatalf("the request id with another spec = %v, want ErrRequestReused", err)
	}
	if err := r.Delete(t.Context(), first.Spec.ID, StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	if fresh, err := r.Create(t.Context(), other, opts); err != nil || fresh.Spec.ID == first.Spec.ID {
		t.Fatalf("after delete the request id is free: %+v, %v", fresh, err)
	}
}

// TestTTLExpiresEagerly: a listener with a TTL is deleted by a timer
// within a second of its time, with an event, without anyone asking; an
// update of the TTL extends it.
func TestTTLExpiresEagerly(t *testing.T) {
	r := newTestRegistry(t)
	sub := r.Events().Subscribe("", 64)
	defer sub.Close()
	short := tcpSpec("short")
	short.TTL = 300 * time.Millisecond
	created, err := r.Create(t.Context(), short, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.ExpireTime.IsZero() || created.Spec.TTL != 0 {
		t.Fatalf("ttl not turned into an expire time: %+v", created.Spec)
	}
	extended := tcpSpec("extended")
	extended.TTL = 300 * time.Millisecond
	if _, err := r.Create(t.Context(), extended, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec, _, _ := r.Desired("extended")
	spec.TTL = time.Hour
	if _, err := r.Update(t.Context(), spec, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Until(created.Spec.ExpireTime) + time.Second)
	for expired := false; !expired; {
		select {
		case e := <-sub.Events():
			expired = e.Type == rawsock.EventListenerExpired && e.ListenerID == "short"
		case <-deadline:
			t.Fatal("no expiry within 1s of the listener's time")
		}
	}
	if _, err := r.Get("short"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired listener: %v", err)
	}
	if info, err := r.Get("extended"); err != nil || time.Until(info.Spec.ExpireTime) < 50*time.Minute {
		t.Fatalf("extended listener: %+v, %v", info, err)
	}
}

// TestExpiryPassedWhileDown: a stored listener whose time passed before
// the restore is deleted at start, from the store too.
func TestExpiryPassedWhileDown(t *testing.T) {
	st := newMemStore()
	r := New(slog.New(slog.DiscardHandler), Policy{}, st)
	spec := tcpSpec("gone")
	spec.TTL = time.Hour
	if _, err := r.Create(t.Context(), spec, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(t.Context(), tcpSpec("kept"), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rec := st.recs["gone"]
	rec.Spec.ExpireTime = time.Now().Add(-time.Minute) // as if an hour went by
	st.recs["gone"] = rec

	again := New(slog.New(slog.DiscardHandler), Policy{}, st)
	t.Cleanup(func() { _ = again.Close() })
	if restored, _, err := again.Restore(t.Context()); err != nil || restored != 1 {
		t.Fatalf("Restore = %d, %v; want only the unexpired one", restored, err)
	}
	if _, err := again.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired while down: %v", err)
	}
	if _, ok := st.recs["gone"]; ok {
		t.Fatal("the expired record is still stored")
	}
}

// TestUpdateAfterRestartOnTheSamePort: a port-0 listener stopped and
// started comes back on the port it had, and an update still applies in
// place (it asked for port 0; it runs on the port it got).
func TestUpdateAfterRestartOnTheSamePort(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), tcpSpec("again"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(t.Context(), "again", StopOptions{Immediate: true}); err != nil {
		t.Fatal(err)
	}
	started, err := r.Start(t.Context(), "again", "")
	if err != nil {
		t.Fatal(err)
	}
	if started.BoundAddr != info.BoundAddr {
		t.Skipf("the port %s was taken meanwhile; got %s", info.BoundAddr, started.BoundAddr)
	}
	spec, _, err := r.Desired("again")
	if err != nil {
		t.Fatal(err)
	}
	spec.Handler = HandlerUpper
	if _, err := r.Update(t.Context(), spec, ""); err != nil {
		t.Fatalf("update after a restart on the same port: %v", err)
	}
	c := dial(t, started.BoundAddr)
	c.write(mustFrame(t, "up"))
	if f := c.recv(); string(f.Body) != "UP" {
		t.Fatalf("after the update: %q", f.Body)
	}
}

// TestUpdateUnixModeInPlace: a new mode is a chmod of the socket file;
// the open connection stays.
func TestUpdateUnixModeInPlace(t *testing.T) {
	r := newTestRegistry(t)
	path := t.TempDir() + "/u.sock"
	if _, err := r.Create(t.Context(), Spec{ID: "u", Transport: TransportUnix, Address: path}, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	spec, _, err := r.Desired("u")
	if err != nil {
		t.Fatal(err)
	}
	spec.UnixMode = 0o660
	if _, err := r.Update(t.Context(), spec, ""); err != nil {
		t.Fatalf("update of the mode of a running Unix listener: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("mode %v, %v; want 0660", st.Mode().Perm(), err)
	}
	frame := mustFrame(t, "still")
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(frame))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != string(frame) {
		t.Fatalf("the open connection after the chmod: %q, %v", buf, err)
	}
}
