package agent

import "sync"

// queue runs work for ids, at most one run per id at a time and none for
// an id already waiting: an id added while its run is in progress runs
// once more after it, with whatever the state is then. So a burst of
// changes to one listener costs one or two reconciles, and a slow one (a
// drain) holds back no other listener.
type queue struct {
	run func(id string)

	mu      sync.Mutex
	active  map[string]bool // running now
	again   map[string]bool // added while running
	closed  bool
	running sync.WaitGroup
}

func newQueue(run func(id string)) *queue {
	return &queue{run: run, active: make(map[string]bool), again: make(map[string]bool)}
}

func (q *queue) add(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
	case q.active[id]:
		q.again[id] = true
	default:
		q.active[id] = true
		q.running.Add(1)
		go q.loop(id)
	}
}

func (q *queue) loop(id string) {
	defer q.running.Done()
	for {
		q.run(id)
		q.mu.Lock()
		if !q.again[id] || q.closed {
			delete(q.active, id)
			delete(q.again, id)
			q.mu.Unlock()
			return
		}
		delete(q.again, id)
		q.mu.Unlock()
	}
}

// close refuses new work and waits for the runs in progress.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.running.Wait()
}
