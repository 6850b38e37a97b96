package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/sockplane/sockplane/proxy"
	"github.com/sockplane/sockplane/wire"
)

// ProxySpec is where HandlerProxy relays (see package proxy).
type ProxySpec struct {
	// Upstream is the real server: host:port, or a Unix socket path.
	// Required.
	Upstream string
	// Transport reaches it: TransportTCP or TransportUnix for a stream
	// listener, TransportUDP for a UDP one. Default: the listener's own.
	Transport Transport
	// ConnectTimeout bounds each dial. Default: 2s
	// (proxy.DefaultConnectTimeout); at most 1m.
	ConnectTimeout time.Duration
	// TLS to the upstream. Default: nil, plaintext.
	TLS *ProxyTLSSpec
	// Record, when set, keeps the exchanges the proxy relays (see
	// Registry.Recording). Default: nil, nothing recorded.
	Record *ProxyRecordSpec
}

// ProxyRecordSpec bounds a proxy's recording.
type ProxyRecordSpec struct {
	// MaxExchanges is how many of the latest exchanges are kept. Default:
	// 1000 (proxy.DefaultMaxExchanges); at most 100,000.
	MaxExchanges int
}

// ProxyTLSSpec is TLS from a proxy listener to its upstream.
type ProxyTLSSpec struct {
	// ServerName the upstream's certificate must have. Default: the
	// upstream's host.
	ServerName string
	// CAFile holds the PEM CA certificates the upstream's must chain to,
	// read at each start and update. Default: "", the system's.
	CAFile string
	// Insecure accepts any certificate (tests only). Default: false.
	Insecure bool
}

// MaxProxyConnectTimeout bounds ProxySpec.ConnectTimeout.
const MaxProxyConnectTimeout = time.Minute

func (p *ProxySpec) clone() *ProxySpec {
	if p == nil {
		return nil
	}
	c := *p
	if p.TLS != nil {
		t := *p.TLS
		c.TLS = &t
	}
	if p.Record != nil {
		r := *p.Record
		c.Record = &r
	}
	return &c
}

