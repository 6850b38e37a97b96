package registry

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

// BenchmarkCreate times Create of a TCP echo listener on 127.0.0.1:0 with
// no store, the path of issue 15's create latency between the API call
// and the bound port; each listener is deleted outside the timer.
func BenchmarkCreate(b *testing.B) {
	r := New(slog.New(slog.DiscardHandler), Policy{}, nil)
	defer r.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("bench-%d", i)
		i++
		if _, err := r.Create(ctx, Spec{ID: id, Transport: TransportTCP, Address: "127.0.0.1:0", Handler: HandlerEcho}, CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := r.Delete(ctx, id, StopOptions{Immediate: true}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
