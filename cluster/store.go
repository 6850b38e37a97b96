package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
)

// DefaultPrefix is the key prefix of a cluster unless configured.
const DefaultPrefix = "/sockplane/v1/"

// DefaultCallTimeout bounds each call to etcd unless configured.
const DefaultCallTimeout = 3 * time.Second

// The kinds of keys under the prefix (see the package documentation).
const (
	listenersDir = "listeners/"
	nodesDir     = "nodes/"
	statusDir    = "status/"
)

// listPageSize is how many keys one range request of a list returns.
const listPageSize = 500

var (
	// ErrUnavailable means etcd did not answer within the call timeout or
	// said it cannot (no leader, no member reachable): the change may or
	// may not have been made.
	ErrUnavailable = errors.New("etcd is unavailable")
	// ErrNodeNameTaken means another live node has the name.
	ErrNodeNameTaken = errors.New("the node name is taken by a live node")
	// ErrSessionClosed is returned by a closed Session's methods.
	ErrSessionClosed = errors.New("the cluster session is closed")
	// ErrStatusOwned means a listener's status key is under another live
	// node's lease: that node published it, and owns the listener.
	ErrStatusOwned = errors.New("the listener's status is another node's")
)

// Store reads and writes a cluster's keys in etcd. Its fields must not
// change once it is in use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	// CallTimeout bounds each call to etcd (a list's each page): past it
	// the call fails with ErrUnavailable.
	CallTimeout time.Duration
	// ProgressInterval is how often an Informer whose watch has been
	// silent asks etcd for a progress notification; it is Stale after
	// three silent intervals.
	ProgressInterval time.Duration
}

// Entry is one key of an Informer or a list: the id or name its key ends
// with, its decoded value and its mod revision.
type Entry[T any] struct {
	ID          string
	Value       T
	ModRevision int64
}

// NewStore returns the Store of the cluster whose keys start with prefix
// (DefaultPrefix when empty; a '/' is added when it does not end with
// one), on cli, which stays the caller's.
func NewStore(cli *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{cli: cli, prefix: prefix, CallTimeout: DefaultCallTimeout, ProgressInterval: DefaultProgressInterval}
}

// Client is the store's etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the store's key prefix, ending with '/'.
func (s *Store) Prefix() string { return s.prefix }

// ListenerKey is the key of listener id's desired record.
func (s *Store) ListenerKey(id string) string { return s.prefix + listenersDir + id }

// NodeKey is the key of node name.
func (s *Store) NodeKey(name string) string { return s.prefix + nodesDir + name }

// StatusKey is the key of listener id's observed status.
func (s *Store) StatusKey(id string) string { return s.prefix + statusDir + id }

// call returns the context of one call to etcd: ctx bounded by the call
// timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.CallTimeout
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return context.WithTimeout(ctx, d)
}

// wrapErr describes err, the failure of op: the caller's own context's
// error when that ended, ErrUnavailable when etcd did not answer in time
// or cannot serve.
func (s *Store) wrapErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: etcd: %w", op, err)
}

