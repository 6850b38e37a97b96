// Package cluster keeps the desired state of a cluster of sockplane
// nodes in etcd, and what each node observes of the listeners it serves.
// Every node reads and writes the desired state of every listener; the
// listener's owner (its node) makes it so and publishes its status. The
// daemon is wired onto this package; the package itself knows nothing of
// gRPC services or of the registry's engine.
//
// # Key layout
//
// This layout is a contract: other versions of sockplane, and operators
// with etcdctl, read and write these keys. Every key starts with the
// prefix (DefaultPrefix, "/sockplane/v1/", unless configured; a prefix
// always ends with '/'). ids and node names are 1 to 63 lowercase
// letters, digits and '-' (registry.ValidateID), so they never contain
// '/'.
//
//	<prefix>listeners/<id>  the listener's desired state: a
//	                        sockplane.v1.ListenerRecord in protojson, the
//	                        versioned storage format of specpb.EncodeRecord
//	                        (the bbolt store keeps the same bytes). No
//	                        lease: it stays when every node is gone. Every
//	                        write is a compare-and-swap on the key's mod
//	                        revision; the API's etag is made from the
//	                        record's create time and generation, so the
//	                        owner recording the address it bound (a write
//	                        that changes no generation) keeps it.
//	<prefix>nodes/<name>    a live node: JSON {"name", "grpcAddress",
//	                        "version", "startedAt"} (NodeInfo), under the
//	                        node's lease. Present means alive; it goes when
//	                        the lease expires or is revoked.
//	<prefix>status/<id>     what the listener's owner observes of it: JSON
//	                        {"node", "state", "boundAddress", "error", "reason",
//	                        "observedGeneration", "since"} (Status), under
//	                        the owner's lease, so that it goes with the
//	                        owner. A listener without a status key has an
//	                        owner that is gone or has not acted yet:
//	                        readers show it as unknown (STATE_UNKNOWN),
//	                        never as its last status.
//
// A value that cannot be read (written by a newer sockplane, damaged) is
// never dropped: readers keep its id and report why (registry.Record's,
// Status's and NodeInfo's Unreadable).
//
// # Writes and errors
//
// Store.Create, Store.Update and Store.Delete are transactions that
// compare the key's create or mod revision, and fail with
// registry.ErrExists, registry.ErrNotFound or registry.ErrEtagMismatch,
// so the API maps them as it maps the local registry's. Every call is
// bounded by Store.CallTimeout; when etcd cannot answer within it (no
// quorum, no member reachable), the error wraps ErrUnavailable. A call
// whose own context ends returns that context's error.
//
// # Sessions
//
// A node joins with Store.Join, which writes its node key under a new
// lease, only if no live node has that name (ErrNodeNameTaken), and keeps
// the lease alive. The statuses it publishes go under the same lease.
// When the lease is lost — revoked, or expired while etcd was out of
// reach — the session grants a new one and writes its node key and every
// status it published again, on its own goroutine, retrying with capped
// backoff while etcd is unavailable; if another node took its name
// meanwhile, the session ends (Session.Done, Session.Err).
//
// # Informers
//
// An Informer mirrors one kind of key (listeners, statuses or nodes): it
// lists them, then watches from the list's revision + 1, with progress
// notifications and previous values. When the watch's revision was
// compacted, it lists again and delivers the difference from what it had
// (never skipping a change: a key created and deleted within the gap is
// rightly never seen, one deleted is delivered as a delete). A watch that
// ends — an etcd outage, a member without a leader — is opened again from
// the last revision seen, with capped backoff; meanwhile the informer
// keeps its last state and says it is Stale. Its handler's callbacks run
// in order on the informer's goroutine.
//
// # Goroutines
//
// Each goroutine has one owner that stops it: a Session's with
// Session.Close (or Session.Abandon), an Informer's with Informer.Close
// or the context given to it. The etcd client is the caller's: closing
// it ends the watches and keepalives built on it.
package cluster
