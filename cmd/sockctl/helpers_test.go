package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/sockplane/sockplane/api"
	"github.com/sockplane/sockplane/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// newRegistry returns a registry whose listeners are shut down when the
// test ends.
func newRegistry(tb testing.TB, policy ...registry.Policy) *registry.Registry {
	tb.Helper()
	var p registry.Policy
	if len(policy) > 0 {
		p = policy[0]
	}
	reg := registry.New(slog.New(slog.DiscardHandler), p, nil)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := reg.Shutdown(ctx); err != nil {
			tb.Errorf("registry shutdown: %v", err)
		}
	})
	return reg
}

// startDaemon serves the gRPC API over a new registry with policy on
// 127.0.0.1:0 and returns the API's address and the registry.
func startDaemon(tb testing.TB, policy ...registry.Policy) (string, *registry.Registry) {
	tb.Helper()
	reg := newRegistry(tb, policy...)
	s := grpc.NewServer()
	api.RegisterGRPC(s, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	// Cleanups run last-added first: the server stops before the
	// registry shuts down.
	tb.Cleanup(func() {
		s.Stop()
		select {
		case <-served:
		case <-time.After(testTimeout):
			tb.Errorf("grpc server did not stop within %v", testTimeout)
		}
	})
	return ln.Addr().String(), reg
}

// createListener creates a listener in reg on 127.0.0.1:0.
func createListener(tb testing.TB, reg *registry.Registry, spec registry.Spec) registry.Info {
	tb.Helper()
	if spec.Address == "" {
		spec.Address = "127.0.0.1:0"
	}
	info, err := reg.Create(context.Background(), spec, registry.CreateOptions{})
	if err != nil {
		tb.Fatalf("create listener: %v", err)
	}
	return info
}

// sockctl runs the command line in process, with stdin as its input.
func sockctl(tb testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustSockctl runs the command line and fails the test if it fails.
func mustSockctl(tb testing.TB, args ...string) string {
	tb.Helper()
	out, stderr, err := sockctl(tb, "", args...)
	if err != nil {
		tb.Fatalf("sockctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		tb.Errorf("%s differs (run go test -update if the change is right)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
