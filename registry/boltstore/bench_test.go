package boltstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/sockplane/sockplane/registry"
)

// BenchmarkSave times one Save at a time, as serial creates make them: an
// encode and a durable commit. The store is in the test's temporary
// directory, so the disk under it decides most of the time.
func BenchmarkSave(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec := registry.Record{Spec: registry.Spec{ID: fmt.Sprintf("bench-%d", i%1000), Transport: registry.TransportTCP,
			Address: "127.0.0.1:0", Handler: registry.HandlerEcho}, Running: true, LastBound: "127.0.0.1:40000",
			Generation: 1, CreateTime: time.Now()}
		i++
		if err := s.Save(rec); err != nil {
			b.Fatal(err)
		}
	}
}
