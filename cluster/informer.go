package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockplane/sockplane/registry"
)

// DefaultProgressInterval is how often an Informer whose watch has been
// silent asks etcd for a progress notification, unless configured.
const DefaultProgressInterval = 5 * time.Second

// Handler receives an Informer's changes, in the order they happened,
// one at a time, on the informer's goroutine: a callback that blocks
// holds the informer back (etcd's watch buffers meanwhile, or, when the
// history it needs is compacted, the informer relists afterwards). A
// callback must not call the informer's Close, which waits for it.
type Handler[T any] interface {
	// OnUpsert is a key created or changed: its id, its decoded value
	// (one that could not be decoded has its Unreadable set) and its mod
	// revision.
	OnUpsert(id string, value T, modRev int64)
	// OnDelete is a key deleted (for nodes and statuses, also expired).
	OnDelete(id string)
}

// HandlerFuncs is a Handler of functions; a nil one is not called.
type HandlerFuncs[T any] struct {
	Upsert func(id string, value T, modRev int64)
	Delete func(id string)
}

// OnUpsert calls Upsert.
func (h HandlerFuncs[T]) OnUpsert(id string, value T, modRev int64) {
	if h.Upsert != nil {
		h.Upsert(id, value, modRev)
	}
}

// OnDelete calls Delete.
func (h HandlerFuncs[T]) OnDelete(id string) {
	if h.Delete != nil {
		h.Delete(id)
	}
}

// Informer mirrors one kind of key of a cluster in memory, and tells a
// Handler of every change (see the package documentation). Its methods
// are safe for concurrent use.
type Informer[T any] struct {
	store    *Store
	prefix   string
	decode   func(id string, value []byte) T
	handler  Handler[T]
	progress time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	synced chan struct{}

	mu        sync.RWMutex
	cache     map[string]Entry[T]
	rev       int64
	watching  bool
	lastHeard time.Time
	lastErr   error

	relists atomic.Int64
	reopens atomic.Int64
}

// WatchListeners starts an Informer of the listeners' desired records.
// It runs until ctx ends or Close; h may be nil.
func (s *Store) WatchListeners(ctx context.Context, h Handler[registry.Record]) *Informer[registry.Record] {
	return newInformer(ctx, s, listenersDir, decodeListener, h)
}

// WatchStatuses starts an Informer of the listeners' observed statuses.
// It runs until ctx ends or Close; h may be nil.
func (s *Store) WatchStatuses(ctx context.Context, h Handler[Status]) *Informer[Status] {
	return newInformer(ctx, s, statusDir, decodeStatus, h)
}

// WatchNodes starts an Informer of the live nodes. It runs until ctx
// ends or Close; h may be nil.
func (s *Store) WatchNodes(ctx context.Context, h Handler[NodeInfo]) *Informer[NodeInfo] {
	return newInformer(ctx, s, nodesDir, decodeNode, h)
}

func newInformer[T any](ctx context.Context, s *Store, dir string, decode func(string, []byte) T, h Handler[T]) *Informer[T] {
	if h == nil {
		h = HandlerFuncs[T]{}
	}
	progress := s.ProgressInterval
	if progress <= 0 {
		progress = DefaultProgressInterval
	}
	in := &Informer[T]{store: s, prefix: s.prefix + dir, decode: decode, handler: h, progress: progress,
		done: make(chan struct{}), synced: make(chan struct{}), cache: make(map[string]Entry[T])}
	in.ctx, in.cancel = context.WithCancel(ctx)
	go in.run()
	return in
}

// Close stops the informer and waits for its goroutine (and so for any
// callback running). Its cache stays readable. An informer also stops
// when its context ends or its etcd client is closed.
func (in *Informer[T]) Close() {
	in.cancel()
	<-in.done
}

// Done is closed when the informer's goroutine has returned.
func (in *Informer[T]) Done() <-chan struct{} { return in.done }

// Synced is closed once the first list has been delivered.
func (in *Informer[T]) Synced() <-chan struct{} { return in.synced }

// Revision is the etcd revision the cache reflects: every change up to
// it has been delivered.
func (in *Informer[T]) Revision() int64 {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.rev
}

// Stale reports whether the cache may lag behind etcd: before the first
// list, while the watch is down, and when the watch has not heard from
// etcd for three progress intervals.
func (in *Informer[T]) Stale() bool {
	select {
	case <-in.synced:
	default:
		return true
	}
	in.mu.RLock()
	defer in.mu.RUnlock()
	return !in.watching || time.Since(in.lastHeard) > 3*in.progress
}

// LastError is the informer's last failure to list or watch, for
// diagnostics; nil before any.
func (in *Informer[T]) LastError() error {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.lastErr
}

// Relists counts the lists made again because the watch's revision was
// compacted.
func (in *Informer[T]) Relists() int64 { return in.relists.Load() }

// Reopens counts the watches opened again after one ended (an outage, a
// member without a leader) without a relist.
func (in *Informer[T]) Reopens() int64 { return in.reopens.Load() }

// Get returns the cached key id.
func (in *Informer[T]) Get(id string) (Entry[T], bool) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	e, ok := in.cache[id]
	return e, ok
}

// List returns the cached keys, sorted by id.
func (in *Informer[T]) List() []Entry[T] {
	in.mu.RLock()
	out := make([]Entry[T], 0, len(in.cache))
	for _, e := range in.cache {
		out = append(out, e)
	}
	in.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry[T]) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Len is the number of cached keys.
func (in *Informer[T]) Len() int {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return len(in.cache)
}

