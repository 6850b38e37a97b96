package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

// options are the daemon's flags. Every default works on a fresh machine.
type options struct {
	// grpcAddr is where the gRPC API listens. Default: 127.0.0.1:7070.
	grpcAddr string
	// httpAddr is where the HTTP server listens: the REST gateway, and
	// GET /metrics, /healthz, /readyz and /openapi.json. Default:
	// 127.0.0.1:7080.
	httpAddr string
	// shutdownTimeout bounds the whole shutdown on SIGINT or SIGTERM:
	// API servers, then listeners draining. Default: 10s.
	shutdownTimeout time.Duration
	// logLevel is debug, info, warn or error. Default: info.
	logLevel string
	// logFormat is text or json. Default: text.
	logFormat string
	// dataDir holds the store of the listeners' desired state. Default:
	// $XDG_STATE_HOME/sockplane, else ~/.local/state/sockplane; "": none,
	// state lives in memory only.
	dataDir string
	// maxListeners bounds how many listeners may exist. Default: 1000.
	maxListeners int
	// execAllow lists the programs exec listeners may run. Default: none,
	// which leaves the exec handler off.
	execAllow []string
}

func newCommand(serve func(options) error) *cobra.Command {
	var opts options
	cmd := &cobra.Command{
		Use:   "sockplane",
		Short: "Start, stop and inspect raw TCP and UDP listeners through a gRPC and REST API",
		Long: `sockplane is a daemon with a gRPC API and a REST API (grpc-gateway) that
start, stop and inspect raw socket listeners at run time. Each listener
speaks the framed-header protocol: a 4-byte header length, a JSON header
such as {"data_size": N}, then N bytes.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(*cobra.Command, []string) error { return serve(opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.grpcAddr, "grpc-addr", "127.0.0.1:7070", "address of the gRPC API (port 0: any free port)")
	f.StringVar(&opts.httpAddr, "http-addr", "127.0.0.1:7080", "address of the REST API, /metrics, /healthz, /readyz and /openapi.json (port 0: any free port)")
	f.DurationVar(&opts.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown may take before connections are cut")
	f.StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&opts.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&opts.dataDir, "data-dir", defaultDataDir(), `directory of the listeners' saved state, restored at start ("": keep it in memory only)`)
	f.IntVar(&opts.maxListeners, "max-listeners", 1000, "how many listeners may exist at once (0: no bound)")
	f.StringSliceVar(&opts.execAllow, "exec-allow", nil, "programs exec listeners may run, e.g. ls,echo,uname,date (default: none; the exec handler is off)")
	return cmd
}

func (o options) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
}

// defaultDataDir is the per-user state directory of the XDG base
// directory convention, or "" (memory only) where there is no home.
func defaultDataDir() string {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "sockplane")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "state", "sockplane")
}
