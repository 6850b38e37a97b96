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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/status"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockplane/sockplane/api"
	"github.com/sockplane/sockplane/cluster/agent"
	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/registry/boltstore"
)

// daemon is the running control plane: the listener registry, the gRPC
// server, and the HTTP server with the REST gateway in front of it, the
// metrics, the health probes and the OpenAPI document.
type daemon struct {
	store     *boltstore.Store // nil without --data-dir
	opts      options
	sec       *security // token, TLS; settled before anything binds
	log       *slog.Logger
	reg       *registry.Registry
	grpcLn    net.Listener
	httpLn    net.Listener
	gatewayLn *gatewayListener // the gRPC server's in-process listener for the gateway
	grpc      *grpc.Server
	health    *health.Server
	http      *http.Server
	conn      *grpc.ClientConn // the gateway's connection to the gRPC server
	policy    registry.Policy

	// In cluster mode (--etcd-endpoints): the etcd client, this node's
	// agent, and the connections to the other nodes' APIs.
	etcd    *clientv3.Client
	agent   *agent.Agent
	forward *api.Forwarder

	// draining ends when shutdown begins; endStreamsOnShutdown ends the
	// open gRPC streams with it.
	draining   context.Context
	startDrain context.CancelFunc
}

// newDaemon binds both API ports, so a port in use is reported at once
// and port 0 resolves to a real port before anyone asks.
func newDaemon(opts options, log *slog.Logger) (d *daemon, err error) {
	// First, so that a refused configuration (a non-loopback address
	// without authentication, a token file others can read) binds nothing
	// and opens no store.
	sec, err := opts.security()
	if err != nil {
		return nil, err
	}
	policy := registry.Policy{ExecAllow: opts.execAllow, MaxListeners: opts.maxListeners}
	if opts.cluster.enabled() {
		if err := registry.ValidateName("--node", opts.cluster.node); err != nil {
			return nil, err
		}
		policy.Node = opts.cluster.node
	}
	var store *boltstore.Store
	var desired registry.Store                         // a nil *boltstore.Store must not become a non-nil interface
	if opts.dataDir != "" && !opts.cluster.enabled() { // a cluster's desired state is in etcd
		if store, err = boltstore.Open(opts.dataDir); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		desired = store
		if n := store.Migrated(); n > 0 {
			log.Info("store migrated to the current schema", "store", store.Path(), "records", n, "copy", store.Path()+".schema0.bak")
		}
	}
	d = &daemon{opts: opts, sec: sec, log: log, store: store, policy: policy, reg: registry.New(log, policy, desired)}
	d.draining, d.startDrain = context.WithCancel(context.Background())
	// d is passed in: "return nil, err" sets the named result to nil
	// before deferred calls run.
	defer func(d *daemon) {
		if err != nil {
			d.startDrain()
			_ = d.leaveCluster(context.Background())
			_ = d.reg.Close()
			d.closeStore()
		}
	}(d)
	if d.grpcLn, err = listenAPI(opts.grpcAddr); err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	if d.httpLn, err = listenAPI(opts.httpAddr); err != nil {
		_ = d.grpcLn.Close()
		return nil, fmt.Errorf("--http-addr: %w", err)
	}
	if opts.cluster.enabled() {
		if err = d.joinCluster(); err != nil {
			_ = d.grpcLn.Close()
			_ = d.httpLn.Close()
			return nil, err
		}
	}
	if err = d.setUp(); err != nil {
		_ = d.grpcLn.Close()
		_ = d.httpLn.Close()
		return nil, err
	}
	if err = d.restore(); err != nil {
		_ = d.grpcLn.Close()
		_ = d.httpLn.Close()
		_ = d.conn.Close()
		return nil, err
	}
	return d, nil
}

// restore brings back the listeners of the data directory before the API
// serves, so the first call already sees them.
func (d *daemon) restore() error {
	if d.agent != nil {
		return nil // the agent serves this node's share of the cluster's state
	}
	if d.store == nil {
		d.log.Info("no --data-dir: listeners live in memory only")
		return nil
	}
	restored, failed, err := d.reg.Restore(context.Background())
	if err != nil {
		return fmt.Errorf("restore from %s: %w", d.store.Path(), err)
	}
	d.log.Info("listeners restored", "store", d.store.Path(), "listeners", restored, "failed", failed)
	return nil
}

func (d *daemon) closeStore() {
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			d.log.Warn("closing the store", "error", err)
		}
	}
}

// grpcMaxRecvMsgSize bounds one gRPC request message: 4 MiB, gRPC's own
// default, stated here so that it stays a decision and not an accident of
// a library upgrade. A larger message is refused with RESOURCE_EXHAUSTED
// before it reaches a service. (The REST side takes 1 MiB:
// api.MaxRequestBody.)
const grpcMaxRecvMsgSize = 4 << 20

