// Package agent makes a daemon one node of a cluster whose desired state
// lives in etcd (package cluster). It has two halves:
//
//   - the reconciler serves this node's share: every listener record that
//     names this node is applied to the local registry (registry.Apply:
//     the same Provision, policy, bind and in-place update as a local
//     call), every other one is stopped and forgotten here, and what the
//     node observes is published as the listener's status under the
//     node's lease;
//   - the listener calls of the API (Create, Update, Stop, Start, Delete,
//     Get, List, DeleteMatching) act on the cluster's desired state from
//     any node: they validate the spec (registry.Policy.Validate), write
//     the record with a compare-and-swap, and wait — up to
//     Config.AckTimeout — for the owner's status to reflect the new
//     generation, so a bind error on the owner still comes back from the
//     call. Past the bound the call answers with the listener in
//     StatePending.
//
// Reads come from informers (listeners, statuses, nodes) kept in memory:
// while etcd cannot be reached they answer from the last state known,
// marked Stale, and writes fail with cluster.ErrUnavailable. A listener
// whose owner's node key is gone shows StateUnknown with the time the node
// was last seen; its desired state stays and the node serves it again
// when it comes back.
//
// Etags are made from the record's create time and generation, as the
// local registry's are; the writes themselves compare the key's mod
// revision, so an owner recording the address it bound (which changes
// the revision, not the generation) never invalidates a caller's etag.
//
// Goroutines: the Agent owns its informers, its session and one worker
// per listener being reconciled; Close stops them all.
package agent
