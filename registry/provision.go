package registry

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sockplane/sockplane/command"
	"github.com/sockplane/sockplane/proxy"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
	"github.com/sockplane/sockplane/wire"
)

// Policy is what the daemon allows every listener, whichever path makes
// it run: create, start, restore, update. It bounds what is stored as
// well as what is asked, so a listener saved under a wider policy is
// narrowed when it comes back under a stricter one.
type Policy struct {
	// ExecAllow lists the programs exec listeners may run (see
	// command.Config.Allow). Default: none, and the exec handler is off.
	ExecAllow []string
	// MaxListeners bounds how many listeners may exist at once. Default:
	// 0, no bound.
	MaxListeners int
	// Node is the name of the cluster node this registry serves, which a
	// spec's Node must name (see Spec.Node). Default: "", not in a
	// cluster: a spec's Node must be empty.
	Node string

	remote bool // see RemotePolicy
}

// Provisioned is a spec made ready to run.
type Provisioned struct {
	// Spec is the effective spec: validated, every default filled in, the
	// exec allow list bounded by the policy. It is what Get shows.
	Spec Spec
	// Dropped lists the programs of the spec's exec allow list that the
	// policy does not allow, which Spec leaves out.
	Dropped []string

	handler rawsock.Handler // a new one per Provision: an exec listener's run slots are its own
	script  *script.Handler // the handler, for a script listener: its hit counters
	proxy   *proxy.Handler  // the handler, for a proxy listener: its recording
	faults  []rawsock.Fault
	tls     *tls.Config
	tlsInfo *tlsconf.Info
}

// Provision is the one place a listener's spec is checked and completed.
// Every path that makes a listener run goes through it before anything
// binds; the engine's own zero-value defaults (rawsock.Config,
// wire.Codec, command.Config) never decide anything for a registered
// listener, because Provision leaves no field zero that has a default.
//
// An invalid field gives a *rawsock.FieldError naming it as the API
// spells it ("limits.maxBodyBytes"); an exec listener under a policy
// without exec gives ErrExecDisabled, and one none of whose programs the
// policy allows gives ErrExecNotAllowed.
func (p Policy) Provision(spec Spec) (*Provisioned, error) {
	s := spec.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	prov := &Provisioned{Spec: s}
	for _, step := range []func(*Provisioned) error{provisionScript, provisionProxy, provisionFaults, provisionTLS} {
		if err := step(prov); err != nil {
			return nil, err
		}
	}
	if s.Handler != HandlerExec || p.remote {
		if prov.handler == nil {
			prov.handler = builtinHandlers[s.Handler]
		}
		return prov, nil
	}
	if err := p.boundExec(prov); err != nil {
		return nil, err
	}
	h, err := command.New(prov.Spec.Exec.config())
	if err != nil {
		return nil, err
	}
	prov.handler = h
	return prov, nil
}

// builtinHandlers maps each handler but exec to its Handler.
var builtinHandlers = map[HandlerKind]rawsock.Handler{
	HandlerEcho:    rawsock.Echo{},
	HandlerUpper:   rawsock.Upper{},
	HandlerDiscard: rawsock.Discard{},
	HandlerRecord:  rawsock.Discard{},
}

// Default capture of a record listener that sets none.
const DefaultRecordFrames = 1000

