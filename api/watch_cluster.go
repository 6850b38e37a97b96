package api

import (
	"context"
	"sync"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// watchCluster streams the events of every other node alive now into
// out, each from a WatchEvents call forwarded to that node, until ctx
// ends; the returned wait waits for its goroutines. A node that joins
// later is not watched, and one that goes away ends its part silently:
// its listeners' states show it.
func (s *ListenerService) watchCluster(ctx context.Context, listenerID string, out chan<- *sockplanev1.Event) (wait func()) {
	var wg sync.WaitGroup
	fctx := s.forwardContext(ctx)
	for _, n := range s.cluster.Nodes() {
		if !n.Alive || n.Name == s.cluster.Name() || n.GRPCAddress == "" {
			continue
		}
		cli, err := s.forward.client(n.GRPCAddress)
		if err != nil {
			continue
		}
		wg.Go(func() {
			stream, err := cli.WatchEvents(fctx, &sockplanev1.WatchEventsRequest{ListenerId: listenerID})
			if err != nil {
				return
			}
			for {
				resp, err := stream.Recv()
				if err != nil {
					return
				}
				ev := resp.GetEvent()
				if ev.GetNode() == "" {
					ev.Node = n.Name
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	return wg.Wait
}
