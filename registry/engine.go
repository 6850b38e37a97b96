package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// start binds the entry's listener with a provisioned spec. A spec that
// asks for port 0 gets the port it had before, when it had one and it is
// still free, so clients of a stopped and started (or restored) listener
// find it where it was. The caller holds the entry's operation lock.
func (r *Registry) start(e *entry, prov *Provisioned) error {
	e.mu.Lock()
	previous := e.lastBound
	if e.capture == nil {
		e.capture = rawsock.NewCapture(prov.Spec.Capture.MaxFrames, prov.Spec.Capture.MaxBytesPerFrame)
	}
	cfg := prov.config(&e.stats, e.capture, r.events, r.log)
	e.setEffective(prov)
	e.mu.Unlock()
	var ln *rawsock.Listener
	var err error
	if previous != "" && asksAnyPort(cfg.Address) {
		again := cfg
		again.Address = previous
		ln, _ = bind(again)
	}
	if ln == nil {
		ln, err = bind(cfg)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.ln, e.failure = nil, err.Error()
		return err
	}
	e.ln, e.failure, e.startedAt, e.lastBound = ln, "", time.Now(), ln.Addr().String()
	return nil
}

func bind(cfg rawsock.Config) (*rawsock.Listener, error) {
	ln, err := rawsock.NewListener(cfg)
	if err != nil {
		return nil, err
	}
	if err := ln.Start(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// stopListener takes the entry's listener away and stops it, and reports
// whether it had one. A graceful stop drains until opts.DrainTimeout, ctx
// or the registry's cut ends it. The caller holds the operation lock.
func (r *Registry) stopListener(ctx context.Context, e *entry, opts StopOptions) bool {
	e.mu.Lock()
	ln := e.ln
	e.ln, e.failure = nil, ""
	e.mu.Unlock()
	if ln == nil {
		return false
	}
	if opts.Immediate {
		r.closeListener(e, ln)
	} else {
		r.drain(ctx, e, ln, cmpOr(opts.DrainTimeout, DefaultDrainTimeout))
	}
	return true
}

// drain stops ln gracefully for at most d, or until ctx or the
// registry's cut ends, then closes what is left.
func (r *Registry) drain(ctx context.Context, e *entry, ln *rawsock.Listener, d time.Duration) {
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(r.cut, cancel)
	defer stop()
	_ = ln.Shutdown(dctx) // past the bound, Close cuts the rest
	r.closeListener(e, ln)
}

// closeListener hard-stops ln, reporting handlers that outlive it.
func (r *Registry) closeListener(e *entry, ln *rawsock.Listener) {
	if ln == nil {
		return
	}
	if err := ln.Close(); err != nil {
		r.log.Warn("listener closed; its handlers ignore their context", "id", e.id, "error", err)
	}
}

// save writes e's desired state to the store, if there is one. The
// caller holds the operation lock, which keeps the saves of one listener
// in order.
func (r *Registry) save(e *entry) error {
	if r.store == nil {
		return nil
	}
	e.mu.Lock()
	rec := Record{Spec: e.desired, Running: e.running, LastBound: e.lastBound,
		Generation: e.generation, CreateTime: e.createTime, RequestID: e.requestID}
	e.mu.Unlock()
	if err := r.store.Save(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// logDropped says which programs the policy took out of a listener's
// exec allow list.
func (r *Registry) logDropped(id string, prov *Provisioned) {
	if len(prov.Dropped) > 0 {
		r.log.Warn("exec allow list narrowed to the daemon's", "id", id, "dropped", prov.Dropped, "allowed", prov.Spec.Exec.Allow)
	}
}
