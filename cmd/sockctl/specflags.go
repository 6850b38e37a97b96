package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
)

// specFlags are the flags of listeners create and listeners update that
// set a listener's spec fields. Create sends the listener they build;
// update sends it with an update mask of exactly the fields the flags
// given set (see specFlagDefs).
type specFlags struct {
	transport       *enumFlag[sockplanev1.Transport]
	address         string
	unixMode        string
	handler         *enumFlag[sockplanev1.Handler]
	framing         *enumFlag[sockplanev1.Framing]
	requestFraming  *enumFlag[sockplanev1.Framing]
	responseFraming *enumFlag[sockplanev1.Framing]
	byteOrder       *enumFlag[sockplanev1.ByteOrder]
	exec            sockplanev1.ExecOptions
	execTimeout     time.Duration
	limits          sockplanev1.Limits
	headerTimeout   time.Duration
	idleTimeout     time.Duration
	capture         sockplanev1.CaptureOptions
	labels          []string
	ttl             time.Duration
	scriptFile      string
	faults          []string
	faultSeed       uint32
	tls             sockplanev1.TlsOptions
	tlsMinVersion   *enumFlag[string]
	noTLS           bool // update only
	node            string
	proxy           sockplanev1.ProxyOptions
	proxyTransport  *enumFlag[sockplanev1.Transport]
	proxyTimeout    time.Duration
	proxyRecord     bool
	proxyRecordMax  uint32
	// flags are the flags registered, to tell a --handler given from
	// create's default.
	flags *pflag.FlagSet
}

// specFlagDef is one flag of specFlags: the update-mask paths (proto
// names) of the fields it sets, and how it sets them.
type specFlagDef struct {
	name  string
	paths []string
	set   func(s *specFlags, l *sockplanev1.Listener) error
}

