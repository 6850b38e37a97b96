package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/sockplane/sockplane/api"
	"github.com/sockplane/sockplane/cluster"
	"github.com/sockplane/sockplane/cluster/agent"
)

// clusterOptions are the flags of cluster mode; without etcdEndpoints
// the daemon is on its own, with its embedded store.
type clusterOptions struct {
	// etcdEndpoints are the etcd client URLs; set, they put the daemon in
	// cluster mode. Default: none.
	etcdEndpoints []string
	// etcdCA, etcdCert and etcdKey are the PEM files of TLS to etcd: the
	// CA that signed etcd's certificate, and this daemon's client
	// certificate and key. Default: "", plaintext (or the system's CAs
	// for https:// endpoints without --etcd-ca).
	etcdCA, etcdCert, etcdKey string
	// etcdPrefix starts every key of the cluster. Default: /sockplane/v1/.
	etcdPrefix string
	// node names this daemon in the cluster. Default: the host name,
	// lowercased.
	node string
	// advertiseGRPC is where the other nodes reach this daemon's gRPC API.
	// Default: --grpc-addr as bound, unless it is a wildcard address.
	advertiseGRPC string
	// leaseTTL is how long this node's keys outlive it: after it the other
	// nodes show its listeners STATE_UNKNOWN. Default: 10s.
	leaseTTL time.Duration
}

func addClusterFlags(f *pflag.FlagSet, o *clusterOptions) {
	f.StringSliceVar(&o.etcdEndpoints, "etcd-endpoints", nil, "etcd client `URLS`, e.g. http://127.0.0.1:2379: cluster mode, with the desired state in etcd instead of --data-dir")
	f.StringVar(&o.etcdCA, "etcd-ca", "", "PEM `FILE` of the CA of etcd's certificate")
	f.StringVar(&o.etcdCert, "etcd-cert", "", "PEM client certificate `FILE` for etcd; needs --etcd-key")
	f.StringVar(&o.etcdKey, "etcd-key", "", "PEM private key `FILE` of --etcd-cert")
	f.StringVar(&o.etcdPrefix, "etcd-prefix", cluster.DefaultPrefix, "prefix of every key of the cluster in etcd")
	f.StringVar(&o.node, "node", defaultNodeName(), "`NAME` of this daemon in the cluster: lowercase letters, digits and '-'")
	f.StringVar(&o.advertiseGRPC, "advertise-grpc", "", "`ADDR` where the other nodes reach this daemon's gRPC API (default: --grpc-addr as bound, unless a wildcard)")
	f.DurationVar(&o.leaseTTL, "node-lease-ttl", agent.DefaultLeaseTTL, "how long this node's keys outlive it in etcd")
}

// defaultNodeName is the host name, lowercased, up to its first dot.
func defaultNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h, _, _ = strings.Cut(strings.ToLower(h), ".")
	return h
}

func (o clusterOptions) enabled() bool { return len(o.etcdEndpoints) > 0 }

// advertised is the gRPC address the other nodes are told.
func (o clusterOptions) advertised(bound net.Addr) (string, error) {
	if o.advertiseGRPC != "" {
		if _, _, err := net.SplitHostPort(o.advertiseGRPC); err != nil {
			return "", fmt.Errorf("--advertise-grpc %q: %w", o.advertiseGRPC, err)
		}
		return o.advertiseGRPC, nil
	}
	host, _, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return "", fmt.Errorf("--advertise-grpc is required: --grpc-addr %s listens on every address, so the other nodes cannot be told one", bound)
	}
	return bound.String(), nil
}

// etcdConfig is the client configuration: quiet, and reconnecting within
// two seconds of a member coming back (gRPC's own backoff grows to two
// minutes, which would delay recovery from an outage as long).
func (o clusterOptions) etcdConfig() (clientv3.Config, error) {
	cfg := clientv3.Config{
		Endpoints:   o.etcdEndpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})},
	}
	if (o.etcdCert == "") != (o.etcdKey == "") {
		return cfg, errors.New("--etcd-cert and --etcd-key go together")
	}
	if o.etcdCA == "" && o.etcdCert == "" {
		return cfg, nil
	}
	info := transport.TLSInfo{CertFile: o.etcdCert, KeyFile: o.etcdKey, TrustedCAFile: o.etcdCA}
	tc, err := info.ClientConfig()
	if err != nil {
		return cfg, fmt.Errorf("etcd TLS: %w", err)
	}
	tc.MinVersion = tls.VersionTLS12
	cfg.TLS = tc
	return cfg, nil
}

// joinCluster connects to etcd and starts this node's agent: after it
// the listener calls act on the cluster's desired state. The other nodes
// learn where the gRPC API is from the bound port.
func (d *daemon) joinCluster() error {
	o := d.opts.cluster
	addr, err := o.advertised(d.grpcLn.Addr())
	if err != nil {
		return err
	}
	cfg, err := o.etcdConfig()
	if err != nil {
		return err
	}
	if d.etcd, err = clientv3.New(cfg); err != nil {
		return fmt.Errorf("--etcd-endpoints: %w", err)
	}
	store := cluster.NewStore(d.etcd, o.etcdPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.agent, err = agent.Start(ctx, agent.Config{
		Store:    store,
		Node:     cluster.NodeInfo{Name: o.node, GRPCAddress: addr, Version: version},
		Registry: d.reg,
		Policy:   d.policy,
		LeaseTTL: o.leaseTTL,
		Log:      d.log,
	})
	if err != nil {
		_ = d.etcd.Close()
		if errors.Is(err, cluster.ErrNodeNameTaken) {
			return fmt.Errorf("--node %s: %w: another daemon runs with it (or this one's lease of a moment ago has not expired yet)", o.node, err)
		}
		return fmt.Errorf("join the cluster at %s: %w", strings.Join(o.etcdEndpoints, ","), err)
	}
	d.forward = api.NewForwarder()
	d.log.Info("cluster node", "node", o.node, "advertise", addr, "etcd", o.etcdEndpoints, "prefix", store.Prefix())
	return nil
}

// leaveCluster stops reconciling and leaves: this node's keys go at once,
// so the other nodes show its listeners STATE_UNKNOWN.
func (d *daemon) leaveCluster(ctx context.Context) error {
	if d.agent == nil {
		return nil
	}
	err := d.agent.Close(ctx)
	d.forward.Close()
	_ = d.etcd.Close()
	return err
}
