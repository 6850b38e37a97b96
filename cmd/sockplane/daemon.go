package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"

	"github.com/sockplane/sockplane/api"
	"github.com/sockplane/sockplane/rawsock"
)

// daemon is the running control plane: the listener registry, the gRPC
// server and the REST gateway in front of it.
type daemon struct {
	opts   options
	log    *slog.Logger
	reg    *rawsock.Registry
	grpcLn net.Listener
	httpLn net.Listener
	grpc   *grpc.Server
	health *health.Server
	http   *http.Server
	conn   *grpc.ClientConn // the gateway's connection to the gRPC server
}

// newDaemon binds both API ports, so a port in use is reported at once
// and port 0 resolves to a real port before anyone asks.
func newDaemon(opts options, log *slog.Logger) (*daemon, error) {
	d := &daemon{opts: opts, log: log, reg: rawsock.NewRegistry(log, rawsock.WithExecAllow(opts.execAllow))}
	var err error
	if d.grpcLn, err = net.Listen("tcp", opts.grpcAddr); err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	if d.httpLn, err = net.Listen("tcp", opts.httpAddr); err != nil {
		_ = d.grpcLn.Close()
		return nil, fmt.Errorf("--http-addr: %w", err)
	}
	d.grpc = grpc.NewServer()
	d.health = api.RegisterGRPC(d.grpc, d.reg)

	d.conn, err = grpc.NewClient(d.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		var gw http.Handler
		if gw, err = api.NewGateway(context.Background(), d.conn); err == nil {
			d.http = &http.Server{
				Handler:           gw,
				ReadHeaderTimeout: 10 * time.Second,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			}
		}
	}
	if err != nil {
		_ = d.grpcLn.Close()
		_ = d.httpLn.Close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) grpcAddr() string { return d.grpcLn.Addr().String() }
func (d *daemon) httpAddr() string { return d.httpLn.Addr().String() }

// serve runs the API servers until ctx ends or one of them fails, then
// shuts everything down within opts.shutdownTimeout.
func (d *daemon) serve(ctx context.Context) error {
	d.log.Info("sockplane serving", "grpc", d.grpcAddr(), "http", d.httpAddr())
	if len(d.opts.execAllow) > 0 {
		d.log.Warn("the exec handler is on: exec listeners run these programs for their clients", "programs", d.opts.execAllow)
		if risky := commandRunners(d.opts.execAllow); len(risky) > 0 {
			d.log.Warn("these allowed programs can run any other program, so the allow list does not bound what clients run", "programs", risky)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := d.grpc.Serve(d.grpcLn); err != nil {
			return fmt.Errorf("grpc server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := d.http.Serve(d.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return d.shutdown()
	})
	return g.Wait()
}

// shutdown stops the API first, so no call races the listeners' drain,
// then drains every listener; past the deadline it cuts what is left.
func (d *daemon) shutdown() error {
	d.log.Info("shutting down", "timeout", d.opts.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.shutdownTimeout)
	defer cancel()
	d.health.Shutdown()

	var errs []error
	if err := d.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		_ = d.http.Close()
	}
	stopped := make(chan struct{})
	go func() {
		d.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		d.grpc.Stop()
		<-stopped
	}
	_ = d.conn.Close()
	if err := d.reg.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("listeners: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("shutdown cut short", "error", err)
		return nil // what could be drained was; the rest was closed
	}
	d.log.Info("shutdown complete")
	return nil
}

// commandRunners picks out the programs that run other programs given as
// arguments: allowing one of them allows everything.
func commandRunners(programs []string) []string {
	var risky []string
	for _, p := range programs {
		switch filepath.Base(p) {
		case "sh", "bash", "dash", "zsh", "ksh", "fish", "busybox", "env", "xargs", "find", "awk", "gawk", "mawk",
			"perl", "python", "python3", "ruby", "node", "lua", "sudo", "su", "nohup", "nice", "timeout", "setsid", "script", "ssh", "docker":
			risky = append(risky, p)
		}
	}
	return risky
}