// specFlagDefs are the flags of specFlags in the order they apply: a
// later one wins over an earlier one that sets the same field
// (--request-framing over --framing).
var specFlagDefs = []specFlagDef{
	{"transport", []string{"transport"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Transport = s.transport.value
		return nil
	}},
	{"address", []string{"address"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Address = s.address
		return nil
	}},
	{"node", []string{"node"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Node = s.node
		return nil
	}},
	{"unix-mode", []string{"unix_mode"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.UnixMode = &s.unixMode
		return nil
	}},
	{"handler", []string{"handler"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Handler = s.handler.value
		return nil
	}},
	{"script", []string{"script"}, func(s *specFlags, l *sockplanev1.Listener) error {
		var err error
		l.Script, err = readScriptFile(s.scriptFile)
		return err
	}},
	// The proxy flags set the proxy options together (see proxyFlags).
	{"proxy", []string{"proxy"}, func(s *specFlags, l *sockplanev1.Listener) error {
		p := &sockplanev1.ProxyOptions{Upstream: s.proxy.Upstream, Transport: s.proxyTransport.value,
			ConnectTimeout: durationOrNil(s.proxyTimeout)}
		if s.proxyRecord || s.proxyRecordMax > 0 {
			p.Record = &sockplanev1.ProxyRecord{MaxExchanges: s.proxyRecordMax}
		}
		l.Proxy = p
		return nil
	}},
	{"framing", []string{"framing.request", "framing.response"}, func(s *specFlags, l *sockplanev1.Listener) error {
		framing(l).Request, framing(l).Response = s.framing.value, s.framing.value
		return nil
	}},
	{"request-framing", []string{"framing.request"}, func(s *specFlags, l *sockplanev1.Listener) error {
		framing(l).Request = s.requestFraming.value
		return nil
	}},
	{"response-framing", []string{"framing.response"}, func(s *specFlags, l *sockplanev1.Listener) error {
		framing(l).Response = s.responseFraming.value
		return nil
	}},
	{"byte-order", []string{"framing.byte_order"}, func(s *specFlags, l *sockplanev1.Listener) error {
		framing(l).ByteOrder = s.byteOrder.value
		return nil
	}},
	{"exec-allow", []string{"exec.allow"}, func(s *specFlags, l *sockplanev1.Listener) error {
		execOptions(l).Allow = s.exec.Allow
		return nil
	}},
	{"exec-timeout", []string{"exec.timeout"}, func(s *specFlags, l *sockplanev1.Listener) error {
		execOptions(l).Timeout = durationOrNil(s.execTimeout)
		return nil
	}},
	{"exec-max-output", []string{"exec.max_output_bytes"}, func(s *specFlags, l *sockplanev1.Listener) error {
		execOptions(l).MaxOutputBytes = s.exec.MaxOutputBytes
		return nil
	}},
	{"exec-max-concurrent", []string{"exec.max_concurrent"}, func(s *specFlags, l *sockplanev1.Listener) error {
		execOptions(l).MaxConcurrent = s.exec.MaxConcurrent
		return nil
	}},
	{"exec-dir", []string{"exec.working_dir"}, func(s *specFlags, l *sockplanev1.Listener) error {
		execOptions(l).WorkingDir = s.exec.WorkingDir
		return nil
	}},
	{"capture-max-frames", []string{"capture.max_frames"}, func(s *specFlags, l *sockplanev1.Listener) error {
		captureOptions(l).MaxFrames = s.capture.MaxFrames
		return nil
	}},
	{"capture-max-bytes-per-frame", []string{"capture.max_bytes_per_frame"}, func(s *specFlags, l *sockplanev1.Listener) error {
		captureOptions(l).MaxBytesPerFrame = s.capture.MaxBytesPerFrame
		return nil
	}},
	{"limit-max-connections", []string{"limits.max_connections"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).MaxConnections = s.limits.MaxConnections
		return nil
	}},
	{"limit-max-header-bytes", []string{"limits.max_header_bytes"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).MaxHeaderBytes = s.limits.MaxHeaderBytes
		return nil
	}},
	{"limit-max-body-bytes", []string{"limits.max_body_bytes"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).MaxBodyBytes = s.limits.MaxBodyBytes
		return nil
	}},
	{"limit-header-timeout", []string{"limits.header_timeout"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).HeaderTimeout = durationOrNil(s.headerTimeout)
		return nil
	}},
	{"limit-idle-timeout", []string{"limits.idle_timeout"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).IdleTimeout = durationpb.New(s.idleTimeout)
		return nil
	}},
	{"limit-allow-larger-datagram-replies", []string{"limits.allow_larger_datagram_replies"}, func(s *specFlags, l *sockplanev1.Listener) error {
		limits(l).AllowLargerDatagramReplies = s.limits.AllowLargerDatagramReplies
		return nil
	}},
	{"label", []string{"labels"}, func(s *specFlags, l *sockplanev1.Listener) error {
		labels, err := parseLabels(s.labels)
		l.Labels = labels
		return err
	}},
	{"ttl", []string{"ttl"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Ttl = durationpb.New(s.ttl)
		return nil
	}},
	{"fault", []string{"faults"}, func(s *specFlags, l *sockplanev1.Listener) error {
		var err error
		l.Faults, err = parseFaults(s.faults)
		return err
	}},
	{"fault-seed", []string{"fault_seed"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.FaultSeed = &s.faultSeed
		return nil
	}},
	{"no-tls", []string{"tls"}, func(s *specFlags, l *sockplanev1.Listener) error {
		l.Tls = nil
		return nil
	}},
	// A listener serves either a self-signed certificate or its files:
	// on update, setting one clears the other.
	{"tls-self-signed", []string{"tls.self_signed", "tls.cert_file", "tls.key_file"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).SelfSigned = s.tls.SelfSigned
		return nil
	}},
	{"tls-cert-file", []string{"tls.self_signed", "tls.cert_file"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).CertFile = s.tls.CertFile
		return nil
	}},
	{"tls-key-file", []string{"tls.self_signed", "tls.key_file"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).KeyFile = s.tls.KeyFile
		return nil
	}},
	{"tls-client-ca-file", []string{"tls.client_ca_file"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).ClientCaFile = s.tls.ClientCaFile
		return nil
	}},
	{"tls-min-version", []string{"tls.min_version"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).MinVersion = s.tlsMinVersion.value
		return nil
	}},
	{"tls-alpn", []string{"tls.alpn"}, func(s *specFlags, l *sockplanev1.Listener) error {
		tlsOptions(l).Alpn = s.tls.Alpn
		return nil
	}},
}

// tlsFlags are the flags that fill in TlsOptions.
var tlsFlags = []string{"tls-self-signed", "tls-cert-file", "tls-key-file", "tls-client-ca-file", "tls-min-version", "tls-alpn"}