// setUp builds the servers on the bound ports: the gRPC server with its
// interceptors and services, and the HTTP server with the gateway, the
// metrics, the probes and the OpenAPI document.
func (d *daemon) setUp() error {
	metrics, err := api.NewMetrics(d.reg, d.log)
	if err != nil {
		return err
	}
	// Interceptors run in the order listed, the first outermost; metrics
	// come first so they count the code a call really ended with
	// (UNAUTHENTICATED included), then the token check, before anything
	// else sees the call. Add new ones to these lists.
	unary := []grpc.UnaryServerInterceptor{metrics.UnaryServerInterceptor()}
	stream := []grpc.StreamServerInterceptor{metrics.StreamServerInterceptor()}
	if d.sec.auth != nil {
		unary = append(unary, d.sec.auth.UnaryServerInterceptor())
		stream = append(stream, d.sec.auth.StreamServerInterceptor())
	}
	stream = append(stream, d.endStreamsOnShutdown)
	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(grpcMaxRecvMsgSize),
	}
	if d.sec.tls != nil {
		serverOpts = append(serverOpts, grpc.Creds(gatewayCreds{credentials.NewTLS(d.sec.tls)}))
	}
	d.grpc = grpc.NewServer(serverOpts...)
	var svcOpts []api.Option
	if d.agent != nil {
		svcOpts = append(svcOpts, api.WithCluster(d.agent, d.forward))
	}
	d.health = api.RegisterGRPC(d.grpc, d.reg, svcOpts...)
	metrics.InitializeGRPC(d.grpc) // after every service is registered

	// The gateway reaches the gRPC server in-process (gatewayListener), so
	// it needs no certificate when the gRPC port demands one.
	d.gatewayLn = newGatewayListener()
	d.conn, err = grpc.NewClient("passthrough:///"+d.gatewayLn.Addr().String(),
		grpc.WithContextDialer(d.gatewayLn.dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("gateway client: %w", err)
	}
	gw, err := api.NewGateway(context.Background(), d.conn)
	if err != nil {
		_ = d.conn.Close()
		return err
	}
	handler := api.NewHTTPHandler(api.HTTPConfig{
		Gateway: gw,
		Metrics: metrics.Handler(),
		Ready:   api.HealthReady(d.health),
	})
	d.http = &http.Server{
		Handler: api.NewHTTPGuard(api.HTTPGuardConfig{
			Auth:         d.sec.auth,
			LoopbackOnly: isLoopbackListener(d.httpLn),
			ExtraHosts:   d.sec.certNames,
		}, handler),
		TLSConfig:         d.sec.tls, // nil: plaintext
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	return nil
}

func (d *daemon) grpcAddr() string { return d.grpcLn.Addr().String() }
func (d *daemon) httpAddr() string { return d.httpLn.Addr().String() }

// serve runs the API servers until ctx ends or one of them fails, then
// shuts everything down within opts.shutdownTimeout.
func (d *daemon) serve(ctx context.Context) error {
	d.log.Info("sockplane serving", "grpc", d.grpcAddr(), "http", d.httpAddr(), "tls", d.tlsMode(), "auth", d.authMode())
	d.warnSecurity()
	if len(d.opts.execAllow) > 0 {
		d.log.Warn("the exec handler is on: exec listeners run these programs for their clients", "programs", d.opts.execAllow)
		if risky := commandRunners(d.opts.execAllow); len(risky) > 0 {
			d.log.Warn("these allowed programs can run any other program, so the allow list does not bound what clients run", "programs", risky)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	// The gRPC server serves its port and the gateway's in-process
	// listener; GracefulStop closes both. ErrServerStopped is a shutdown
	// that came before Serve started, not a failure.
	for _, ln := range []net.Listener{d.grpcLn, d.gatewayLn} {
		g.Go(func() error {
			if err := d.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc server on %s: %w", ln.Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		var err error
		if d.http.TLSConfig != nil {
			err = d.http.ServeTLS(d.httpLn, "", "") // the certificate is in TLSConfig
		} else {
			err = d.http.Serve(d.httpLn)
		}
		if !errors.Is(err, http.ErrServerClosed) {
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

// shutdown goes in this order: not ready (gRPC health NOT_SERVING, so
// /readyz answers 503 while the servers still serve), open gRPC streams
// ended, then the HTTP server, then the gRPC server gracefully, so no
// call races the listeners' drain, then the listeners drain. Past the
// deadline it cuts what is left.
func (d *daemon) shutdown() error {
	d.log.Info("shutting down", "timeout", d.opts.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.shutdownTimeout)
	defer cancel()
	d.health.Shutdown()
	d.startDrain()

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
	if err := d.leaveCluster(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leave the cluster: %w", err))
	}
	err := d.reg.Shutdown(ctx)
	d.closeStore() // after the registry: its last writes must land
	if err != nil {
		errs = append(errs, fmt.Errorf("listeners: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("shutdown cut short", "error", err)
		return nil // what could be drained was; the rest was closed
	}
	d.log.Info("shutdown complete")
	return nil
}

// errShuttingDown is how the gRPC streams still open at shutdown end.
var errShuttingDown = status.Error(codes.Unavailable, "sockplane is shutting down")

// endStreamsOnShutdown is a stream interceptor that ends every gRPC stream
// with UNAVAILABLE when shutdown begins. A stream may stay open for ever
// (WatchEvents and its REST form GET /v1/events, health Watch,
// reflection) and both servers' graceful shutdown wait for it: without
// this one watcher would hold shutdown for all of --shutdown-timeout and
// leave the listeners no time to drain. Unary calls finish as usual.
func (d *daemon) endStreamsOnShutdown(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	stop := context.AfterFunc(d.draining, func() { cancel(errShuttingDown) })
	defer stop()
	err := handler(srv, streamWithContext{ServerStream: ss, ctx: ctx})
	if errors.Is(context.Cause(ctx), errShuttingDown) {
		return errShuttingDown
	}
	return err
}

// streamWithContext is a server stream with another context.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s streamWithContext) Context() context.Context { return s.ctx }

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

// listenAPI binds one of the daemon's API ports as plain TCP. Go asks for
// Multipath TCP by default (since 1.24); an MPTCP listener serves TCP
// clients too, by falling back, but costs a subflow's set-up on every
// connection, and the API's clients (curl, grpcurl, sockctl) speak TCP.
// The engine binds its listeners the same way.
func listenAPI(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}
