package script

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/wire"
)

// BenchmarkTCPScriptVsEcho serves 64-byte frames through a real loopback
// connection, one request in flight or 64 pipelined, with the echo
// handler and with a script answering a bodyPrefix rule with a reply of
// the same size: side by side in one run, so their ratio is the cost of
// a script on the listener path (the client's share is the same in
// both). With the pipelined load most of the time is the server's.
func BenchmarkTCPScriptVsEcho(b *testing.B) {
	reply := string(make([]byte, 64))
	sc, err := New(Spec{Rules: []Rule{
		{Match: match.Spec{BodyPrefix: "PUT "}, Reply: Reply{Body: ptr("no")}},
		{Match: match.Spec{BodyPrefix: "GET "}, Reply: Reply{Body: &reply}},
	}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := append([]byte("GET "), make([]byte, 60)...)
	for _, depth := range []int{1, 64} {
		for _, h := range []struct {
			name    string
			handler rawsock.Handler
		}{{"echo", rawsock.Echo{}}, {"script", sc}} {
			b.Run(map[int]string{1: "pingpong", 64: "pipelined64"}[depth]+"/"+h.name, func(b *testing.B) {
				ln, err := rawsock.NewListener(rawsock.Config{Network: "tcp", Address: "127.0.0.1:0", Handler: h.handler})
				if err != nil {
					b.Fatal(err)
				}
				if err := ln.Start(); err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				var codec wire.Codec
				frame, _ := codec.AppendFrame(nil, body)
				pingPong(b, ln.Addr().String(), frame, depth)
			})
		}
	}
}

// pingPong writes depth frames at a time and reads their replies, which
// are as large as the frames, until the benchmark ends.
func pingPong(b *testing.B, addr string, frame []byte, depth int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	batch := make([]byte, 0, depth*len(frame))
	for range depth {
		batch = append(batch, frame...)
	}
	replies := make([]byte, len(batch))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := conn.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, replies); err != nil {
			b.Fatal(err)
		}
	}
}
