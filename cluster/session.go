package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// NodeInfo is a node's key: who it is and where other nodes reach it.
type NodeInfo struct {
	Name        string    `json:"name"`
	GRPCAddress string    `json:"grpcAddress"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"startedAt"`
	// Unreadable, on a node read from etcd, says why its value could not
	// be decoded; then only Name is set.
	Unreadable error `json:"-"`
}

// Status is what a listener's owner observes of it.
type Status struct {
	// Node is the owner that published it.
	Node string `json:"node"`
	// State is a sockplane.v1.State name, e.g. STATE_RUNNING.
	State string `json:"state"`
	// BoundAddress is the address the listener is bound to, when it is.
	BoundAddress string `json:"boundAddress,omitempty"`
	// Error says why the listener failed.
	Error string `json:"error,omitempty"`
	// Reason names the kind of Error for programs, e.g. ADDR_IN_USE (see
	// package agent).
	Reason string `json:"reason,omitempty"`
	// ObservedGeneration is the generation of the desired record the
	// owner acted on.
	ObservedGeneration int64 `json:"observedGeneration"`
	// Since is when the listener entered State.
	Since time.Time `json:"since"`
	// Unreadable, on a status read from etcd, says why its value could
	// not be decoded; then the other fields are empty.
	Unreadable error `json:"-"`
}

func decodeNode(name string, value []byte) NodeInfo {
	var n NodeInfo
	if err := json.Unmarshal(value, &n); err != nil {
		return NodeInfo{Name: name, Unreadable: fmt.Errorf("node %s: %w", name, err)}
	}
	if n.Name != name {
		return NodeInfo{Name: name, Unreadable: fmt.Errorf("node %s: the value names node %q", name, n.Name)}
	}
	return n
}

func decodeStatus(id string, value []byte) Status {
	var st Status
	if err := json.Unmarshal(value, &st); err != nil {
		return Status{Unreadable: fmt.Errorf("status of listener %s: %w", id, err)}
	}
	return st
}

// Recovery backoff: the wait between failed attempts to recover a lost
// lease (and between an Informer's failed lists and watches) doubles
// from minBackoff up to maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Session is a node's membership of the cluster: its node key and the
// statuses it publishes, under a lease it keeps alive and, when lost,
// replaces (see the package documentation). Its methods are safe for
// concurrent use.
type Session struct {
	store *Store
	node  NodeInfo
	ttl   int64 // seconds

	ctx    context.Context // the keepalive goroutine's; canceled by Close and Abandon
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
	kick   chan struct{} // a write found the lease gone: recover now

	ended   chan struct{} // closed when the session lost its name for good
	endOnce sync.Once
	endErr  error

	// writeMu orders the writes of this session's keys: a status
	// published while the lease is replaced is written either before the
	// rewrite, which then writes it again, or after it, under the new
	// lease.
	writeMu sync.Mutex

	mu       sync.Mutex
	lease    clientv3.LeaseID
	statuses map[string]Status
	closed   bool
	kaCancel context.CancelFunc // the current lease's keepalive
	lastErr  error              // the last failure of a recovery attempt

	recoveries atomic.Int64
}

// Join makes node a member of the cluster under a new lease of ttl
// (rounded up to whole seconds, at least 1 s; etcd may raise it to its
// minimum), if no live node has its name: otherwise it fails with
// ErrNodeNameTaken, and it fails with ErrUnavailable when etcd cannot
// answer. A zero node.StartedAt is set to now. The session runs until
// Close, whatever becomes of ctx.
func (s *Store) Join(ctx context.Context, node NodeInfo, ttl time.Duration) (*Session, error) {
	if err := validateName("node", node.Name); err != nil {
		return nil, err
	}
	if node.StartedAt.IsZero() {
		node.StartedAt = time.Now().UTC()
	}
	secs := max(int64(math.Ceil(ttl.Seconds())), 1)
	cctx, cancel := s.call(ctx)
	grant, err := s.cli.Grant(cctx, secs)
	cancel()
	if err != nil {
		return nil, s.wrapErr(ctx, "join as node "+node.Name+": grant a lease", err)
	}
	sess := &Session{store: s, node: node, ttl: secs, lease: grant.ID, statuses: make(map[string]Status),
		done: make(chan struct{}), kick: make(chan struct{}, 1), ended: make(chan struct{})}
	if err := sess.putNode(ctx, grant.ID, 0); err != nil {
		rctx, rcancel := s.call(context.WithoutCancel(ctx))
		_, _ = s.cli.Revoke(rctx, grant.ID) // best effort: it expires anyway
		rcancel()
		return nil, err
	}
	sess.ctx, sess.cancel = context.WithCancel(context.Background())
	ch, err := sess.keepAlive(grant.ID)
	if err != nil {
		sess.cancel()
		return nil, fmt.Errorf("join as node %s: keep the lease alive: %w", node.Name, err)
	}
	go sess.run(ch)
	return sess, nil
}

