package rawsock

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"testing"

	"github.com/sockplane/sockplane/wire"
)

// plainEchoServer is the smallest correct server of the same protocol,
// written the obvious way with the standard library: a goroutine per
// connection, bufio, encoding/json, two writes per reply. Benchmarks run
// the engine against it on the same load.
func plainEchoServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go servePlain(c)
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func servePlain(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var prefix [4]byte
	for {
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return
		}
		header := make([]byte, binary.LittleEndian.Uint32(prefix[:]))
		if _, err := io.ReadFull(r, header); err != nil {
			return
		}
		var h struct {
			DataSize int `json:"data_size"`
		}
		if json.Unmarshal(header, &h) != nil || h.DataSize < 0 || h.DataSize > wire.DefaultMaxBodyBytes {
			return
		}
		body := make([]byte, h.DataSize)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		out, _ := json.Marshal(map[string]int{"data_size": len(body)})
		binary.LittleEndian.PutUint32(prefix[:], uint32(len(out)))
		_, _ = w.Write(prefix[:])
		_, _ = w.Write(out)
		_, _ = w.Write(body)
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func BenchmarkPlainEcho(b *testing.B) {
	for _, depth := range []int{1, 64} {
		b.Run(map[int]string{1: "pingpong", 64: "pipelined64"}[depth], func(b *testing.B) {
			// The plain server answers with encoding/json's compact header,
			// so requests use it too and a reply is as long as its request.
			frame := le(`{"data_size":64}`, string(make([]byte, 64)))
			echoBatches(b, plainEchoServer(b), frame, depth)
		})
	}
}