// withDefaults returns s with every defaulted field filled in. It depends
// on nothing but s: the policy's part is boundExec.
func (s Spec) withDefaults() Spec {
	s.Exec.Allow = slices.Clone(s.Exec.Allow) // never share the caller's array or map
	s.Labels = maps.Clone(s.Labels)
	if s.Script != nil {
		sc := s.Script.Clone()
		s.Script = &sc
	}
	if s.TLS != nil {
		t := s.TLS.Clone().WithDefaults()
		s.TLS = &t
	}
	if s.FaultSeed != nil {
		seed := *s.FaultSeed
		s.FaultSeed = &seed
	}
	s.Proxy = s.Proxy.clone()
	if s.Faults != nil {
		faults := make([]FaultSpec, len(s.Faults))
		for i, f := range s.Faults {
			faults[i] = f.clone()
			if faults[i].Probability == nil {
				one := 1.0
				faults[i].Probability = &one
			}
			if faults[i].Name == "" {
				faults[i].Name = fmt.Sprintf("%s-%d", f.Kind, i)
			}
		}
		s.Faults = faults
	}
	if s.Handler == "" {
		s.Handler = HandlerEcho
	}
	f := &s.Framing
	f.Request = cmpOr(f.Request, wire.FramingJSONHeader)
	f.Response = cmpOr(f.Response, wire.FramingJSONHeader)
	f.ByteOrder = cmpOr(f.ByteOrder, wire.LittleEndian)
	if s.Transport.IsUnix() && s.UnixMode == 0 {
		s.UnixMode = rawsock.DefaultUnixMode
	}
	c := &s.Capture
	if s.Handler == HandlerRecord && c.MaxFrames == 0 {
		c.MaxFrames = DefaultRecordFrames
	}
	if c.MaxFrames > 0 && c.MaxBytesPerFrame == 0 {
		c.MaxBytesPerFrame = rawsock.DefaultCaptureBytesPerFrame
	}
	l := &s.Limits
	l.MaxConnections = cmpOr(l.MaxConnections, rawsock.DefaultMaxConnections)
	l.MaxHeaderBytes = cmpOr(l.MaxHeaderBytes, wire.DefaultMaxHeaderBytes)
	l.MaxBodyBytes = cmpOr(l.MaxBodyBytes, wire.DefaultMaxBodyBytes)
	l.HeaderTimeout = cmpOr(l.HeaderTimeout, rawsock.DefaultHeaderTimeout)
	l.IdleTimeout = cmpOr(l.IdleTimeout, rawsock.DefaultIdleTimeout)
	if s.Handler == HandlerExec {
		e := &s.Exec
		e.Timeout = cmpOr(e.Timeout, command.DefaultTimeout)
		e.MaxOutputBytes = cmpOr(e.MaxOutputBytes, command.DefaultMaxOutputBytes)
		e.MaxConcurrent = cmpOr(e.MaxConcurrent, command.DefaultMaxConcurrent)
	}
	return s
}

// cmpOr is cmp.Or for one value: v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// boundExec makes the spec's exec allow list what the policy allows:
// all of the policy's programs when the spec names none, else the ones
// of the spec that the policy has, with the others in Dropped.
func (p Policy) boundExec(prov *Provisioned) error {
	if len(p.ExecAllow) == 0 {
		return ErrExecDisabled
	}
	e := &prov.Spec.Exec
	if len(e.Allow) == 0 {
		e.Allow = slices.Clone(p.ExecAllow)
		return nil
	}
	kept := e.Allow[:0]
	for _, program := range e.Allow {
		if slices.Contains(p.ExecAllow, program) {
			kept = append(kept, program)
		} else {
			prov.Dropped = append(prov.Dropped, program)
		}
	}
	e.Allow = kept
	if len(kept) == 0 {
		return fmt.Errorf("%w: none of %s is allowed (the daemon allows %s)", ErrExecNotAllowed,
			strings.Join(prov.Dropped, ", "), strings.Join(p.ExecAllow, ", "))
	}
	return nil
}

// admit is the check of a spec being asked for (create, update) rather
// than brought back: there a program the policy does not allow is the
// caller's mistake, to refuse, not something to narrow away. It runs
// before Provision.
func (p Policy) admit(spec Spec) error {
	if spec.Node != p.Node {
		if p.Node == "" {
			return fieldErrorf("node", "%q: this daemon is not in a cluster, so a listener names no node", spec.Node)
		}
		return fieldErrorf("node", "%q: this registry serves node %q", spec.Node, p.Node)
	}
	if spec.Handler != HandlerExec || len(p.ExecAllow) == 0 {
		return nil // Provision says what is wrong
	}
	for _, program := range spec.Exec.Allow {
		if !slices.Contains(p.ExecAllow, program) {
			return fieldErrorf("exec.allow", "%q is not allowed by the daemon (it allows %s)", program, strings.Join(p.ExecAllow, ", "))
		}
	}
	return nil
}

