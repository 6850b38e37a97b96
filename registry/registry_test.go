package registry

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

func TestRegistryLifecycle(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), Spec{ID: "up", Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerUpper}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateRunning || strings.HasSuffix(info.BoundAddr, ":0") || info.StartedAt.IsZero() {
		t.Fatalf("created: %+v", info)
	}
	want := FramingSpec{Request: wire.FramingJSONHeader, Response: wire.FramingJSONHeader, ByteOrder: wire.LittleEndian}
	if info.Spec.Framing != want {
		t.Fatalf("framing defaults = %+v, want %+v", info.Spec.Framing, want)
	}
	addr := info.BoundAddr
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	stopped, err := r.Stop(t.Context(), "up", StopOptions{})
	if err != nil || stopped.State != StateStopped || stopped.BoundAddr != "" {
		t.Fatalf("Stop = %+v, %v", stopped, err)
	}
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a stopped listener: %v, want refused", err)
	}
	if again, err := r.Stop(t.Context(), "up", StopOptions{}); err != nil || again.State != StateStopped {
		t.Fatalf("second Stop = %+v, %v; want a no-op", again, err)
	}

	started, err := r.Start(t.Context(), "up", "")
	if err != nil || started.State != StateRunning || started.BoundAddr != addr {
		t.Fatalf("Start = %+v, %v; want running on %s again", started, err, addr)
	}
	if again, err := r.Start(t.Context(), "up", ""); err != nil || again.BoundAddr != started.BoundAddr {
		t.Fatalf("second Start = %+v, %v; want a no-op", again, err)
	}
	if list := r.List(nil); len(list) != 1 || list[0].Spec.ID != "up" {
		t.Fatalf("List = %+v", list)
	}

	if err := r.Delete(t.Context(), "up", StopOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Get":    func() error { _, err := r.Get("up"); return err },
		"Stop":   func() error { _, err := r.Stop(t.Context(), "up", StopOptions{}); return err },
		"Start":  func() error { _, err := r.Start(t.Context(), "up", ""); return err },
		"Delete": func() error { return r.Delete(t.Context(), "up", StopOptions{}) },
	} {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after Delete = %v, want ErrNotFound", name, err)
		}
	}
}

func TestRegistryConflicts(t *testing.T) {
	r := newTestRegistry(t)
	first, err := r.Create(t.Context(), Spec{ID: "a", Transport: TransportUDP, Address: "127.0.0.1:0"}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(t.Context(), Spec{ID: "a", Transport: TransportUDP, Address: "127.0.0.1:0"}, CreateOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v, want ErrExists", err)
	}
	_, err = r.Create(t.Context(), Spec{ID: "b", Transport: TransportUDP, Address: first.BoundAddr}, CreateOptions{})
	if !errors.Is(err, rawsock.ErrAddrInUse) {
		t.Fatalf("used address: %v, want rawsock.ErrAddrInUse", err)
	}
	if _, err := r.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a listener that could not bind was registered: %v", err)
	}

}

func TestRegistryStartFailsWhenPortTaken(t *testing.T) {
	r := newTestRegistry(t)
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().String()
	_ = probe.Close()
	if _, err := r.Create(t.Context(), Spec{ID: "fixed", Transport: TransportUDP, Address: port}, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(t.Context(), "fixed", StopOptions{}); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.ListenPacket("udp", port)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	info, err := r.Start(t.Context(), "fixed", "")
	if !errors.Is(err, rawsock.ErrAddrInUse) || info.State != StateFailed || !strings.Contains(info.Error, port) {
		t.Fatalf("Start on a taken port = %+v, %v; want StateFailed and rawsock.ErrAddrInUse", info, err)
	}
	_ = squatter.Close()
	if info, err := r.Start(t.Context(), "fixed", ""); err != nil || info.State != StateRunning || info.Error != "" {
		t.Fatalf("Start once the port is free = %+v, %v", info, err)
	}
}

// TestRegistryPortZeroMovesWhenTaken: a port-0 listener whose old port
// was taken while it was stopped starts on another free port.
func TestRegistryPortZeroMovesWhenTaken(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), Spec{ID: "any", Transport: TransportTCP, Address: "127.0.0.1:0"}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stop(t.Context(), "any", StopOptions{}); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", info.BoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	again, err := r.Start(t.Context(), "any", "")
	if err != nil || again.State != StateRunning || again.BoundAddr == info.BoundAddr {
		t.Fatalf("Start = %+v, %v; want running on another port than %s", again, err, info.BoundAddr)
	}
}

