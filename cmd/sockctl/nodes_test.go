package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// TestNodesOutsideACluster: a daemon on its own says it is in no
// cluster, and sockctl fails with that.
func TestNodesOutsideACluster(t *testing.T) {
	addr, _ := startDaemon(t)
	_, _, err := sockctl(t, "", "--server", addr, "nodes")
	if err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("sockctl nodes outside a cluster: %v", err)
	}
}

// TestNodesTable: a row per node, alive or not, with its listeners.
func TestNodesTable(t *testing.T) {
	var out strings.Builder
	p := printer{w: &out, format: outputTable, now: func() time.Time { return time.Unix(0, 0) }}
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err := p.nodes(&sockplanev1.ListNodesResponse{Nodes: []*sockplanev1.Node{
		{Name: "a", GrpcAddress: "127.0.0.1:7070", Alive: true, Listeners: 2, Version: "v1", StartedAt: timestamppb.New(started)},
		{Name: "b", Listeners: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.Contains(lines[1], "127.0.0.1:7070") || !strings.Contains(lines[1], "yes") ||
		!strings.HasPrefix(lines[2], "b ") || !strings.Contains(lines[2], "no") {
		t.Fatalf("the table:\n%s", out.String())
	}
}
