package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksOnlyTheWireFormat: sockctl frames messages with package wire
// and calls the API through gen/; it must not link the engine's desired
// state (the registry) or its store.
func TestLinksOnlyTheWireFormat(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		for _, banned := range []string{"github.com/sockplane/sockplane/registry", "github.com/sockplane/sockplane/rawsock", "github.com/sockplane/sockplane/command", "go.etcd.io/bbolt"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("sockctl links %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/sockplane/sockplane/wire\n") {
		t.Error("sockctl does not link the wire package: the test lists the wrong thing")
	}
}
