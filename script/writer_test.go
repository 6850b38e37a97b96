package script

import (
	"fmt"
	"strings"
	"time"

	"github.com/sockplane/sockplane/wire"
)

// fakeWriter records the calls a handler makes, in order, as text.
type fakeWriter struct {
	calls []string
}

func (w *fakeWriter) Reply(body []byte, extra ...wire.HeaderField) error {
	var b strings.Builder
	fmt.Fprintf(&b, "reply %q", body)
	for _, f := range extra {
		fmt.Fprintf(&b, " %s=%v", f.Name, f.Value)
	}
	w.calls = append(w.calls, b.String())
	return nil
}

func (w *fakeWriter) ReplyError(msg string) error {
	w.calls = append(w.calls, "error "+msg)
	return nil
}

func (w *fakeWriter) Delay(d time.Duration) {
	w.calls = append(w.calls, "delay "+d.String())
}

func (w *fakeWriter) CloseAfterReply(reset bool) {
	if reset {
		w.calls = append(w.calls, "reset")
	} else {
		w.calls = append(w.calls, "close")
	}
}

func (w *fakeWriter) String() string { return strings.Join(w.calls, "; ") }

// nopWriter does nothing, for the allocation test and the benchmark: a
// recording writer would allocate on its own.
type nopWriter struct{}

func (nopWriter) Reply([]byte, ...wire.HeaderField) error { return nil }
func (nopWriter) ReplyError(string) error                 { return nil }
func (nopWriter) Delay(time.Duration)                     {}
func (nopWriter) CloseAfterReply(bool)                    {}