// Node is the session's node.
func (s *Session) Node() NodeInfo { return s.node }

// Lease is the session's current lease.
func (s *Session) Lease() clientv3.LeaseID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease
}

// Recoveries counts the times the session replaced a lost lease and
// rewrote its keys.
func (s *Session) Recoveries() int64 { return s.recoveries.Load() }

// Done is closed when the session ended on its own: another node took
// its name while its lease was lost. Err says why.
func (s *Session) Done() <-chan struct{} { return s.ended }

// Err is why the session ended, once Done is closed; else nil.
func (s *Session) Err() error {
	select {
	case <-s.ended:
		return s.endErr
	default:
		return nil
	}
}

// LastError is the last failure of the session's recovery of a lost
// lease (etcd unavailable, for one), for diagnostics; nil before any.
func (s *Session) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// putNode writes the node key under lease if it is absent or already
// under that lease (or under also, when not 0), and fails with
// ErrNodeNameTaken when it is under another.
func (s *Session) putNode(ctx context.Context, lease, also clientv3.LeaseID) error {
	value, err := json.Marshal(s.node)
	if err != nil {
		return err
	}
	key := s.store.NodeKey(s.node.Name)
	ok, held, err := s.putOwned(ctx, key, string(value), lease, also)
	if err != nil {
		return s.store.wrapErr(ctx, "join as node "+s.node.Name, err)
	}
	if !ok {
		return s.takenError(ctx, held)
	}
	return nil
}

// putOwned puts key=value under lease if the key is absent or under
// lease or also (when not 0) — one transaction, so that no other owner's
// key is overwritten; the extra operations run in it too, when it puts.
// When the key is another's, it returns false and the key's lease.
func (s *Session) putOwned(ctx context.Context, key, value string, lease, also clientv3.LeaseID, extra ...clientv3.Op) (bool, clientv3.LeaseID, error) {
	put := append([]clientv3.Op{clientv3.OpPut(key, value, clientv3.WithLease(lease))}, extra...)
	owned := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", lease)},
		put, []clientv3.Op{clientv3.OpGet(key)})
	if also != 0 {
		owned = clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", also)},
			put, []clientv3.Op{owned})
	}
	cctx, cancel := s.store.call(ctx)
	defer cancel()
	resp, err := s.store.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(put...).
		Else(owned).
		Commit()
	if err != nil {
		return false, 0, err
	}
	if resp.Succeeded {
		return true, 0, nil
	}
	// Walk down the nested transactions to the one that answered.
	r := resp.Responses[0]
	for {
		t := r.GetResponseTxn()
		if t == nil {
			break
		}
		if t.Succeeded {
			return true, 0, nil
		}
		r = t.Responses[0]
	}
	if rr := r.GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
		return false, clientv3.LeaseID(rr.Kvs[0].Lease), nil
	}
	return false, 0, nil // gone meanwhile: the caller may try again
}

func (s *Session) takenError(ctx context.Context, held clientv3.LeaseID) error {
	detail := ""
	if held != 0 {
		cctx, cancel := s.store.call(ctx)
		if ttl, err := s.store.cli.TimeToLive(cctx, held); err == nil && ttl.TTL > 0 {
			detail = fmt.Sprintf(" (its lease %x expires in %d s unless kept alive)", int64(held), ttl.TTL)
		}
		cancel()
	}
	return fmt.Errorf("node %s%s: %w", s.node.Name, detail, ErrNodeNameTaken)
}

