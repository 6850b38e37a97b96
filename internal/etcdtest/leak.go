package etcdtest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakTimeout is how long VerifyTestMain waits for goroutines to end.
// etcd's peer HTTP connections outlive a stopped member by up to their
// read timeout (5 s), because etcd's connection wrapper sets its read
// deadline again on every Read and so defeats net/http's abort of a
// pending read; goleak's own wait is about a second.
const LeakTimeout = 10 * time.Second

// VerifyTestMain runs the tests, then fails the run if goroutines (but
// those opts ignore) are still running LeakTimeout after the last test
// ended. With etcd 3.7 no goroutine needs ignoring: every one that etcd's
// server and client start ends once the member and the client are
// closed, the last ones within seconds.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(LeakTimeout)
		for {
			err := goleak.Find(opts...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: goroutines still running %v after the tests: %v\n", LeakTimeout, err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond) // goleak.Find itself retries for about a second
		}
	}
	os.Exit(code)
}
