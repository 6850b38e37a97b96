// Package api adapts rawsock's Registry to the sockplane.v1 gRPC service
// and serves the same service over REST with grpc-gateway.
//
// It is a thin layer: conversion between protobuf messages and rawsock
// Specs, and one table (errors.go) that maps rawsock's sentinel errors to
// gRPC status codes, which the gateway turns into HTTP statuses. The
// rules themselves — what a valid listener is, what a conflict is — live
// in rawsock, once.
package api
