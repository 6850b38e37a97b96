package rawsock

import (
	"io"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/wire"
)

// TestTCPFramingCombinations serves each request framing with each
// response framing over a real connection.
func TestTCPFramingCombinations(t *testing.T) {
	framings := []wire.Framing{wire.FramingJSONHeader, wire.FramingLengthPrefixed, wire.FramingRaw}
	for _, req := range framings {
		for _, resp := range framings {
			t.Run(req.String()+"/"+resp.String(), func(t *testing.T) {
				ln := startListener(t, Config{Handler: Upper{},
					Request:  wire.Codec{Framing: req, ByteOrder: wire.BigEndian},
					Response: wire.Codec{Framing: resp, ByteOrder: wire.BigEndian}})
				c := dial(t, ln)
				in := wire.Codec{Framing: req, ByteOrder: wire.BigEndian}
				b, _ := in.AppendFrame(nil, []byte("tutorial"))
				c.write(b)
				if got := string(c.recv().Body); got != "TUTORIAL" {
					t.Fatalf("got %q", got)
				}
			})
		}
	}
}

func TestUDPRaw(t *testing.T) {
	ln := startListener(t, Config{Network: "udp", Handler: Upper{}, Request: wire.Codec{Framing: wire.FramingRaw}})
	c := dialUDP(t, ln)
	for _, msg := range []string{"hello", ""} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(msg) {
			t.Fatalf("%q: got %q, %v", msg, buf[:n], err)
		}
	}
}

// TestTCPLengthPrefixedBadLengthClosesQuietly: with no place for an error
// message in the response framing, a bad frame just closes.
func TestTCPLengthPrefixedBadLengthClosesQuietly(t *testing.T) {
	ln := startListener(t, Config{Request: wire.Codec{Framing: wire.FramingLengthPrefixed}})
	c := dial(t, ln)
	c.write([]byte{0, 0, 0, 0x80}) // negative, little-endian
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after a negative length: %v, want EOF", err)
	}
	if s := ln.Stats().Snapshot(); s.Errors != 1 {
		t.Fatalf("errors = %d", s.Errors)
	}
}
