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

	// authToken is the bearer token every API call but health must carry,
	// given on the command line. Default: "", none.
	authToken string
	// authTokenFile is a file holding the token instead, read once at
	// start and trimmed; group and others must have no access to it.
	// Default: "", none.
	authTokenFile string
	// tlsCert and tlsKey are the PEM certificate (chain) and private key
	// both API ports serve TLS with. Default: "", plaintext.
	tlsCert, tlsKey string
	// tlsClientCA holds the PEM CA certificates client certificates must
	// chain to: with it both ports require one (mutual TLS). Default: "",
	// no client certificates.
	tlsClientCA string

	cluster clusterOptions
}

func newCommand(serve func(options) error) *cobra.Command {
	var opts options
	cmd := &cobra.Command{
		Use:   "sockplane",
		Short: "Start, stop and inspect raw TCP and UDP listeners through a gRPC and REST API",
		Long: `sockplane is a daemon with a gRPC API and a REST API (grpc-gateway) that
start, stop and inspect raw socket listeners at run time. Each listener
speaks the framed-header protocol: a 4-byte header length, a JSON header
such as {"data_size": N}, then N bytes.

The API is on loopback by default. --auth-token-file makes every call but
health carry "Authorization: Bearer <token>"; --tls-cert and --tls-key serve
both ports over TLS, and --tls-client-ca requires client certificates
(mutual TLS). A non-loopback --grpc-addr or --http-addr is refused unless a
token or mutual TLS is set.`,
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
	f.StringVar(&opts.authToken, "auth-token", "", "bearer `TOKEN` every API call but health must carry (other local users can read it in the process list: prefer --auth-token-file)")
	f.StringVar(&opts.authTokenFile, "auth-token-file", "", "`FILE` holding the bearer token, read at start and trimmed; it must not be accessible to group or others (chmod 600)")
	f.StringVar(&opts.tlsCert, "tls-cert", "", "PEM certificate (chain) `FILE` both API ports serve TLS with; needs --tls-key")
	f.StringVar(&opts.tlsKey, "tls-key", "", "PEM private key `FILE` of --tls-cert")
	f.StringVar(&opts.tlsClientCA, "tls-client-ca", "", "`FILE` of PEM CA certificates of the clients: both API ports then require a client certificate signed by one (mutual TLS)")
	addClusterFlags(f, &opts.cluster)
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
