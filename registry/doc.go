// Package registry keeps sockplane's desired state: named listeners built
// from Specs, which it can create, stop, start again, inspect, delete and,
// with a Store, restore after a restart.
//
// One desired-state core: a Spec is checked and completed in exactly one
// place, Policy.Provision, and every path that makes a listener run —
// Create, Start, Restore, and the in-place updates built on them — goes
// through it, so the daemon-wide Policy (the exec allow list, the bound
// on listeners) holds on every path, restores included. The store keeps
// the spec as asked; Provision fills the defaults in again at each start,
// and Get shows the effective spec.
//
// Concurrency: the registry's map lock is held only to reserve, find and
// forget ids. Binding, dialling a stale Unix socket and saving run
// outside it under one listener's operation lock, so Get, List and a
// metrics scrape never wait on I/O, and operations on one listener stay
// in order. Shutdown has net/http's contract; see Registry.
//
// The registry knows nothing of gRPC or protobuf; package api serves it,
// package specpb converts its specs, package boltstore stores them.
package registry