// durationOrNil is d as a field, absent (the default) when zero.
func durationOrNil(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// proxyFlags fill in ProxyOptions, all of them at once: given any, they
// replace the listener's proxy options, and imply --handler proxy.
var proxyFlags = []string{"proxy-upstream", "proxy-transport", "proxy-connect-timeout", "proxy-record", "proxy-record-max"}

// execFlags are the flags that fill in ExecOptions: for --handler exec
// only.
var execFlags = []string{"exec-allow", "exec-timeout", "exec-max-output", "exec-max-concurrent", "exec-dir"}

func framing(l *sockplanev1.Listener) *sockplanev1.FramingConfig {
	if l.Framing == nil {
		l.Framing = &sockplanev1.FramingConfig{}
	}
	return l.Framing
}

func execOptions(l *sockplanev1.Listener) *sockplanev1.ExecOptions {
	if l.Exec == nil {
		l.Exec = &sockplanev1.ExecOptions{}
	}
	return l.Exec
}

func captureOptions(l *sockplanev1.Listener) *sockplanev1.CaptureOptions {
	if l.Capture == nil {
		l.Capture = &sockplanev1.CaptureOptions{}
	}
	return l.Capture
}

func tlsOptions(l *sockplanev1.Listener) *sockplanev1.TlsOptions {
	if l.Tls == nil {
		l.Tls = &sockplanev1.TlsOptions{}
	}
	return l.Tls
}

func limits(l *sockplanev1.Listener) *sockplanev1.Limits {
	if l.Limits == nil {
		l.Limits = &sockplanev1.Limits{}
	}
	return l.Limits
}

// parseLabels reads KEY=VALUE pairs; a VALUE may be empty. The daemon
// checks the syntax of keys and values.
func parseLabels(pairs []string) (map[string]string, error) {
	labels := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE, e.g. env=ci", p)
		}
		if _, dup := labels[k]; dup {
			return nil, fmt.Errorf("--label %q: key %q given twice", p, k)
		}
		labels[k] = v
	}
	return labels, nil
}

// newSpecFlags returns the flags with the defaults of create, or, for
// update, with none: update sends only what is given.
func newSpecFlags(update bool) *specFlags {
	def := func(name string) string {
		if update {
			return ""
		}
		return name
	}
	return &specFlags{
		transport:       newEnumFlag(transportNames, ""),
		handler:         newEnumFlag(handlerNames, def("echo")),
		framing:         newEnumFlag(framingNames, def("json")),
		requestFraming:  newEnumFlag(framingNames, ""),
		responseFraming: newEnumFlag(framingNames, ""),
		byteOrder:       newEnumFlag(protoByteOrderNames, def("little")),
		tlsMinVersion:   newEnumFlag(tlsVersionNames, ""),
		proxyTransport:  newEnumFlag(transportNames, ""),
	}
}

