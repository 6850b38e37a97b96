// Command baseline is the plain standard-library reference the
// benchmarks in bench/ compare sockplane with. It serves one of three
// things on one socket, written the obvious way with no tuning:
//
//   - framed: the framed-header echo (a 4-byte little-endian header
//     length, a JSON header holding "data_size", the body), one goroutine
//     per connection, bufio and encoding/json, the reply in three writes
//     to a bufio.Writer flushed when no request is buffered. It is the
//     server of rawsock/baseline_test.go as a program.
//   - copy: io.Copy of each TCP connection back onto itself, the "plain
//     bulk loopback copy". An echo reply frame is byte-identical to its
//     request, so a framed load generator can drive it unchanged. Between
//     two TCP connections io.Copy uses splice(2): the bytes never enter
//     the process.
//   - readwrite: the same copy through a 32 KiB buffer in the process
//     (read, then write), as any server that looks at the bytes must.
//   - udp: a bare ReadFrom/WriteTo loop sending every datagram back.
//
// It prints the bound address on stdout, then serves until SIGINT or
// SIGTERM.
//
//	baseline [--mode framed|copy|udp] [--addr 127.0.0.1:0]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// The bounds of a request, sockplane's default limits.
const (
	maxHeaderBytes = 16 << 10
	maxBodyBytes   = 4 << 20
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	mode := fs.String("mode", "framed", "framed (JSON-header echo), copy (io.Copy echo), readwrite (read/write echo) or udp (ReadFrom/WriteTo echo)")
	addr := fs.String("addr", "127.0.0.1:0", "address to bind")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch *mode {
	case "framed", "copy", "readwrite":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		fmt.Println(ln.Addr())
		serve := serveFramed
		switch *mode {
		case "copy":
			serve = func(c net.Conn) { _, _ = io.Copy(c, c) }
		case "readwrite":
			serve = serveReadWrite
		}
		context.AfterFunc(ctx, func() { _ = ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	case "udp":
		pc, err := net.ListenPacket("udp", *addr)
		if err != nil {
			return err
		}
		fmt.Println(pc.LocalAddr())
		context.AfterFunc(ctx, func() { _ = pc.Close() })
		buf := make([]byte, 64<<10)
		for {
			n, peer, err := pc.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return nil
				}
				continue
			}
			_, _ = pc.WriteTo(buf[:n], peer)
		}
	default:
		return fmt.Errorf("--mode %q: want framed, copy, readwrite or udp", *mode)
	}
}

// serveReadWrite echoes bytes through a buffer in the process.
func serveReadWrite(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveFramed echoes framed-header frames until the peer leaves or sends
// a bad one.
func serveFramed(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var prefix [4]byte
	for {
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return
		}
		n := binary.LittleEndian.Uint32(prefix[:])
		if n == 0 || n > maxHeaderBytes {
			return
		}
		header := make([]byte, n)
		if _, err := io.ReadFull(r, header); err != nil {
			return
		}
		var h struct {
			DataSize int `json:"data_size"`
		}
		if json.Unmarshal(header, &h) != nil || h.DataSize < 0 || h.DataSize > maxBodyBytes {
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