func (e ExecSpec) config() command.Config {
	return command.Config{
		Allow:          e.Allow,
		Timeout:        e.Timeout,
		MaxOutputBytes: e.MaxOutputBytes,
		MaxConcurrent:  e.MaxConcurrent,
		Dir:            e.WorkingDir,
	}
}

// config is what the engine runs for the provisioned spec.
func (p *Provisioned) config(stats *rawsock.Stats, capture *rawsock.Capture, events *rawsock.EventBus, log *slog.Logger) rawsock.Config {
	s := p.Spec
	return rawsock.Config{
		Network:  string(s.Transport),
		Address:  s.Address,
		UnixMode: s.UnixMode,
		Handler:  p.handler,
		Request: wire.Codec{Framing: s.Framing.Request, ByteOrder: s.Framing.ByteOrder,
			MaxHeaderBytes: s.Limits.MaxHeaderBytes, MaxBodyBytes: s.Limits.MaxBodyBytes},
		Response: wire.Codec{Framing: s.Framing.Response, ByteOrder: s.Framing.ByteOrder},
		Limits: rawsock.Limits{
			MaxConnections:             s.Limits.MaxConnections,
			HeaderTimeout:              s.Limits.HeaderTimeout,
			IdleTimeout:                s.Limits.IdleTimeout,
			AllowLargerDatagramReplies: s.Limits.AllowLargerDatagramReplies,
		},
		Stats:     stats,
		Capture:   capture,
		Events:    events,
		Name:      s.ID,
		Logger:    log.With("listener", s.ID),
		Faults:    p.faults,
		FaultSeed: p.faultSeed(),
		TLS:       p.tlsConfig(),
	}
}

// validate checks every field of s, defaults applied, and returns a
// *rawsock.FieldError naming the first bad one. An empty ID is valid.
func (s Spec) validate() error {
	if s.ID != "" {
		if err := ValidateID(s.ID); err != nil {
			return err
		}
	}
	switch s.Transport {
	case TransportTCP, TransportUDP:
		if err := validateHostPort(s.Address); err != nil {
			return err
		}
		if s.UnixMode != 0 {
			return fieldErrorf("unixMode", "only for the Unix transports")
		}
	case TransportUnix, TransportUnixgram:
		if err := validateUnixPath(s.Address); err != nil {
			return err
		}
		if s.UnixMode&^fs.ModePerm != 0 {
			return fieldErrorf("unixMode", "%#o is not a permission mode (0 to 0777)", uint32(s.UnixMode))
		}
	case "":
		return fieldErrorf("transport", "required")
	default:
		return fieldErrorf("transport", "unsupported transport %q", s.Transport)
	}
	if err := s.validateHandler(); err != nil {
		return err
	}
	if err := validateLabels(s.Labels); err != nil {
		return err
	}
	if s.TTL < 0 {
		return fieldErrorf("ttl", "%v is negative", s.TTL)
	}
	for _, f := range []struct {
		name string
		v    wire.Framing
	}{{"framing.request", s.Framing.Request}, {"framing.response", s.Framing.Response}} {
		switch f.v {
		case wire.FramingJSONHeader, wire.FramingLengthPrefixed, wire.FramingRaw:
		default:
			return fieldErrorf(f.name, "unsupported framing %s", f.v)
		}
	}
	if o := s.Framing.ByteOrder; o != wire.LittleEndian && o != wire.BigEndian {
		return fieldErrorf("framing.byteOrder", "unsupported byte order %s", o)
	}
	if c := s.Capture; c.MaxFrames < 0 || c.MaxFrames > rawsock.MaxCaptureFrames {
		return fieldErrorf("capture.maxFrames", "%d is not from 0 to %d", c.MaxFrames, rawsock.MaxCaptureFrames)
	}
	if c := s.Capture; c.MaxBytesPerFrame < 0 || c.MaxBytesPerFrame > rawsock.MaxCaptureBytesPerFrame {
		return fieldErrorf("capture.maxBytesPerFrame", "%d is not from 0 to %d", c.MaxBytesPerFrame, rawsock.MaxCaptureBytesPerFrame)
	}
	return s.Limits.validate()
}

