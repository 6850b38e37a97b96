package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/internal/etcdtest"
	"github.com/sockplane/sockplane/internal/poll"
	"github.com/sockplane/sockplane/internal/specpb"
	"github.com/sockplane/sockplane/registry"
)

// Writes of desired records are compare-and-swap on the key's mod
// revision, with the registry's sentinel errors.
func TestCompareAndSwap(t *testing.T) {
	c := etcdtest.New(t, 1)
	s := newStore(c.Client(t))
	ctx := ctxT(t)

	rec := record("web")
	rev1, err := s.Create(ctx, rec)
	if err != nil || rev1 == 0 {
		t.Fatalf("create: rev %d, %v", rev1, err)
	}
	if _, err := s.Create(ctx, rec); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := s.Get(ctx, "web")
	if err != nil || got.ModRevision != rev1 || !reflect.DeepEqual(got.Value, rec) {
		t.Fatalf("get: %+v, %v; want %+v at %d", got, err, rec, rev1)
	}

	rec.Generation = 2
	rev2, err := s.Update(ctx, rec, rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("update at %d: rev %d, %v", rev1, rev2, err)
	}
	if _, err := s.Update(ctx, rec, rev1); !errors.Is(err, registry.ErrEtagMismatch) {
		t.Fatalf("update at stale %d: %v, want ErrEtagMismatch", rev1, err)
	}
	if _, err := s.Update(ctx, record("nope"), rev1); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("update of a missing listener: %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, record("nope"), 0); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unconditional update of a missing listener: %v, want ErrNotFound", err)
	}
	rec.Generation = 3
	rev3, err := s.Update(ctx, rec, 0)
	if err != nil || rev3 <= rev2 {
		t.Fatalf("unconditional update: rev %d, %v", rev3, err)
	}

	if err := s.Delete(ctx, "web", rev2); !errors.Is(err, registry.ErrEtagMismatch) {
		t.Fatalf("delete at stale %d: %v, want ErrEtagMismatch", rev2, err)
	}
	if err := s.Delete(ctx, "web", rev3); err != nil {
		t.Fatalf("delete at %d: %v", rev3, err)
	}
	if err := s.Delete(ctx, "web", 0); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "web"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, record("Bad/Id")); err == nil {
		t.Fatal("created a listener whose id has '/'")
	}
}

// The stored value is the versioned storage format, under the documented
// key.
func TestKeyLayoutAndFormat(t *testing.T) {
	c := etcdtest.New(t, 1)
	cli := c.Client(t)
	s := NewStore(cli, "/custom")
	if s.Prefix() != "/custom/" || s.ListenerKey("a") != "/custom/listeners/a" ||
		s.NodeKey("n") != "/custom/nodes/n" || s.StatusKey("a") != "/custom/status/a" {
		t.Fatalf("keys: %s %s %s %s", s.Prefix(), s.ListenerKey("a"), s.NodeKey("n"), s.StatusKey("a"))
	}
	if d := NewStore(cli, ""); d.ListenerKey("a") != "/sockplane/v1/listeners/a" {
		t.Fatalf("default key %s", d.ListenerKey("a"))
	}
	ctx := ctxT(t)
	if _, err := s.Create(ctx, record("a")); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "/custom/listeners/a")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v %v", resp, err)
	}
	want, _ := specpb.EncodeRecord(record("a"))
	if string(resp.Kvs[0].Value) != string(want) || !strings.HasPrefix(string(want), `{"schemaVersion":1,`) {
		t.Fatalf("stored %s, want %s", resp.Kvs[0].Value, want)
	}
}

// A value that cannot be read keeps its id and says why, in lists and
// informers; it is never dropped.
func TestUnreadableKept(t *testing.T) {
	c := etcdtest.New(t, 1)
	cli := c.Client(t)
	s := newStore(cli)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, record("good")); err != nil {
		t.Fatal(err)
	}
	in := watchListeners(t, s, nil)
	for key, value := range map[string]string{
		s.ListenerKey("newer"):   `{"schemaVersion":99,"listener":{}}`,
		s.ListenerKey("garbage"): `not json`,
		s.NodeKey("broken"):      `{`,
		s.StatusKey("good"):      `[]`,
	} {
		if _, err := cli.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	recs, _, err := s.List(ctx)
	if err != nil || ids(recs) != "[garbage,good,newer]" {
		t.Fatalf("list: %s, %v", ids(recs), err)
	}
	for _, e := range recs {
		if (e.Value.Unreadable != nil) != (e.ID != "good") || e.Value.Spec.ID != e.ID {
			t.Errorf("%s: %+v", e.ID, e.Value)
		}
	}
	if !errors.Is(recs[2].Value.Unreadable, specpb.ErrNewerSchema) {
		t.Errorf("newer: %v, want ErrNewerSchema", recs[2].Value.Unreadable)
	}
	poll.Until(t, "the informer has the unreadable records", func() bool { return in.Len() == 3 })
	if e, ok := in.Get("garbage"); !ok || e.Value.Unreadable == nil {
		t.Fatalf("informer's garbage: %+v %v", e, ok)
	}
	nodes, _, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Value.Name != "broken" || nodes[0].Value.Unreadable == nil {
		t.Fatalf("nodes: %+v, %v", nodes, err)
	}
	sts, _, err := s.Statuses(ctx)
	if err != nil || len(sts) != 1 || sts[0].ID != "good" || sts[0].Value.Unreadable == nil {
		t.Fatalf("statuses: %+v, %v", sts, err)
	}
}