// register adds the flags to f. update words the help for update, where
// a flag not given leaves its field as it is.
func (s *specFlags) register(f *pflag.FlagSet, update bool) {
	// dflt is a help's "(default ...)" on create; on update nothing
	// given means unchanged, and the default is what a field given as
	// 0 goes back to.
	dflt := func(create, upd string) string {
		if update {
			return upd
		}
		return create
	}
	f.Var(s.transport, "transport", dflt("socket type (required)", "socket type; the listener binds anew"))
	f.StringVar(&s.address, "address", "", dflt(
		"bind to `ADDRESS`: HOST:PORT for tcp and udp, where port 0 picks a free port (default 127.0.0.1:0); a socket file PATH for unix and unixgram (required)",
		"bind to `ADDRESS` instead: HOST:PORT for tcp and udp, a socket file PATH for unix and unixgram; the new socket is bound before the old one stops"))
	f.StringVar(&s.node, "node", "", dflt(
		"in a cluster: the `NODE` that serves the listener (default: the node --server names)",
		"in a cluster: move the listener to `NODE`"))
	f.StringVar(&s.unixMode, "unix-mode", "", "octal `MODE` of a unix or unixgram socket file, e.g. 0660 (default 0600)")
	s.flags = f
	f.Var(s.handler, "handler", "what to reply: echo the body, upper-case its ASCII letters, run it as a command (exec), or nothing (discard; record, which also captures every frame for sockctl frames); script: what --script says")
	f.Var(s.framing, "framing", dflt(
		"framing of requests and replies: json (4-byte length, JSON header, body), length (4-byte length, body) or raw (none)",
		"framing of requests and replies: json (4-byte length, JSON header, body), length (4-byte length, body) or raw (none); for connections accepted after the update"))
	f.Var(s.requestFraming, "request-framing", dflt("framing of requests (default: --framing)", "framing of requests (overrides --framing)"))
	f.Var(s.responseFraming, "response-framing", dflt("framing of replies (default: --framing)", "framing of replies (overrides --framing)"))
	f.Var(s.byteOrder, "byte-order", "byte order of the 4-byte lengths")
	f.StringSliceVar(&s.exec.Allow, "exec-allow", nil, "exec: `PROGRAMS` this listener may run, a subset of the daemon's --exec-allow (default: all of those)")
	f.DurationVar(&s.execTimeout, "exec-timeout", 0, "exec: bound on one run; the process group is killed then; 0: the default (default 5s)")
	f.Uint32Var(&s.exec.MaxOutputBytes, "exec-max-output", 0, "exec: `BYTES` kept of stdout and of stderr, each; the reply says truncated when more came (default 65536)")
	f.Uint32Var(&s.exec.MaxConcurrent, "exec-max-concurrent", 0, "exec: `N` runs at once on this listener; more wait (default 4)")
	f.StringVar(&s.exec.WorkingDir, "exec-dir", "", "exec: working `DIR` of the commands, on the daemon's host (default: the daemon's)")
	f.Uint32Var(&s.capture.MaxFrames, "capture-max-frames", 0, "capture the listener's last `N` frames, both directions, for sockctl frames; 0: off (default 0, 1000 with --handler record)")
	f.Uint32Var(&s.capture.MaxBytesPerFrame, "capture-max-bytes-per-frame", 0, "`BYTES` kept of each captured frame's body (default 4096)")
	f.Uint32Var(&s.limits.MaxConnections, "limit-max-connections", 0, "`N` connections open at once at most; the next is closed at once (stream transports; default 1024)")
	f.Uint32Var(&s.limits.MaxHeaderBytes, "limit-max-header-bytes", 0, "`BYTES` of a JSON header at most (default 16384)")
	f.Uint32Var(&s.limits.MaxBodyBytes, "limit-max-body-bytes", 0, "`BYTES` of a frame body at most (default 4194304, at most 67108864)")
	f.DurationVar(&s.headerTimeout, "limit-header-timeout", 0, "a frame that has started arriving must be complete within this; 0: the default (stream transports; default 10s)")
	f.DurationVar(&s.idleTimeout, "limit-idle-timeout", 0, "close a connection idle this long; 0s: never (stream transports; default 5m)")
	f.BoolVar(&s.limits.AllowLargerDatagramReplies, "limit-allow-larger-datagram-replies", false, "let a datagram reply be larger than its request (default false: no amplification)")
	f.StringSliceVarP(&s.labels, "label", "l", nil, dflt(
		"label `KEY=VALUE` to set, for selecting listeners with -l; repeatable, or comma-separated",
		"label `KEY=VALUE`; repeatable, or comma-separated. The labels given replace all the listener's labels; --label '' removes them all"))
	f.DurationVar(&s.ttl, "ttl", 0, dflt(
		"delete the listener this long after it is created, e.g. 30s (default: never)",
		"delete the listener this long after this update, e.g. 30s: replaces the expiry it had"))
	f.StringVar(&s.scriptFile, "script", "", dflt(
		"reply as the Script in `FILE` says (JSON or YAML: greeting, rules, default); implies --handler script",
		"replace the script with the one in `FILE` (JSON or YAML); implies --handler script"))
	f.StringArrayVar(&s.faults, "fault", nil, dflt(
		"inject a fault as `SPEC` says, e.g. latency=200ms,jitter=20ms or drop,probability=0.5,match.bodyPrefix=x; repeatable, applied in order (see above)",
		"the faults, as each `SPEC` says, replacing all the listener's: repeatable, in order (see create's help); --fault '' removes them all"))
	f.Uint32Var(&s.faultSeed, "fault-seed", 0, "`N` seeds the faults' random choices, to reproduce a run (default: random at each start)")
	f.BoolVar(&s.tls.SelfSigned, "tls-self-signed", false, "serve TLS with a certificate made for the listener (status.tls shows it, to pin)")
	f.StringVar(&s.tls.CertFile, "tls-cert-file", "", "serve TLS with the PEM certificate chain in `FILE`, on the daemon's host; needs --tls-key-file")
	f.StringVar(&s.tls.KeyFile, "tls-key-file", "", "PEM private key `FILE` of --tls-cert-file")
	f.StringVar(&s.tls.ClientCaFile, "tls-client-ca-file", "", "require client certificates signed by the PEM CAs in `FILE` (mutual TLS)")
	f.Var(s.tlsMinVersion, "tls-min-version", "lowest TLS version accepted (default 1.2)")
	f.StringSliceVar(&s.tls.Alpn, "tls-alpn", nil, "`PROTOCOLS` offered by ALPN, most preferred first, e.g. h2,http/1.1")
	if update {
		f.BoolVar(&s.noTLS, "no-tls", false, "turn TLS off: plaintext again (the listener binds anew)")
	}
	f.StringVar(&s.proxy.Upstream, "proxy-upstream", "", "relay to the real server at `ADDR` (host:port, or a socket path); implies --handler proxy. The --proxy-* flags given replace all proxy options")
	f.Var(s.proxyTransport, "proxy-transport", "how to reach the upstream: tcp or unix (default: the listener's)")
	f.DurationVar(&s.proxyTimeout, "proxy-connect-timeout", 0, "bound on dialling the upstream for a connection (default 2s)")
	f.BoolVar(&s.proxyRecord, "proxy-record", false, "record the exchanges relayed, for sockctl listeners recording")
	f.Uint32Var(&s.proxyRecordMax, "proxy-record-max", 0, "`N` exchanges the recording keeps; implies --proxy-record (default 1000)")
}