// isUnavailable tells the errors of an etcd that cannot answer now from
// those of a request it refuses.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// etcd's own (rpctypes.ErrNoLeader, ErrTimeout, ErrLeaderChanged, ...)
	// carry the gRPC code Unavailable.
	var coded interface{ Code() codes.Code } // rpctypes.EtcdError
	if errors.As(err, &coded) {
		switch coded.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	switch status.Code(err) { // a gRPC status the client did not convert
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// validateName checks a listener id or a node name: the rules of
// registry.ValidateID, which keep '/' out of keys.
func validateName(what, name string) error {
	if err := registry.ValidateID(name); err != nil {
		return fmt.Errorf("%s %q: %w", what, name, err)
	}
	return nil
}

// Create writes rec as a new listener: it fails with registry.ErrExists
// when a record has its id already. It returns the record's mod revision.
func (s *Store) Create(ctx context.Context, rec registry.Record) (int64, error) {
	id := rec.Spec.ID
	if err := validateName("listener", id); err != nil {
		return 0, err
	}
	value, err := specpb.EncodeRecord(rec)
	if err != nil {
		return 0, err
	}
	key := s.ListenerKey(id)
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, s.wrapErr(ctx, "create listener "+id, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("listener %s: %w", id, registry.ErrExists)
	}
	return resp.Header.Revision, nil
}

// Update replaces the record of listener rec.Spec.ID if its mod revision
// is ifModRev, or, with ifModRev 0, whatever its revision. It fails with
// registry.ErrNotFound when there is no such listener, with
// registry.ErrEtagMismatch when its revision is another. It returns the
// record's new mod revision.
func (s *Store) Update(ctx context.Context, rec registry.Record, ifModRev int64) (int64, error) {
	id := rec.Spec.ID
	if err := validateName("listener", id); err != nil {
		return 0, err
	}
	value, err := specpb.EncodeRecord(rec)
	if err != nil {
		return 0, err
	}
	key := s.ListenerKey(id)
	resp, err := s.casTxn(ctx, "update listener "+id, key, ifModRev, clientv3.OpPut(key, string(value)))
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// UpdateOp is Update as an operation for another transaction
// (Session.PublishStatusWith): it replaces the record if its mod revision
// is ifModRev, and does nothing otherwise.
func (s *Store) UpdateOp(rec registry.Record, ifModRev int64) (clientv3.Op, error) {
	id := rec.Spec.ID
	if err := validateName("listener", id); err != nil {
		return clientv3.Op{}, err
	}
	value, err := specpb.EncodeRecord(rec)
	if err != nil {
		return clientv3.Op{}, err
	}
	key := s.ListenerKey(id)
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", ifModRev)},
		[]clientv3.Op{clientv3.OpPut(key, string(value))}, nil), nil
}

// Delete removes listener id's record if its mod revision is ifModRev,
// or, with ifModRev 0, whatever its revision; it fails as Update does.
// The status its owner published stays the owner's to remove.
func (s *Store) Delete(ctx context.Context, id string, ifModRev int64) error {
	if err := validateName("listener", id); err != nil {
		return err
	}
	key := s.ListenerKey(id)
	_, err := s.casTxn(ctx, "delete listener "+id, key, ifModRev, clientv3.OpDelete(key))
	return err
}

// casTxn runs op on key if the key exists and, unless ifModRev is 0, has
// that mod revision.
func (s *Store) casTxn(ctx context.Context, what, key string, ifModRev int64, op clientv3.Op) (*clientv3.TxnResponse, error) {
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if ifModRev != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", ifModRev)
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).If(cmp).Then(op).Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return nil, s.wrapErr(ctx, what, err)
	}
	if resp.Succeeded {
		return resp, nil
	}
	id := key[strings.LastIndexByte(key, '/')+1:]
	if rr := resp.Responses[0].GetResponseRange(); rr == nil || len(rr.Kvs) == 0 {
		return nil, fmt.Errorf("listener %s: %w", id, registry.ErrNotFound)
	}
	return nil, fmt.Errorf("listener %s: revision %d asked, %w", id, ifModRev, registry.ErrEtagMismatch)
}

// Get reads listener id's record; a record that cannot be decoded comes
// back with Unreadable set. It fails with registry.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Entry[registry.Record], error) {
	if err := validateName("listener", id); err != nil {
		return Entry[registry.Record]{}, err
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.ListenerKey(id))
	if err != nil {
		return Entry[registry.Record]{}, s.wrapErr(ctx, "get listener "+id, err)
	}
	if len(resp.Kvs) == 0 {
		return Entry[registry.Record]{}, fmt.Errorf("listener %s: %w", id, registry.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return Entry[registry.Record]{ID: id, Value: decodeListener(id, kv.Value), ModRevision: kv.ModRevision}, nil
}

// List reads every listener's record, by id, at one revision, which it
// returns.
func (s *Store) List(ctx context.Context) ([]Entry[registry.Record], int64, error) {
	return list(ctx, s, listenersDir, decodeListener)
}

// Nodes reads every live node, by name.
func (s *Store) Nodes(ctx context.Context) ([]Entry[NodeInfo], int64, error) {
	return list(ctx, s, nodesDir, decodeNode)
}

// Statuses reads every published status, by listener id.
func (s *Store) Statuses(ctx context.Context) ([]Entry[Status], int64, error) {
	return list(ctx, s, statusDir, decodeStatus)
}

func list[T any](ctx context.Context, s *Store, dir string, decode func(string, []byte) T) ([]Entry[T], int64, error) {
	prefix := s.prefix + dir
	kvs, rev, err := s.listPrefix(ctx, prefix)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Entry[T], 0, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(string(kv.Key), prefix)
		out = append(out, Entry[T]{ID: id, Value: decode(id, kv.Value), ModRevision: kv.ModRevision})
	}
	return out, rev, nil
}

// listPrefix reads every key under prefix, in pages, at the revision of
// the first page, which it returns with them (sorted by key). A
// compaction between pages starts the list again.
func (s *Store) listPrefix(ctx context.Context, prefix string) ([]*mvccpb.KeyValue, int64, error) {
	for attempt := 1; ; attempt++ {
		kvs, rev, err := s.listOnce(ctx, prefix)
		if errors.Is(err, rpctypes.ErrCompacted) && attempt < 3 {
			continue
		}
		return kvs, rev, err
	}
}

func (s *Store) listOnce(ctx context.Context, prefix string) ([]*mvccpb.KeyValue, int64, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	var (
		kvs  []*mvccpb.KeyValue
		rev  int64
		from = prefix
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Get(cctx, from, opts...)
		cancel()
		if err != nil {
			return nil, 0, s.wrapErr(ctx, "list "+prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs = append(kvs, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return kvs, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func decodeListener(id string, value []byte) registry.Record {
	rec, _ := specpb.DecodeRecord(id, value)
	return rec
}
