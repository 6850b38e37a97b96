package rawsock

import (
	"io"
	"net"
	"testing"
	"time"
)

// benchDeadline bounds a benchmark's connection, so a bug fails the run
// instead of hanging it.
const benchDeadline = 2 * time.Minute

// BenchmarkTCPEcho measures a 64-byte echo through a real loopback
// connection: one request in flight (ping-pong), or 64 pipelined. The
// client reuses its buffers, so the allocations reported are the
// server's.
func BenchmarkTCPEcho(b *testing.B) {
	for _, depth := range []int{1, 64} {
		b.Run(map[int]string{1: "pingpong", 64: "pipelined64"}[depth], func(b *testing.B) {
			ln := startListener(b, Config{})
			frame, _ := ln.current().response.AppendFrame(nil, make([]byte, 64))
			echoBatches(b, ln.Addr().String(), frame, depth)
		})
	}
}

func BenchmarkUDPEcho(b *testing.B) {
	ln := startListener(b, Config{Network: "udp"})
	conn, err := net.Dial("udp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(benchDeadline))
	frame, _ := ln.current().response.AppendFrame(nil, make([]byte, 64))
	reply := make([]byte, 2*len(frame))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if n, err := conn.Read(reply); err != nil || n != len(frame) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkTCPEchoLarge echoes 1 MiB frames on one connection, streamed
// (Echo, whose bodies of 256 KiB and more go through cutThrough) through
// its ring buffer or, with Splice, a pipe, and stored (the same reply from
// a handler that is not Echo, so the whole frame is read first), side by
// side in one run.
func BenchmarkTCPEchoLarge(b *testing.B) {
	for _, bc := range []struct {
		name    string
		handler Handler
	}{
		{"copied", Echo{}},
		{"spliced", Echo{Splice: true}},
		{"stored", HandlerFunc(func(w ResponseWriter, r *Request) { _ = w.Reply(r.Body) })},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln := startListener(b, Config{Handler: bc.handler})
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(benchDeadline))
			frame, _ := ln.current().response.AppendFrame(nil, make([]byte, 1<<20))
			reply := make([]byte, len(frame))
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				errc := make(chan error, 1)
				go func() { _, err := conn.Write(frame); errc <- err }()
				if _, err := io.ReadFull(conn, reply); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// echoBatches drives an echo server at addr: depth copies of frame per
// write, then the replies, until b.N frames went both ways. The client
// reuses its buffers, so the allocations reported are the server's.
func echoBatches(b *testing.B, addr string, frame []byte, depth int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(benchDeadline))
	batch := make([]byte, 0, depth*len(frame))
	for range depth {
		batch = append(batch, frame...)
	}
	reply := make([]byte, len(batch))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := conn.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil {
			b.Fatal(err)
		}
	}
}