func (s Spec) validateHandler() error {
	switch s.Handler {
	case HandlerEcho, HandlerUpper, HandlerDiscard, HandlerRecord, HandlerScript, HandlerProxy:
		if !s.Exec.isZero() {
			return fieldErrorf("exec", "only for the exec handler")
		}
	case HandlerExec:
		if s.Transport.IsDatagram() {
			return fieldErrorf("handler", "exec is refused on datagram transports: a forged sender address could make it run commands and send the output elsewhere")
		}
	default:
		return fieldErrorf("handler", "unsupported handler %q", s.Handler)
	}
	return nil
}

// Bounds of what LimitsSpec may ask.
const (
	maxMaxConnections = 1 << 20
	maxMaxHeaderBytes = 1 << 20
)

func (l LimitsSpec) validate() error {
	switch {
	case l.MaxConnections < 0 || l.MaxConnections > maxMaxConnections:
		return fieldErrorf("limits.maxConnections", "%d is not from 1 to %d", l.MaxConnections, maxMaxConnections)
	case l.MaxHeaderBytes < 0 || l.MaxHeaderBytes > maxMaxHeaderBytes:
		return fieldErrorf("limits.maxHeaderBytes", "%d is not from 1 to %d", l.MaxHeaderBytes, maxMaxHeaderBytes)
	case l.MaxBodyBytes < 0 || l.MaxBodyBytes > wire.HardMaxBodyBytes:
		return fieldErrorf("limits.maxBodyBytes", "%d is not from 1 to %d (64 MiB)", l.MaxBodyBytes, wire.HardMaxBodyBytes)
	case l.HeaderTimeout < 0:
		return fieldErrorf("limits.headerTimeout", "%v is negative", l.HeaderTimeout)
	case l.IdleTimeout < 0 && l.IdleTimeout != NoTimeout:
		return fieldErrorf("limits.idleTimeout", "%v is negative", l.IdleTimeout)
	}
	return nil
}

// ValidateID checks a listener id: 1 to 63 lowercase letters, digits and
// '-'.
func ValidateID(id string) error { return ValidateName("id", id) }

// ValidateName checks a name with the rules of ids (a listener id, a
// node name), naming field in its error.
func ValidateName(field, name string) error {
	if name == "" {
		return fieldErrorf(field, "required")
	}
	if len(name) > MaxIDLength {
		return fieldErrorf(field, "%d characters, more than %d", len(name), MaxIDLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fieldErrorf(field, "%q has %q: only lowercase letters, digits and '-' are allowed", name, c)
		}
	}
	return nil
}

func validateHostPort(address string) error {
	if address == "" {
		return fieldErrorf("address", "required, as host:port, e.g. 127.0.0.1:0")
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return fieldErrorf("address", "%q is not host:port", address)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fieldErrorf("address", "port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func validateUnixPath(path string) error {
	switch {
	case path == "":
		return fieldErrorf("address", "required: a socket file path, e.g. /tmp/sockplane.sock")
	case len(path) > rawsock.MaxUnixPath:
		return fieldErrorf("address", "path of %d bytes, more than a Unix socket address holds (%d)", len(path), rawsock.MaxUnixPath)
	case strings.IndexByte(path, 0) >= 0:
		return fieldErrorf("address", "path holds a NUL byte")
	}
	return nil
}

// MaxDrainTimeout bounds StopOptions.DrainTimeout: 1m. A caller's context,
// and the registry's Shutdown, may end a drain sooner.
const MaxDrainTimeout = time.Minute

// DefaultDrainTimeout bounds a graceful stop that names no bound: 10s.
const DefaultDrainTimeout = 10 * time.Second