func TestRegistryRefusesAfterShutdown(t *testing.T) {
	r := New(slog.New(slog.DiscardHandler), Policy{}, nil)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0"}, CreateOptions{}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Create after Shutdown = %v, want ErrShuttingDown", err)
	}
}

func TestRegistryUnixStopStartSamePath(t *testing.T) {
	r := newTestRegistry(t)
	path := filepath.Join(t.TempDir(), "r.sock")
	info, err := r.Create(t.Context(), Spec{ID: "u", Transport: TransportUnix, Address: path, Handler: HandlerUpper}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec.UnixMode != rawsock.DefaultUnixMode || info.BoundAddr != path {
		t.Fatalf("created %+v", info)
	}
	for range 3 {
		if _, err := r.Stop(t.Context(), "u", StopOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("socket file of a stopped listener: %v", err)
		}
		if info, err := r.Start(t.Context(), "u", ""); err != nil || info.BoundAddr != path {
			t.Fatalf("Start = %+v, %v", info, err)
		}
	}
	if err := r.Delete(t.Context(), "u", StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file of a deleted listener: %v", err)
	}
}

func TestRegistryGeneratesIDs(t *testing.T) {
	r := newTestRegistry(t)
	seen := map[string]bool{}
	for range 20 {
		info, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0"}, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^tcp-[0-9a-f]{8}$`).MatchString(info.Spec.ID) || seen[info.Spec.ID] {
			t.Fatalf("generated id %q", info.Spec.ID)
		}
		seen[info.Spec.ID] = true
		if err := ValidateID(info.Spec.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	ok := Spec{Transport: TransportTCP, Address: "127.0.0.1:0"}
	tests := []struct {
		name  string
		edit  func(*Spec)
		field string
	}{
		{"uppercase id", func(s *Spec) { s.ID = "Upper" }, "id"},
		{"id with a slash", func(s *Spec) { s.ID = "a/b" }, "id"},
		{"id too long", func(s *Spec) { s.ID = strings.Repeat("a", 64) }, "id"},
		{"no transport", func(s *Spec) { s.Transport = "" }, "transport"},
		{"unknown transport", func(s *Spec) { s.Transport = "sctp" }, "transport"},
		{"no address", func(s *Spec) { s.Address = "" }, "address"},
		{"no port", func(s *Spec) { s.Address = "127.0.0.1" }, "address"},
		{"port out of range", func(s *Spec) { s.Address = "127.0.0.1:65536" }, "address"},
		{"port not a number", func(s *Spec) { s.Address = "127.0.0.1:http" }, "address"},
		{"unknown handler", func(s *Spec) { s.Handler = "frobnicate" }, "handler"},
		{"unknown request framing", func(s *Spec) { s.Framing.Request = 9 }, "framing.request"},
		{"unknown response framing", func(s *Spec) { s.Framing.Response = 9 }, "framing.response"},
		{"unknown byte order", func(s *Spec) { s.Framing.ByteOrder = 9 }, "framing.byteOrder"},
		{"unix mode on tcp", func(s *Spec) { s.UnixMode = 0o600 }, "unixMode"},
		{"unix without a path", func(s *Spec) { s.Transport, s.Address = TransportUnix, "" }, "address"},
		{"unix path too long", func(s *Spec) { s.Transport, s.Address = TransportUnix, "/"+strings.Repeat("a", 107) }, "address"},
		{"unix path with NUL", func(s *Spec) { s.Transport, s.Address = TransportUnixgram, "/tmp/a\x00b" }, "address"},
		{"unix mode beyond permissions", func(s *Spec) { s.Transport, s.Address, s.UnixMode = TransportUnix, "/tmp/x.sock", 0o4755 }, "unixMode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			var fe *rawsock.FieldError
			if err := s.withDefaults().validate(); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
	if err := (Spec{ID: strings.Repeat("a-9", 21), Transport: TransportUDP, Address: "[::1]:0"}).withDefaults().validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
}