// keepAlive starts keeping lease alive, in place of the lease kept alive
// before, until the session stops.
func (s *Session) keepAlive(lease clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	ch, err := s.store.cli.KeepAlive(ctx, lease)
	if err != nil {
		cancel()
		return nil, err
	}
	s.mu.Lock()
	if s.kaCancel != nil {
		s.kaCancel()
	}
	s.kaCancel = cancel
	s.mu.Unlock()
	return ch, nil
}

// run consumes the keepalive responses and recovers when they stop.
func (s *Session) run(ch <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case _, ok := <-ch:
			if ok {
				continue
			}
		case <-s.kick:
		}
		// The keepalive ended (the lease expired or was revoked, or no
		// answer came for a TTL) or a write found the lease gone.
		if ch = s.recover(); ch == nil {
			return
		}
	}
}

// recover keeps the lease alive again when it still lives, and else
// replaces it and rewrites the session's keys; it retries while etcd is
// unavailable. It returns the new keepalive channel, or nil when the
// session stopped or ended.
func (s *Session) recover() <-chan *clientv3.LeaseKeepAliveResponse {
	bo := newBackoff()
	var fresh clientv3.LeaseID // granted by this recovery, its keys not all written yet
	for {
		select {
		case <-s.kick: // this attempt covers it
		default:
		}
		ch, err := s.recoverOnce(&fresh)
		if err == nil {
			return ch
		}
		if errors.Is(err, ErrNodeNameTaken) {
			s.end(err)
			return nil
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return nil
		case <-s.store.cli.Ctx().Done():
			s.end(fmt.Errorf("node %s: the etcd client is closed", s.node.Name))
			return nil
		case <-bo.next():
		}
	}
}

func (s *Session) recoverOnce(fresh *clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	ctx := s.ctx
	old := s.Lease()
	if *fresh == 0 {
		alive, err := s.leaseAlive(ctx, old)
		if err != nil {
			return nil, err
		}
		if alive { // etcd was slow or out of reach, not long enough to lose the lease
			return s.keepAlive(old)
		}
		cctx, cancel := s.store.call(ctx)
		grant, err := s.store.cli.Grant(cctx, s.ttl)
		cancel()
		if err != nil {
			return nil, s.store.wrapErr(ctx, "node "+s.node.Name+": grant a lease", err)
		}
		*fresh = grant.ID
	} else if alive, err := s.leaseAlive(ctx, *fresh); err != nil {
		return nil, err
	} else if !alive { // expired while this recovery retried
		*fresh = 0
		return nil, fmt.Errorf("node %s: the new lease expired before the keys were written", s.node.Name)
	}
	ch, err := s.keepAlive(*fresh)
	if err != nil {
		return nil, err
	}
	if err := s.rewrite(ctx, old, *fresh); err != nil {
		if errors.Is(err, ErrNodeNameTaken) {
			rctx, cancel := s.store.call(context.Background())
			_, _ = s.store.cli.Revoke(rctx, *fresh)
			cancel()
		}
		return nil, err
	}
	s.recoveries.Add(1)
	return ch, nil
}

// leaseAlive asks etcd whether lease lives.
func (s *Session) leaseAlive(ctx context.Context, lease clientv3.LeaseID) (bool, error) {
	cctx, cancel := s.store.call(ctx)
	defer cancel()
	resp, err := s.store.cli.TimeToLive(cctx, lease)
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return false, nil
	case err != nil:
		return false, s.store.wrapErr(ctx, "node "+s.node.Name+": check the lease", err)
	}
	return resp.TTL > 0, nil
}

// rewrite makes fresh the session's lease and writes its node key and
// every status it publishes under it; keys still under old (a lease that
// is gone, so there should be none) are taken over too.
func (s *Session) rewrite(ctx context.Context, old, fresh clientv3.LeaseID) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	s.lease = fresh
	statuses := maps.Clone(s.statuses)
	s.mu.Unlock()
	if err := s.putNode(ctx, fresh, old); err != nil {
		return err
	}
	for id, st := range statuses {
		value, err := json.Marshal(st)
		if err != nil {
			return err
		}
		// A status key under another lease is another node's, which owns
		// the listener now: it is left alone.
		if _, _, err := s.putOwned(ctx, s.store.StatusKey(id), string(value), fresh, old); err != nil {
			return s.store.wrapErr(ctx, "node "+s.node.Name+": publish the status of "+id, err)
		}
	}
	return nil
}

