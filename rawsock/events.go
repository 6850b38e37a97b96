package rawsock

import (
	"sync"
	"sync/atomic"
	"time"
)

// EventType says what an Event reports.
type EventType uint8

// The event types.
const (
	EventListenerCreated EventType = iota + 1
	EventListenerStarted
	EventListenerStopped
	EventListenerFailed // Message says why
	EventListenerDeleted
	EventConnectionOpened
	EventConnectionClosed
	EventFrameError      // a peer broke the framing or the limits; Message says how
	EventEventsDropped   // Dropped events did not reach a slow subscriber
	EventListenerExpired // reached its expire time and was deleted
	EventListenerUpdated // its desired state changed in place
	EventUpstreamError   // a relaying handler could not reach its upstream; Message names it and why
)

// Event is one thing that happened to a listener.
type Event struct {
	Type       EventType
	At         time.Time
	ListenerID string
	ConnID     uint64 // 0: not about a connection
	Peer       string
	Message    string
	Dropped    uint64
}

// EventBus fans events out to subscribers. Publishing never blocks: a
// subscriber whose buffer is full misses the event, and the miss is
// counted for it (Subscription.TakeDropped). With no subscribers,
// publishing costs one atomic load.
type EventBus struct {
	subscribers atomic.Int32

	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// NewEventBus returns a bus with no subscribers.
func NewEventBus() *EventBus {
	return &EventBus{subs: make(map[*Subscription]struct{})}
}

// Active reports whether anyone listens, so that publishers can skip
// building events nobody reads.
func (b *EventBus) Active() bool { return b != nil && b.subscribers.Load() > 0 }

// Publish hands e to every subscriber that wants it, stamping its time if
// it has none.
func (b *EventBus) Publish(e Event) {
	if !b.Active() {
		return
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.listenerID != "" && s.listenerID != e.ListenerID {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscribe starts delivering events, of one listener or (listenerID "")
// of all, into a buffer of the given size. Close the subscription when
// done.
func (b *EventBus) Subscribe(listenerID string, buffer int) *Subscription {
	s := &Subscription{bus: b, listenerID: listenerID, ch: make(chan Event, max(buffer, 1))}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	b.subscribers.Add(1)
	return s
}

// Subscription is one subscriber's feed.
type Subscription struct {
	bus        *EventBus
	listenerID string
	ch         chan Event
	dropped    atomic.Uint64
	closeOnce  sync.Once
}

// Events is the feed. It is never closed: stop reading and Close.
func (s *Subscription) Events() <-chan Event { return s.ch }

// TakeDropped returns how many events missed this subscriber since the
// last call.
func (s *Subscription) TakeDropped() uint64 { return s.dropped.Swap(0) }

// Close stops the feed.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		s.bus.subscribers.Add(-1)
	})
}
