package registry

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestGracefulAndImmediateStop: a graceful stop lets a large frame in
// progress finish and be answered; an immediate one cuts it; both end
// within their bounds.
func TestGracefulAndImmediateStop(t *testing.T) {
	r := newTestRegistry(t)
	for _, immediate := range []bool{false, true} {
		info, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0"}, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, info.BoundAddr)
		conn := c.conn
		body := bytes.Repeat([]byte("z"), 2<<20)
		frame, _ := c.codec.AppendFrame(nil, body)
		half := len(frame) / 2
		c.write(frame[:half])
		waitFor(t, "half the frame", func() bool {
			s, _ := r.Get(info.Spec.ID)
			return s.Stats.BytesIn >= uint64(half)
		})
		stopped := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			_, _ = r.Stop(t.Context(), info.Spec.ID, StopOptions{Immediate: immediate, DrainTimeout: 5 * time.Second})
			stopped <- time.Since(start)
		}()
		if immediate {
			took := <-stopped
			if took > time.Second {
				t.Fatalf("immediate stop took %v", took)
			}
			_, _ = conn.Write(frame[half:])
			if _, err := c.codec.ReadFrame(c.br); err == nil {
				t.Fatal("an immediate stop let the frame finish")
			}
			continue
		}
		waitFor(t, "the port to close", func() bool {
			probe, err := net.Dial("tcp", info.BoundAddr)
			if err == nil {
				probe.Close()
			}
			return err != nil
		})
		c.write(frame[half:])
		if f, err := c.codec.ReadFrame(c.br); err != nil || len(f.Body) != len(body) {
			t.Fatalf("graceful stop: the frame in progress got %d bytes, %v", len(f.Body), err)
		}
		if took := <-stopped; took > 5*time.Second {
			t.Fatalf("graceful stop took %v", took)
		}
	}
}

// TestGracefulStopHonoursItsBound: a frame that never finishes is cut at
// the drain timeout.
func TestGracefulStopHonoursItsBound(t *testing.T) {
	r := newTestRegistry(t)
	info, err := r.Create(t.Context(), Spec{Transport: TransportTCP, Address: "127.0.0.1:0"}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", info.BoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{16, 0}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the partial frame", func() bool { s, _ := r.Get(info.Spec.ID); return s.Stats.BytesIn == 2 })
	start := time.Now()
	if _, err := r.Stop(t.Context(), info.Spec.ID, StopOptions{DrainTimeout: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("stop took %v, want about the drain timeout", took)
	}
}