// provisionProxy checks a proxy listener's options and builds its
// handler, or refuses proxy options on another handler.
func provisionProxy(prov *Provisioned) error {
	s := &prov.Spec
	if s.Handler != HandlerProxy {
		if s.Proxy != nil {
			return fieldErrorf("proxy", "only with HANDLER_PROXY (the handler is %s)", s.Handler)
		}
		return nil
	}
	p := s.Proxy
	switch {
	case p == nil:
		return fieldErrorf("proxy", "required with HANDLER_PROXY: give proxy.upstream")
	case s.Transport == TransportUnixgram:
		return fieldErrorf("transport", "HANDLER_PROXY relays TRANSPORT_TCP, TRANSPORT_UNIX and TRANSPORT_UDP listeners, not TRANSPORT_UNIXGRAM")
	}
	if p.Transport == "" {
		p.Transport = s.Transport
	}
	if p.ConnectTimeout == 0 {
		p.ConnectTimeout = proxy.DefaultConnectTimeout
	}
	if p.Transport.IsDatagram() != s.Transport.IsDatagram() {
		return fieldErrorf("proxy.transport", "%s cannot carry a %s listener's traffic: a stream listener relays over TRANSPORT_TCP or TRANSPORT_UNIX, a datagram one over TRANSPORT_UDP", p.Transport, s.Transport)
	}
	switch p.Transport {
	case TransportTCP, TransportUDP:
		if err := validateHostPort(p.Upstream); err != nil {
			return prefixField("proxy.upstream", err)
		}
		if _, port, _ := net.SplitHostPort(p.Upstream); port == "0" {
			return fieldErrorf("proxy.upstream", "%q has port 0: name the upstream's real port", p.Upstream)
		}
	case TransportUnix:
		if p.Upstream == "" {
			return fieldErrorf("proxy.upstream", "required: the upstream's socket path")
		}
	default:
		return fieldErrorf("proxy.transport", "%s: the upstream is reached over TRANSPORT_TCP, TRANSPORT_UNIX or TRANSPORT_UDP", p.Transport)
	}
	if p.TLS != nil && p.Transport.IsDatagram() {
		return fieldErrorf("proxy.tls", "TLS runs over a stream, not over TRANSPORT_UDP")
	}
	if p.ConnectTimeout < 0 || p.ConnectTimeout > MaxProxyConnectTimeout {
		return fieldErrorf("proxy.connectTimeout", "%v is not from 0s to %v", p.ConnectTimeout, MaxProxyConnectTimeout)
	}
	tc, err := p.tlsConfig()
	if err != nil {
		return err
	}
	var rec *proxy.Recording
	if r := p.Record; r != nil {
		if r.MaxExchanges == 0 {
			r.MaxExchanges = proxy.DefaultMaxExchanges
		}
		if r.MaxExchanges < 0 || r.MaxExchanges > proxy.MaxMaxExchanges {
			return fieldErrorf("proxy.record.maxExchanges", "%d is not from 1 to %d", r.MaxExchanges, proxy.MaxMaxExchanges)
		}
		rec = proxy.NewRecording(r.MaxExchanges)
	}
	h := proxy.New(proxy.Config{
		Recording: rec,
		Network:   string(p.Transport), Address: p.Upstream, ConnectTimeout: p.ConnectTimeout, TLS: tc,
		Request: wire.Codec{Framing: s.Framing.Request, ByteOrder: s.Framing.ByteOrder,
			MaxHeaderBytes: s.Limits.MaxHeaderBytes, MaxBodyBytes: s.Limits.MaxBodyBytes},
		Response: wire.Codec{Framing: s.Framing.Response, ByteOrder: s.Framing.ByteOrder,
			MaxHeaderBytes: s.Limits.MaxHeaderBytes, MaxBodyBytes: s.Limits.MaxBodyBytes},
	})
	prov.handler, prov.proxy = h, h
	return nil
}

// keepRecording makes p record into the recording that runs now when the
// update keeps the recording options, so an update of, say, the faults
// or the upstream loses nothing recorded.
func (p *Provisioned) keepRecording(running Spec, h *proxy.Handler) {
	if h == nil || p.proxy == nil || h.Recording() == nil || p.proxy.Recording() == nil ||
		running.Proxy == nil || p.Spec.Proxy == nil || *running.Proxy.Record != *p.Spec.Proxy.Record {
		return
	}
	p.proxy = p.proxy.WithRecording(h.Recording())
	p.handler = p.proxy
}

// ErrNotRecording means a listener keeps no recording: it is no proxy,
// or its proxy.record is not set.
var ErrNotRecording = errors.New("the listener records nothing")

// Recording returns what proxy listener id recorded, oldest first, and
// how many older exchanges its ring dropped.
func (r *Registry) Recording(id string) ([]proxy.Exchange, uint64, error) {
	e, err := r.lookup(id)
	if err != nil {
		return nil, 0, err
	}
	e.mu.Lock()
	h := e.proxy
	e.mu.Unlock()
	if h == nil || h.Recording() == nil {
		return nil, 0, fmt.Errorf("%w: listener %s: give it proxy.record (HANDLER_PROXY) to record what it relays", ErrNotRecording, id)
	}
	ex, dropped := h.Recording().Exchanges()
	return ex, dropped, nil
}

// tlsConfig is the client TLS of the upstream, nil for plaintext.
func (p *ProxySpec) tlsConfig() (*tls.Config, error) {
	t := p.TLS
	if t == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure, MinVersion: tls.VersionTLS12} // #nosec G402 -- Insecure is the caller's explicit test-only choice
	if cfg.ServerName == "" && p.Transport == TransportTCP {
		cfg.ServerName, _, _ = net.SplitHostPort(p.Upstream)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fieldErrorf("proxy.tls.caFile", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErrorf("proxy.tls.caFile", "%s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
