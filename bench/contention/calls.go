package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// bench holds the clients, what exists on the daemon and the errors.
type bench struct {
	o        options
	ctx      context.Context // the run's; cancelled by SIGINT or SIGTERM
	base     context.Context // ctx with the token, if there is one
	getter   sockplanev1.ListenerServiceClient
	creators []sockplanev1.ListenerServiceClient
	// inflight is how many creates are in flight now.
	inflight atomic.Int32

	mu sync.Mutex
	// live is every listener this run may have made and not deleted:
	// true once a create of it succeeded, false while it is unknown (a
	// create in flight, or one that failed in a way that may have
	// created it anyway).
	live                                    map[string]bool
	creates, createErrs, getErrs, deleteErr int
	firstErr                                string
}

// call returns a context for one call: bounded by --timeout, with the
// token if there is one.
func (b *bench) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.base, b.o.timeout)
}

// setContext makes ctx the run's context.
func (b *bench) setContext(ctx context.Context) {
	b.ctx, b.base = ctx, ctx
	if b.o.token != "" {
		b.base = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.o.token)
	}
}

// fail counts an error of one kind and keeps the first.
func (b *bench) fail(count *int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	*count++
	if b.firstErr == "" {
		b.firstErr = err.Error()
	}
}

func (b *bench) failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.createErrs+b.getErrs+b.deleteErr > 0
}

func (b *bench) first() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.firstErr
}

func (b *bench) tally() (creates, createErrs, getErrs, deleteErrs int, first string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.creates, b.createErrs, b.getErrs, b.deleteErr, b.firstErr
}

// ids names n listeners of one batch.
func (b *bench) ids(kind string, round, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%s%d-%d", b.o.prefix, kind, round, i)
	}
	return ids
}

// create makes TCP echo listener id on 127.0.0.1:0 and checks that it
// is running on a bound address.
func (b *bench) create(c sockplanev1.ListenerServiceClient, id string) error {
	b.mu.Lock()
	b.creates++
	b.live[id] = false
	b.mu.Unlock()
	ctx, cancel := b.call()
	resp, err := c.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
		Id: id, Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0", Handler: sockplanev1.Handler_HANDLER_ECHO,
	}})
	cancel()
	if err != nil {
		if status.Code(err) == codes.AlreadyExists {
			// Not this run's: leave it alone.
			b.mu.Lock()
			delete(b.live, id)
			b.mu.Unlock()
		}
		err = fmt.Errorf("create %s: %w", id, err)
		b.fail(&b.createErrs, err)
		return err
	}
	b.mu.Lock()
	b.live[id] = true
	b.mu.Unlock()
	if st := resp.GetListener().GetStatus(); st.GetState() != sockplanev1.State_STATE_RUNNING || st.GetBoundAddress() == "" {
		err = fmt.Errorf("create %s: the listener is %s at %q: %s", id, st.GetState(), st.GetBoundAddress(), st.GetError())
		b.fail(&b.createErrs, err)
		return err
	}
	return nil
}

// delete deletes listener id, if this run may have made it.
func (b *bench) delete(c sockplanev1.ListenerServiceClient, id string) {
	b.mu.Lock()
	confirmed, ok := b.live[id]
	b.mu.Unlock()
	if !ok || b.ctx.Err() != nil {
		return // interrupted: cleanup deletes it
	}
	ctx, cancel := b.call()
	_, err := c.DeleteListener(ctx, &sockplanev1.DeleteListenerRequest{Id: id, Mode: sockplanev1.StopMode_STOP_MODE_IMMEDIATE})
	cancel()
	if err == nil || (!confirmed && status.Code(err) == codes.NotFound) {
		b.mu.Lock()
		delete(b.live, id)
		b.mu.Unlock()
		return
	}
	b.fail(&b.deleteErr, fmt.Errorf("delete %s: %w", id, err))
}

// createAll creates ids from clients concurrently, each client taking
// the next id when its create returns, until all are taken or stop (if
// not nil) returns true, and returns the wall time from the moment every
// client is ready to the last reply.
func (b *bench) createAll(clients []sockplanev1.ListenerServiceClient, ids []string, stop func() bool) time.Duration {
	var next atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(len(clients))
	for _, c := range clients {
		done.Go(func() {
			ready.Done()
			<-start
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ids)) || b.ctx.Err() != nil || (stop != nil && stop()) {
					return
				}
				b.inflight.Add(1)
				_ = b.create(c, ids[i]) // counted
				b.inflight.Add(-1)
			}
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0)
}

// deleteAll deletes ids from every creator concurrently; untimed.
func (b *bench) deleteAll(ids []string) {
	var next atomic.Int64
	var done sync.WaitGroup
	for _, c := range b.creators {
		done.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ids)) {
					return
				}
				b.delete(c, ids[i])
			}
		})
	}
	done.Wait()
}

// cleanup deletes every listener this run may have made and not yet
// deleted, with a context of its own: the run's may be cancelled.
func (b *bench) cleanup() {
	b.setContext(context.Background())
	b.mu.Lock()
	ids := make([]string, 0, len(b.live))
	for id := range b.live {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	b.deleteAll(ids)
}

// getCall returns a function that calls GetListener of id once and
// returns how long the call took.
func (b *bench) getCall(id string) func() (time.Duration, error) {
	req := &sockplanev1.GetListenerRequest{Id: id}
	return func() (time.Duration, error) {
		ctx, cancel := b.call()
		start := time.Now()
		_, err := b.getter.GetListener(ctx, req)
		d := time.Since(start)
		cancel()
		if err != nil {
			err = fmt.Errorf("GetListener %s: %w", id, err)
			b.fail(&b.getErrs, err)
			return 0, err
		}
		return d, nil
	}
}