// build returns the listener the flags for which given is true set, and
// the update-mask paths of its fields, in the order of specFlagDefs.
func (s *specFlags) build(given func(name string) bool) (*sockplanev1.Listener, []string, error) {
	l := &sockplanev1.Listener{}
	var paths []string
	// --script implies --handler script; and, on update, --handler
	// anything else clears the script, which only that handler takes.
	if given("script") && !s.handlerGiven() {
		_ = s.handler.Set("script") // a name of the table
	}
	anyProxy := slices.ContainsFunc(proxyFlags, given)
	if anyProxy && !s.handlerGiven() {
		_ = s.handler.Set("proxy")
	}
	// A handler set, given or implied, clears the options of the others.
	handlerSet := given("handler") || given("script") || anyProxy
	byHandler := func(name string) bool {
		switch name {
		case "handler":
			return handlerSet
		case "script":
			return given(name) || (handlerSet && s.handler.value != sockplanev1.Handler_HANDLER_SCRIPT)
		case "proxy":
			return anyProxy || (handlerSet && s.handler.value != sockplanev1.Handler_HANDLER_PROXY)
		case "no-tls":
			return given(name) && s.noTLS
		}
		return given(name)
	}
	for _, d := range specFlagDefs {
		if !byHandler(d.name) {
			continue
		}
		if d.name == "script" && !given("script") {
			paths = append(paths, "script") // cleared
			continue
		}
		if d.name == "proxy" && !anyProxy {
			paths = append(paths, "proxy") // cleared
			continue
		}
		if err := d.set(s, l); err != nil {
			return nil, nil, err
		}
		for _, p := range d.paths {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	return l, paths, nil
}

// check refuses flags that cannot go together, as far as the flags tell:
// on update, a transport or handler not given is the listener's own,
// which the daemon checks.
func (s *specFlags) check(given func(name string) bool) error {
	if given("unix-mode") && given("transport") {
		if t := s.transport.value; t != sockplanev1.Transport_TRANSPORT_UNIX && t != sockplanev1.Transport_TRANSPORT_UNIXGRAM {
			return fmt.Errorf("--unix-mode is only for --transport unix and unixgram")
		}
	}
	if i := slices.IndexFunc(execFlags, given); i >= 0 && given("handler") && s.handler.value != sockplanev1.Handler_HANDLER_EXEC {
		return fmt.Errorf("--%s is only for --handler exec", execFlags[i])
	}
	if given("script") && s.handlerGiven() && s.handler.value != sockplanev1.Handler_HANDLER_SCRIPT {
		return fmt.Errorf("--script is only for --handler script (which it implies), not --handler %s", s.handler.name)
	}
	if i := slices.IndexFunc(proxyFlags, given); i >= 0 && s.handlerGiven() && s.handler.value != sockplanev1.Handler_HANDLER_PROXY {
		return fmt.Errorf("--%s is only for --handler proxy (which it implies), not --handler %s", proxyFlags[i], s.handler.name)
	}
	i := slices.IndexFunc(tlsFlags, given)
	switch {
	case i < 0:
	case given("no-tls") && s.noTLS:
		return fmt.Errorf("--no-tls cannot go with --%s", tlsFlags[i])
	case given("transport") && s.transport.value != sockplanev1.Transport_TRANSPORT_TCP && s.transport.value != sockplanev1.Transport_TRANSPORT_UNIX:
		return fmt.Errorf("--%s is only for --transport tcp and unix: TLS runs over a stream", tlsFlags[i])
	case s.tls.SelfSigned && (given("tls-cert-file") || given("tls-key-file")):
		return fmt.Errorf("--tls-self-signed cannot go with --tls-cert-file and --tls-key-file: the listener serves one certificate or the other")
	}
	return nil
}

// handlerGiven reports whether --handler was given, not defaulted.
func (s *specFlags) handlerGiven() bool { return s.flags != nil && s.flags.Changed("handler") }
