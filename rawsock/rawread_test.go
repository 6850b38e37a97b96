package rawsock

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// TestRawReadsGrow: a FramingRaw connection whose reads fill its buffer
// gets a larger one, up to maxRawReadSize, so 1 MiB sent at once is read
// in far fewer pieces than the 256 a 4 KiB buffer would take; the echo
// is whole and in order.
func TestRawReadsGrow(t *testing.T) {
	var stats Stats
	ln := startListener(t, Config{Request: wire.Codec{Framing: wire.FramingRaw}, Stats: &stats})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() { _, _ = c.Write(payload) }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the echo differs from what was sent")
	}
	if n := stats.Snapshot().FramesIn; n >= uint64(len(payload)/readBufSize) {
		t.Fatalf("1 MiB read in %d pieces: the buffer did not grow past %d bytes", n, readBufSize)
	}
}
