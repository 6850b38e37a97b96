package rawsock

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// HandlerExec is the command handler: see Exec.
const HandlerExec HandlerKind = "exec"

// ErrExecDisabled means a listener asked for the exec handler and the
// daemon was started without programs to allow.
var ErrExecDisabled = errors.New("the exec handler is off: start sockplane with --exec-allow=PROGRAM,... (e.g. --exec-allow=ls,echo,uname,date) to enable it")

// ExecSpec is the exec handler's part of a Spec. Registry.Create fills
// in every default, so what it reports is what runs.
type ExecSpec struct {
	// Allow narrows the daemon's allowed programs for this listener.
	// Default: all of the daemon's.
	Allow []string `json:"allow,omitempty"`
	// Timeout bounds one run. Default: 5s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxOutputBytes caps what is kept of stdout and of stderr, each.
	// Default: 64 KiB.
	MaxOutputBytes int `json:"maxOutputBytes,omitempty"`
	// MaxConcurrent bounds the runs at once on the listener. Default: 4.
	MaxConcurrent int `json:"maxConcurrent,omitempty"`
	// WorkingDir of the commands. Default: the daemon's.
	WorkingDir string `json:"workingDir,omitempty"`
}

func (e ExecSpec) isZero() bool {
	return len(e.Allow) == 0 && e.Timeout == 0 && e.MaxOutputBytes == 0 && e.MaxConcurrent == 0 && e.WorkingDir == ""
}

// withExecDefaults checks the exec part of spec against the daemon's
// allow list and fills in its defaults. Specs of other handlers must not
// carry exec options.
func (r *Registry) withExecDefaults(spec Spec) (Spec, error) {
	if spec.Handler != HandlerExec {
		if !spec.Exec.isZero() {
			return spec, fieldErrorf("exec", "only for the exec handler")
		}
		return spec, nil
	}
	if spec.Transport.IsDatagram() {
		return spec, fieldErrorf("handler", "exec is refused on datagram transports: a forged sender address could make it run commands and send the output elsewhere")
	}
	if len(r.execAllow) == 0 {
		return spec, ErrExecDisabled
	}
	e := &spec.Exec
	if len(e.Allow) == 0 {
		e.Allow = slices.Clone(r.execAllow)
	}
	for _, p := range e.Allow {
		if !slices.Contains(r.execAllow, p) {
			return spec, fieldErrorf("exec.allow", "%q is not allowed by the daemon (--exec-allow=%s)", p, strings.Join(r.execAllow, ","))
		}
	}
	if e.Timeout == 0 {
		e.Timeout = DefaultExecTimeout
	}
	if e.MaxOutputBytes == 0 {
		e.MaxOutputBytes = DefaultExecMaxOutputBytes
	}
	if e.MaxConcurrent == 0 {
		e.MaxConcurrent = DefaultExecMaxConcurrent
	}
	// NewExec holds the remaining checks (durations, sizes, the directory).
	if _, err := NewExec(e.config()); err != nil {
		return spec, err
	}
	return spec, nil
}

func (e ExecSpec) config() ExecConfig {
	return ExecConfig{
		Allow:          e.Allow,
		Timeout:        e.Timeout,
		MaxOutputBytes: e.MaxOutputBytes,
		MaxConcurrent:  e.MaxConcurrent,
		Dir:            e.WorkingDir,
	}
}

// handler builds the Handler of a valid spec: a new one per start, so
// that an exec listener's concurrency bound is its own.
func (s Spec) handler() (Handler, error) {
	if s.Handler == HandlerExec {
		h, err := NewExec(s.Exec.config())
		if err != nil {
			return nil, fmt.Errorf("exec handler: %w", err)
		}
		return h, nil
	}
	return builtinHandlers[s.Handler], nil
}
