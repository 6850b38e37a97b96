package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/registry"
)

func TestMain(m *testing.M) { etcdtest.VerifyTestMain(m) }

// testCallTimeout is the stores' call timeout in these tests.
const testCallTimeout = 2 * time.Second

func newStore(cli *clientv3.Client) *Store {
	s := NewStore(cli, "")
	s.CallTimeout = testCallTimeout
	s.ProgressInterval = 300 * time.Millisecond
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func record(id string) registry.Record {
	return registry.Record{Running: true, Generation: 1, Spec: registry.Spec{ID: id, Transport: registry.TransportTCP, Address: "127.0.0.1:0"}}
}

func join(t *testing.T, s *Store, name string, ttl time.Duration) *Session {
	t.Helper()
	sess, err := s.Join(ctxT(t), NodeInfo{Name: name, GRPCAddress: "127.0.0.1:7000", Version: "test"}, ttl)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	return sess
}

// recorder is a Handler that writes down what it is told, in order.
type recorder[T any] struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder[T]) OnUpsert(id string, _ T, modRev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "upsert "+id)
}

func (r *recorder[T]) OnDelete(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "delete "+id)
}

func (r *recorder[T]) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder[T]) has(event string) bool {
	for _, e := range r.got() {
		if e == event {
			return true
		}
	}
	return false
}

func watchListeners(t *testing.T, s *Store, h Handler[registry.Record]) *Informer[registry.Record] {
	t.Helper()
	in := s.WatchListeners(context.Background(), h)
	t.Cleanup(in.Close)
	select {
	case <-in.Synced():
	case <-time.After(10 * time.Second):
		t.Fatalf("informer not synced: %v", in.LastError())
	}
	return in
}

// keyLease returns key's lease, and whether the key exists.
func keyLease(t *testing.T, cli *clientv3.Client, key string) (clientv3.LeaseID, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease), true
}

func ids[T any](es []Entry[T]) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ","
		}
		s += e.ID
	}
	return fmt.Sprint("[", s, "]")
}
