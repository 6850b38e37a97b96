package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/registry"
	"github.com/sockplane/sockplane/wire"
)

// execListener starts the tutorial's command server, which may run echo
// only: bare commands in, JSON-header replies out.
func execListener(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("echo"); err != nil {
		t.Skip("no echo program in PATH: cannot run the exec handler")
	}
	reg := newRegistry(t, registry.Policy{ExecAllow: []string{"echo"}})
	return createListener(t, reg, registry.Spec{
		Transport: registry.TransportTCP, Handler: registry.HandlerExec,
		Framing: registry.FramingSpec{Request: wire.FramingRaw, Response: wire.FramingJSONHeader},
	}).BoundAddr
}

// TestSendExitsWithExecCode: a command that fails on the listener fails
// send with its exit code, said on stderr, after its output; the
// messages after it are not sent.
func TestSendExitsWithExecCode(t *testing.T) {
	t.Parallel()
	addr := execListener(t)
	out, _, err := sockctl(t, "", "send", "--request-framing", "raw", addr, "echo a", "rm -rf x", "echo never")
	if want := "a\n\nsockplane: rm: not allowed (allowed: echo)\n\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	var stderr strings.Builder
	if code := exitCode(err, &stderr); code != 127 {
		t.Errorf("exit status %d (%v), want the command's 127", code, err)
	}
	if want := "sockctl: " + addr + `: "rm -rf x" exited with code 127` + "\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	// A command that succeeds leaves the status 0.
	if out := mustSockctl(t, "send", "--request-framing", "raw", addr, "echo ok"); out != "ok\n\n" {
		t.Errorf("echo ok: %q", out)
	}
}

// TestSendHintsRawRequestToExec: the default framing sends a length
// prefix the exec handler reads as part of the command.
func TestSendHintsRawRequestToExec(t *testing.T) {
	t.Parallel()
	addr := execListener(t)
	_, _, err := sockctl(t, "", "send", addr, "echo hi")
	var e *remoteExit
	if !errors.As(err, &e) || e.code != 2 || !strings.Contains(err.Error(), "pass --request-framing raw") {
		t.Errorf("err = %v, want exit code 2 with a hint at --request-framing raw", err)
	}
}

// TestChatGoesOnAfterExecFailure: chat says each failed command on
// stderr, answers the next lines, and exits with the last failure's code.
func TestChatGoesOnAfterExecFailure(t *testing.T) {
	t.Parallel()
	addr := execListener(t)
	out, stderr, err := sockctl(t, "rm x\necho hi\nls\necho bye\n", "chat", "--request-framing", "raw", addr)
	if !strings.Contains(out, "\nhi\n") || !strings.Contains(out, "\nbye\n") {
		t.Errorf("stdout lacks the replies after the failures:\n%s", out)
	}
	want := "sockctl: " + addr + `: "rm x" exited with code 127` + "\n" + "sockctl: " + addr + `: "ls" exited with code 127` + "\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if code := exitCode(err, &strings.Builder{}); code != 127 || !strings.Contains(err.Error(), "2 commands exited") {
		t.Errorf("err = %v, status %d; want 2 failures and status 127", err, code)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("dial tcp: refused"), 1},
		{&remoteExit{code: 2}, 2},
		{&remoteExit{code: 137}, 137},
		{&remoteExit{code: -1}, 1}, // not known
		{&remoteExit{code: 300}, 1},
		{&chatFailures{n: 1, last: &remoteExit{code: 5}}, 5},
	} {
		var w strings.Builder
		if got := exitCode(tc.err, &w); got != tc.want || (tc.err == nil) != (w.Len() == 0) {
			t.Errorf("exitCode(%v) = %d, printed %q; want %d", tc.err, got, w.String(), tc.want)
		}
	}
}

// TestSendHintsFramingMismatch: a send in another framing than the
// listener's fails, and the error names the flag to fix.
func TestSendHintsFramingMismatch(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	framing := func(req, resp wire.Framing) registry.Spec {
		return registry.Spec{Transport: registry.TransportTCP, Handler: registry.HandlerUpper, Framing: registry.FramingSpec{Request: req, Response: resp}}
	}
	jsonL := createListener(t, reg, framing(0, 0)).BoundAddr
	lengthL := createListener(t, reg, framing(wire.FramingLengthPrefixed, wire.FramingLengthPrefixed)).BoundAddr
	rawToJSON := createListener(t, reg, framing(wire.FramingRaw, wire.FramingJSONHeader)).BoundAddr
	rawL := createListener(t, reg, framing(wire.FramingRaw, wire.FramingRaw)).BoundAddr
	echo := framing(wire.FramingLengthPrefixed, wire.FramingLengthPrefixed)
	echo.Handler = registry.HandlerEcho
	lengthEcho := createListener(t, reg, echo).BoundAddr
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		// The listener's error frame, read as a length-prefixed body.
		{"length to json", []string{"--framing", "length", jsonL}, []string{"header is not a JSON object", "--response-framing json"}},
		// The listener's whole error frame, read as one raw reply.
		{"raw to json", []string{"--framing", "raw", jsonL}, []string{"frame too large", "--response-framing json"}},
		// An error frame in the right framing, for a request in the wrong one.
		{"length request to json", []string{"--request-framing", "length", jsonL}, []string{"replied with an error", "could not read the request"}},
		// A length listener cannot say why: it closes.
		{"raw to length", []string{"--framing", "raw", lengthL}, []string{"connection closed", "could not read the request"}},
		// "HELL" read as a header length.
		{"raw replies read as json", []string{"--request-framing", "raw", rawL}, []string{`begins with the text "HELLO"`, "--framing raw"}},
		// The tutorial's command server read with raw replies.
		{"raw replies from raw-to-json", []string{"--framing", "raw", rawToJSON}, []string{"--response-framing json"}},
		// A length listener's echo of a message that looks like a
		// header is the message.
		{"echo of a header", []string{"--framing", "length", lengthEcho, `{"data_size": 0}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if len(args)%2 == 1 { // no message after the address
				args = append(args, "hello")
			}
			_, _, err := sockctl(t, "", append([]string{"send", "--timeout", "2s"}, args...)...)
			if tc.wants == nil {
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatal("send succeeded")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want %q in it", err, want)
				}
			}
		})
	}
}