// PublishStatus writes the status of listener id under the session's
// lease, and keeps it: when the lease is lost, the session writes it
// again under the next one (so a publish that meets a lease just lost
// succeeds: the recovery writes it). st.Node is set to the session's
// node. A status key under another live lease is another node's, which
// owns the listener: PublishStatus fails then with ErrStatusOwned. A
// publish etcd does not answer fails with ErrUnavailable, and is the
// caller's to retry; the status is kept all the same, so a recovery
// writes it.
func (s *Session) PublishStatus(ctx context.Context, id string, st Status) error {
	return s.PublishStatusWith(ctx, id, st)
}

// PublishStatusWith is PublishStatus with extra operations in the same
// transaction, applied only with the status (see Store.UpdateOp): one
// write to etcd instead of two.
func (s *Session) PublishStatusWith(ctx context.Context, id string, st Status, extra ...clientv3.Op) error {
	if err := validateName("listener", id); err != nil {
		return err
	}
	st.Node = s.node.Name
	st.Unreadable = nil
	value, err := json.Marshal(st)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	s.statuses[id] = st
	lease := s.lease
	s.mu.Unlock()
	ok, held, err := s.putOwned(ctx, s.store.StatusKey(id), string(value), lease, 0, extra...)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// The lease is gone and the keepalive has not said so yet: the
		// recovery writes this status under the next lease.
		s.kickRecovery()
		return nil
	}
	if err != nil {
		return s.store.wrapErr(ctx, "publish the status of listener "+id, err)
	}
	if !ok {
		s.mu.Lock()
		delete(s.statuses, id)
		s.mu.Unlock()
		return fmt.Errorf("publish the status of listener %s: %w (held by lease %x)", id, ErrStatusOwned, int64(held))
	}
	return nil
}

// RemoveStatus deletes the status of listener id, if this session's, and
// stops keeping it.
func (s *Session) RemoveStatus(ctx context.Context, id string) error {
	if err := validateName("listener", id); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	delete(s.statuses, id)
	lease := s.lease
	s.mu.Unlock()
	key := s.store.StatusKey(id)
	cctx, cancel := s.store.call(ctx)
	defer cancel()
	_, err := s.store.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease), clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpDelete(key)).
		Commit()
	return s.store.wrapErr(ctx, "remove the status of listener "+id, err)
}

// Statuses returns the statuses the session publishes, by listener id.
func (s *Session) Statuses() map[string]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.statuses)
}

func (s *Session) kickRecovery() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.endErr = err
		close(s.ended)
	})
}

// stop stops the goroutine and the keepalives; it reports whether this
// call stopped them.
func (s *Session) stop() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return false
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
	return true
}

// Close stops the session and revokes its lease, so its node key and
// statuses go at once. It waits for the session's goroutine; a revoke
// etcd does not answer fails with ErrUnavailable (the keys then go when
// the lease expires). Closing again, or after Abandon, does nothing.
func (s *Session) Close(ctx context.Context) error {
	if !s.stop() {
		return nil
	}
	lease := s.Lease()
	cctx, cancel := s.store.call(ctx)
	defer cancel()
	_, err := s.store.cli.Revoke(cctx, lease)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		err = nil // gone already
	}
	return s.store.wrapErr(ctx, "leave as node "+s.node.Name, err)
}

// Abandon stops the session without revoking its lease: its keys stay
// until the lease expires, as when the node's process dies. It is for
// tests of a node's death; a node leaving calls Close.
func (s *Session) Abandon() { s.stop() }

// backoff is a capped exponential wait.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

// next returns a channel that fires after the next wait.
func (b *backoff) next() <-chan time.Time {
	if b.d == 0 {
		b.d = minBackoff
	} else {
		b.d = min(2*b.d, maxBackoff)
	}
	return time.After(b.d)
}

func (b *backoff) reset() { b.d = 0 }
