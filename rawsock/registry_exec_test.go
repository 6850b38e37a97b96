package rawsock

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"testing"
	"time"
)

func TestRegistryExecIsOffByDefault(t *testing.T) {
	r := newTestRegistry(t)
	_, err := r.Create(Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec})
	if !errors.Is(err, ErrExecDisabled) {
		t.Fatalf("Create = %v, want ErrExecDisabled", err)
	}
}

func TestRegistryExecRules(t *testing.T) {
	r := NewRegistry(slog.New(slog.DiscardHandler), WithExecAllow([]string{"echo", "date"}))
	t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
	for _, tt := range []struct {
		name  string
		spec  Spec
		field string
	}{
		{"udp", Spec{Transport: TransportUDP, Address: "127.0.0.1:0", Handler: HandlerExec}, "handler"},
		{"unixgram", Spec{Transport: TransportUnixgram, Address: "/tmp/x.sock", Handler: HandlerExec}, "handler"},
		{"beyond the daemon's list", Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec, Exec: ExecSpec{Allow: []string{"rm"}}}, "exec.allow"},
		{"negative timeout", Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec, Exec: ExecSpec{Timeout: -time.Second}}, "exec.timeout"},
		{"exec options on echo", Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Exec: ExecSpec{MaxConcurrent: 2}}, "exec"},
	} {
		var fe *FieldError
		if _, err := r.Create(tt.spec); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: %v, want a FieldError on %s", tt.name, err, tt.field)
		}
	}
}

// TestRegistryExecRuns is the tutorial's command server: raw request in,
// JSON header and output out, with the defaults filled in.
func TestRegistryExecRuns(t *testing.T) {
	if _, err := exec.LookPath("echo"); err != nil {
		t.Skip("no echo program on this machine")
	}
	r := NewRegistry(slog.New(slog.DiscardHandler), WithExecAllow([]string{"echo", "date"}))
	t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
	info, err := r.Create(Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec,
		Framing: FramingSpec{Request: FramingRaw}, Exec: ExecSpec{Allow: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := ExecSpec{Allow: []string{"echo"}, Timeout: DefaultExecTimeout, MaxOutputBytes: DefaultExecMaxOutputBytes, MaxConcurrent: DefaultExecMaxConcurrent}
	if e := info.Spec.Exec; len(e.Allow) != 1 || e.Timeout != want.Timeout || e.MaxOutputBytes != want.MaxOutputBytes || e.MaxConcurrent != want.MaxConcurrent {
		t.Fatalf("exec defaults = %+v, want %+v", e, want)
	}
	conn, err := net.Dial("tcp", info.BoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	c := &client{tb: t, conn: conn, codec: Codec{}}
	c.br = bufio.NewReader(conn)
	c.write([]byte("echo a; rm -rf x"))
	f := c.recv()
	var hdr map[string]any
	if err := json.Unmarshal(f.Header, &hdr); err != nil {
		t.Fatal(err)
	}
	if string(f.Body) != "a; rm -rf x\n" || hdr["exit_code"] != 0.0 || hdr["timed_out"] != false {
		t.Fatalf("reply %s %q", f.Header, f.Body)
	}
	c.write([]byte("date"))
	if f := c.recv(); string(f.Body) != "sockplane: date: not allowed (allowed: echo)\n" {
		t.Fatalf("a program the listener narrowed away: %q", f.Body)
	}
}
