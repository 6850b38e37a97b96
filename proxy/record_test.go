package proxy

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRecordingRing: replies go to their exchange while the ring has it;
// a reply before any request is a greeting that the next replies join;
// the ring keeps the last max exchanges, oldest first, and counts the
// dropped; long bodies are cut and marked.
func TestRecordingRing(t *testing.T) {
	r := NewRecording(3)
	g := r.reply(1, 0, nil, []byte("hi"))
	if g2 := r.reply(1, g, nil, []byte("there")); g2 != g {
		t.Fatalf("a second greeting frame made exchange %d, want %d", g2, g)
	}
	a := r.request(1, []byte(`{"data_size": 1}`), []byte("a"))
	r.reply(1, a, []byte(`{"data_size": 1}`), []byte("A"))
	b := r.request(2, nil, bytes.Repeat([]byte("b"), MaxRecordedBytes+1))
	r.reply(2, b, nil, []byte("B"))
	ex, dropped := r.Exchanges()
	if len(ex) != 3 || dropped != 0 || ex[0].Request != nil || len(ex[0].Replies) != 2 || string(ex[1].Replies[0].Body) != "A" {
		t.Fatalf("exchanges: %+v, dropped %d", ex, dropped)
	}
	if !ex[2].Truncated || len(ex[2].Request.Body) != MaxRecordedBytes {
		t.Fatalf("a long body: truncated %t, kept %d bytes", ex[2].Truncated, len(ex[2].Request.Body))
	}
	c := r.request(1, nil, []byte("c"))
	if late := r.reply(1, g, nil, []byte("late")); late == g {
		t.Fatal("a reply joined an exchange the ring dropped")
	}
	r.reply(1, c, nil, []byte("C"))
	ex, dropped = r.Exchanges()
	if dropped != 2 || len(ex) != 3 || ex[0].Seq != b || ex[1].Seq != c || string(ex[1].Replies[0].Body) != "C" {
		t.Fatalf("after wrapping: %+v, dropped %d", ex, dropped)
	}
}
