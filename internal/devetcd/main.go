// Command devetcd runs a single-member etcd server for trying sockplane's
// cluster mode on one machine, from the etcd server module sockplane's
// tests embed: go run ./internal/devetcd. Its data lives in a temporary
// directory unless --data-dir says where; Ctrl-C stops it. For anything
// but a try, run a real etcd (Debian's etcd-server package, or a release
// binary).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func main() {
	client := flag.String("listen-client", "http://127.0.0.1:2379", "client `URL`: what sockplane's --etcd-endpoints names")
	peer := flag.String("listen-peer", "http://127.0.0.1:2380", "peer `URL`")
	dir := flag.String("data-dir", "", "data `DIR` (default: a temporary directory, removed at exit)")
	flag.Parse()
	if err := run(*client, *peer, *dir); err != nil {
		log.Fatalf("devetcd: %v", err)
	}
}

func run(client, peer, dir string) error {
	cu, err := url.Parse(client)
	if err != nil {
		return fmt.Errorf("--listen-client: %w", err)
	}
	pu, err := url.Parse(peer)
	if err != nil {
		return fmt.Errorf("--listen-peer: %w", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "devetcd-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := embed.NewConfig()
	cfg.Name = "devetcd"
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		return fmt.Errorf("not ready after 30s")
	}
	fmt.Fprintf(os.Stderr, "devetcd: etcd serving clients at %s (data in %s); Ctrl-C stops it\n", cu, dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return err
	}
}
