package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// benchJSON runs sockctl bench briefly with -o json and decodes the
// result.
func benchJSON(t *testing.T, args ...string) (benchResult, error) {
	t.Helper()
	args = append([]string{"bench", "-o", "json", "--warmup", "50ms", "--duration", "300ms", "--timeout", "2s"}, args...)
	out, _, err := sockctl(t, "", args...)
	var r benchResult
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", jerr, out)
	}
	return r, err
}

// TestBench drives real listeners in each mode and checks that replies
// are counted, checked and timed.
func TestBench(t *testing.T) {
	reg := newRegistry(t)
	tcp := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper})
	udp := createListener(t, reg, registry.Spec{Transport: registry.TransportUDP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper})
	raw := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Address: "127.0.0.1:0",
		Framing: registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingRaw}})
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"closed loop", []string{"--conns", "4", "--expect", "upper", tcp.BoundAddr}},
		{"pipelined", []string{"--depth", "16", "--size", "1000", "--expect", "upper", tcp.BoundAddr}},
		{"open loop", []string{"--rate", "2000", "--conns", "2", "--expect", "upper", tcp.BoundAddr}},
		{"udp", []string{"--udp", "--conns", "2", "--depth", "2", "--expect", "upper", udp.BoundAddr}},
		{"raw framing", []string{"--framing", "raw", "--size", "10", raw.BoundAddr}},
		{"big frames", []string{"--size", "200000", "--expect", "upper", tcp.BoundAddr}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := benchJSON(t, tt.args...)
			if err != nil || r.Errors != 0 || r.Messages == 0 || r.MsgsPerSec <= 0 || r.P50Micros <= 0 || r.P999Micros < r.P50Micros {
				t.Fatalf("%+v, %v", r, err)
			}
		})
	}
	// Open loop at 2000/s for 0.3 s is about 600 messages, whatever the
	// listener could do.
	if r, _ := benchJSON(t, "--rate", "2000", "--expect", "upper", tcp.BoundAddr); r.Messages < 500 || r.Messages > 700 {
		t.Fatalf("open loop at 2000/s measured %d messages in 0.3s", r.Messages)
	}
}

// TestBenchChecksReplies: replies that are not what --expect says are
// errors, and the command fails.
func TestBenchChecksReplies(t *testing.T) {
	reg := newRegistry(t)
	echo := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Address: "127.0.0.1:0"})
	r, err := benchJSON(t, "--expect", "upper", echo.BoundAddr)
	if err == nil || r.Errors == 0 || !strings.Contains(r.FirstFailure, "expected") || !strings.Contains(r.FirstFailure, "pass --expect echo") {
		t.Fatalf("%+v, %v; want errors for replies that are not upper-cased, and a hint at --expect echo", r, err)
	}
	// An upper listener fails the default --expect echo, and says so.
	upper := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Address: "127.0.0.1:0", Handler: registry.HandlerUpper})
	r, err = benchJSON(t, upper.BoundAddr)
	if err == nil || !strings.Contains(err.Error(), "the listener upper-cases: pass --expect upper") {
		t.Fatalf("%+v, %v; want a hint at --expect upper", r, err)
	}
	if _, _, err := sockctl(t, "", "bench", "--conns", "0", echo.BoundAddr); err == nil {
		t.Fatal("--conns 0 accepted")
	}
	if _, _, err := sockctl(t, "", "bench", "--framing", "raw", "--expect", "none", echo.BoundAddr); err == nil {
		t.Fatal("raw framing without a reply length accepted")
	}
}

func TestBenchTableOutput(t *testing.T) {
	reg := newRegistry(t)
	echo := createListener(t, reg, registry.Spec{Transport: registry.TransportTCP, Address: "127.0.0.1:0"})
	out := mustSockctl(t, "bench", "--warmup", "0s", "--duration", "100ms", echo.BoundAddr)
	for _, want := range []string{"msgs/s", "MB/s", "p50", "p99", "p999", "errors     0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchUnix loads a Unix stream listener given by its path, with and
// without TLS.
func TestBenchUnix(t *testing.T) {
	reg := newRegistry(t)
	plain := createListener(t, reg, registry.Spec{Transport: registry.TransportUnix, Address: socketPath(t), Handler: registry.HandlerUpper})
	r, err := benchJSON(t, "--unix", plain.BoundAddr, "--conns", "2", "--expect", "upper")
	if err != nil || r.Errors != 0 || r.Messages == 0 || r.Transport != "unix" || r.Address != plain.BoundAddr {
		t.Fatalf("%+v, %v", r, err)
	}
	// TLS is checked against localhost, which the self-signed
	// certificate holds.
	server, _ := startDaemon(t)
	path := socketPath(t)
	l := createTLSListener(t, server, "--id", "tls-unix", "--transport", "unix", "--address", path, "--tls-self-signed", "--handler", "upper")
	r, err = benchJSON(t, "--unix", path, "--tls-ca", certificateFile(t, l), "--expect", "upper")
	if err != nil || r.Errors != 0 || r.Messages == 0 || r.Transport != "unix+tls" {
		t.Fatalf("--tls-ca: %+v, %v", r, err)
	}
	for _, args := range [][]string{
		{"--unix", plain.BoundAddr, "127.0.0.1:1"},
		{"--unix", plain.BoundAddr, "--udp"},
		{},
	} {
		if _, _, err := sockctl(t, "", append([]string{"bench", "--duration", "1ms"}, args...)...); err == nil {
			t.Errorf("bench %q accepted", args)
		}
	}
}
