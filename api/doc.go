// Package api adapts the listener registry (package registry) to the
// sockplane.v1 gRPC service and serves the same service over REST with
// grpc-gateway, next to the daemon's other HTTP endpoints (metrics,
// health, OpenAPI).
//
// It is a thin layer: request checks that only the API has (ids in
// paths, connection ids), conversion through package specpb, and one
// table (errors.go) that maps the registry's and the engine's sentinel
// errors to gRPC status codes, which the gateway turns into HTTP
// statuses. The rules themselves — what a valid listener is, what a
// conflict is — live in the registry, once. Metrics are read from the
// registry when Prometheus scrapes, so serving frames pays nothing for
// them.
package api