func (in *Informer[T]) run() {
	defer close(in.done)
	bo := newBackoff()
	list := true
	for {
		if list {
			if err := in.relist(); err != nil {
				in.setErr(err)
				if !in.wait(bo) {
					return
				}
				continue
			}
			list = false
		}
		compacted, err := in.watch(bo)
		if in.ctx.Err() != nil {
			return
		}
		if compacted {
			in.relists.Add(1)
			list = true
			continue
		}
		in.setErr(err)
		if !in.wait(bo) {
			return
		}
		in.reopens.Add(1)
	}
}

// wait waits for the next backoff; it reports false when the informer
// must stop: its context ended, or its etcd client was closed.
func (in *Informer[T]) wait(bo *backoff) bool {
	select {
	case <-in.ctx.Done():
		return false
	case <-in.store.cli.Ctx().Done():
		in.setErr(fmt.Errorf("watch %s: the etcd client is closed", in.prefix))
		return false
	case <-bo.next():
		return true
	}
}

// relist reads every key and delivers how they differ from the cache.
func (in *Informer[T]) relist() error {
	kvs, rev, err := in.store.listPrefix(in.ctx, in.prefix)
	if err != nil {
		return err
	}
	listed := make(map[string]struct{}, len(kvs))
	var ups []Entry[T]
	in.mu.RLock()
	for _, kv := range kvs {
		id := strings.TrimPrefix(string(kv.Key), in.prefix)
		listed[id] = struct{}{}
		if old, ok := in.cache[id]; !ok || old.ModRevision != kv.ModRevision {
			ups = append(ups, Entry[T]{ID: id, Value: in.decode(id, kv.Value), ModRevision: kv.ModRevision})
		}
	}
	var dels []string
	for id := range in.cache {
		if _, ok := listed[id]; !ok {
			dels = append(dels, id)
		}
	}
	in.mu.RUnlock()
	slices.Sort(dels)
	slices.SortFunc(ups, func(a, b Entry[T]) int { return cmp.Compare(a.ModRevision, b.ModRevision) })
	for _, id := range dels {
		in.remove(id)
	}
	for _, e := range ups {
		in.upsert(e)
	}
	in.mu.Lock()
	in.rev = rev
	in.lastHeard = time.Now()
	in.mu.Unlock()
	select {
	case <-in.synced:
	default:
		close(in.synced)
	}
	return nil
}

// watch watches from the cache's revision + 1 until the watch ends. It
// reports whether it ended on a compacted revision.
func (in *Informer[T]) watch(bo *backoff) (compacted bool, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(in.ctx))
	defer cancel()
	from := in.Revision() + 1
	wch := in.store.cli.Watch(wctx, in.prefix, clientv3.WithPrefix(), clientv3.WithRev(from),
		clientv3.WithProgressNotify(), clientv3.WithPrevKV())
	in.setWatching(true)
	defer in.setWatching(false)
	tick := time.NewTicker(in.progress)
	defer tick.Stop()
	for {
		select {
		case <-in.ctx.Done():
			return false, nil
		case <-tick.C:
			in.mu.RLock()
			silent := time.Since(in.lastHeard) >= in.progress
			in.mu.RUnlock()
			if silent {
				// Ask etcd to say the watch is current; the answer comes on
				// wch. A request the stream cannot take now is dropped: the
				// next tick asks again.
				rctx, rcancel := in.store.call(wctx)
				_ = in.store.cli.RequestProgress(rctx)
				rcancel()
			}
		case resp, ok := <-wch:
			if !ok {
				return false, fmt.Errorf("watch %s from revision %d: %w: the watch ended", in.prefix, from, ErrUnavailable)
			}
			if resp.CompactRevision != 0 {
				return true, nil
			}
			if err := resp.Err(); err != nil {
				return false, in.store.wrapErr(in.ctx, fmt.Sprintf("watch %s from revision %d", in.prefix, from), err)
			}
			bo.reset()
			in.mu.Lock()
			in.lastHeard = time.Now()
			if resp.IsProgressNotify() && resp.Header.Revision > in.rev {
				// Every change up to it has been delivered.
				in.rev = resp.Header.Revision
			}
			in.mu.Unlock()
			for _, ev := range resp.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), in.prefix)
				if ev.Type == clientv3.EventTypeDelete {
					in.remove(id)
				} else {
					in.upsert(Entry[T]{ID: id, Value: in.decode(id, ev.Kv.Value), ModRevision: ev.Kv.ModRevision})
				}
				in.mu.Lock()
				in.rev = max(in.rev, ev.Kv.ModRevision)
				in.mu.Unlock()
			}
		}
	}
}

func (in *Informer[T]) upsert(e Entry[T]) {
	in.mu.Lock()
	in.cache[e.ID] = e
	in.mu.Unlock()
	in.handler.OnUpsert(e.ID, e.Value, e.ModRevision)
}

func (in *Informer[T]) remove(id string) {
	in.mu.Lock()
	_, ok := in.cache[id]
	delete(in.cache, id)
	in.mu.Unlock()
	if ok {
		in.handler.OnDelete(id)
	}
}

func (in *Informer[T]) setWatching(on bool) {
	in.mu.Lock()
	in.watching = on
	in.mu.Unlock()
}

func (in *Informer[T]) setErr(err error) {
	if err == nil || errors.Is(err, context.Canceled) && in.ctx.Err() != nil {
		return
	}
	in.mu.Lock()
	in.lastErr = err
	in.mu.Unlock()
}
