package registry

import (
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/sockplane/sockplane/command"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

func TestRegistryExecIsOffByDefault(t *testing.T) {
	r := newTestRegistry(t)
	_, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec}, CreateOptions{})
	if !errors.Is(err, ErrExecDisabled) {
		t.Fatalf("Create = %v, want ErrExecDisabled", err)
	}
}

func TestRegistryExecRules(t *testing.T) {
	r := newTestRegistry(t, Policy{ExecAllow: []string{"echo", "date"}})
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
		var fe *rawsock.FieldError
		if _, err := r.Create(t.Context(), tt.spec, CreateOptions{}); !errors.As(err, &fe) || fe.Field != tt.field {
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
	r := newTestRegistry(t, Policy{ExecAllow: []string{"echo", "date"}})
	info, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerExec,
		Framing: FramingSpec{Request: wire.FramingRaw}, Exec: ExecSpec{Allow: []string{"echo"}}}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := ExecSpec{Allow: []string{"echo"}, Timeout: command.DefaultTimeout, MaxOutputBytes: command.DefaultMaxOutputBytes, MaxConcurrent: command.DefaultMaxConcurrent}
	if e := info.Spec.Exec; len(e.Allow) != 1 || e.Timeout != want.Timeout || e.MaxOutputBytes != want.MaxOutputBytes || e.MaxConcurrent != want.MaxConcurrent {
		t.Fatalf("exec defaults = %+v, want %+v", e, want)
	}
	c := dial(t, info.BoundAddr)
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
