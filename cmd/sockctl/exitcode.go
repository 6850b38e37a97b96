package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sockplane/sockplane/wire"
)

// exitCoder is an error that chooses sockctl's exit status: the exit code
// of a command an exec listener ran, as ssh exits with the remote one.
type exitCoder interface {
	error
	ExitCode() int
}

// exitCode prints err on w, prefixed with "sockctl:", and returns the
// process's exit status: 0 for no error, the code an exitCoder chooses,
// else 1.
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "sockctl:", err)
	if ec, ok := errors.AsType[exitCoder](err); ok {
		return ec.ExitCode()
	}
	return 1
}

// remoteExit is a reply of an exec listener whose exit_code is not 0.
type remoteExit struct {
	addr string
	cmd  string // the message sent
	code int
	hint string // a guess at the mistake, or empty
}

func (e *remoteExit) Error() string {
	return fmt.Sprintf("%s: %q exited with code %d%s", e.addr, e.cmd, e.code, e.hint)
}

// ExitCode is the remote code where a process can exit with it; -1 (not
// known) and codes out of 1..255 are 1.
func (e *remoteExit) ExitCode() int {
	if e.code < 1 || e.code > 255 {
		return 1
	}
	return e.code
}

// headerExitCode returns the exit_code field of a JSON header, which the
// exec handler sets, if it has one that is a number.
func headerExitCode(header []byte) (int, bool) {
	if header == nil {
		return 0, false
	}
	var h struct {
		ExitCode *int `json:"exit_code"`
	}
	if err := json.Unmarshal(header, &h); err != nil || h.ExitCode == nil {
		return 0, false
	}
	return *h.ExitCode, true
}

// checkExit returns a *remoteExit when reply, the answer to msg, reports
// a non-zero exit_code.
func (c *frameConn) checkExit(msg []byte, reply wire.Frame) *remoteExit {
	code, ok := headerExitCode(reply.Header)
	if !ok || code == 0 {
		return nil
	}
	e := &remoteExit{addr: c.addr, cmd: string(msg), code: code}
	// The exec handler reads a raw request as the command, so a framed
	// one starts with a length prefix, which holds a NUL byte.
	if c.request.Framing != wire.FramingRaw && bytes.Contains(reply.Body, []byte("command contains a NUL byte")) {
		e.hint = " (the listener reads the bare command: pass --request-framing raw)"
	}
	return e
}

// chatFailures is the end of a chat in which commands failed: each was
// reported as it came, and sockctl exits with the last one's code.
type chatFailures struct {
	n    int
	last *remoteExit
}

func (e *chatFailures) Error() string {
	if e.n == 1 {
		return fmt.Sprintf("a command exited with code %d", e.last.code)
	}
	return fmt.Sprintf("%d commands exited with a non-zero code, the last with %d", e.n, e.last.code)
}

func (e *chatFailures) ExitCode() int { return e.last.ExitCode() }
