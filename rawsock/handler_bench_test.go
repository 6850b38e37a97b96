package rawsock

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// framingWriter is a ResponseWriter that frames each reply into one
// reused buffer, as a stream connection's Reply does before it writes,
// so a handler benchmark counts the handler and the response encoding
// but no socket.
type framingWriter struct {
	codec wire.Codec
	out   []byte
}

func (w *framingWriter) Reply(body []byte, extra ...wire.HeaderField) error {
	out, err := w.codec.AppendFrame(w.out[:0], body, extra...)
	w.out = out
	return err
}

func (w *framingWriter) ReplyError(msg string) error {
	w.out = w.codec.AppendErrorFrame(w.out[:0], errors.New(msg))
	return nil
}

func (w *framingWriter) Delay(time.Duration)  {}
func (w *framingWriter) CloseAfterReply(bool) {}

// BenchmarkHandler serves one request frame with each built-in handler
// but exec (which starts a process), at the two sizes of bench/run.sh.
// Upper works in place, so after the first iteration it uppercases
// letters that already are: the loop still reads and compares every
// byte.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    Handler
		size int
	}{
		{"echo/64B", Echo{}, 64},
		{"echo/1MiB", Echo{}, 1 << 20},
		{"upper/64B", Upper{}, 64},
		{"upper/1MiB", Upper{}, 1 << 20},
		{"discard/64B", Discard{}, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := bytes.Repeat([]byte("sockplane"), bc.size/9+1)[:bc.size]
			req := &Request{Body: body}
			w := &framingWriter{codec: wire.Codec{}.WithDefaults(), out: make([]byte, 0, bc.size+64)}
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			for b.Loop() {
				bc.h.ServeFrame(w, req)
			}
		})
	}
}
