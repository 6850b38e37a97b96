package rawsock

import (
	"sync"
	"time"
)

// Timers run functions later — held replies, delayed sends — each on a
// timer, not a goroutine, until it fires; Stop cancels those not yet
// fired and waits for those running, so whoever owns a Timers owns what
// it runs. The zero value is ready to use.
type Timers struct {
	mu      sync.Mutex
	pending map[*time.Timer]struct{}
	closed  bool
	firing  sync.WaitGroup
}

// After runs fn once d has passed, unless Stop came first.
func (h *Timers) After(d time.Duration, fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if h.pending == nil {
		h.pending = make(map[*time.Timer]struct{})
	}
	var t *time.Timer
	h.firing.Add(1)
	t = time.AfterFunc(d, func() {
		defer h.firing.Done()
		h.mu.Lock()
		_, live := h.pending[t]
		delete(h.pending, t)
		h.mu.Unlock()
		if live {
			fn()
		}
	})
	h.pending[t] = struct{}{}
}

// Stop cancels the functions not yet run, waits for those running, and
// makes every later After do nothing.
func (h *Timers) Stop() {
	h.mu.Lock()
	h.closed = true
	for t := range h.pending {
		if t.Stop() {
			h.firing.Done()
		}
	}
	h.pending = nil
	h.mu.Unlock()
	h.firing.Wait()
}
