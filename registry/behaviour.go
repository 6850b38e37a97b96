package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"

	"github.com/sockplane/sockplane/match"
	"github.com/sockplane/sockplane/rawsock"
	"github.com/sockplane/sockplane/script"
	"github.com/sockplane/sockplane/tlsconf"
)

// The parts of Provision for what a listener does beyond its handler:
// scripts, faults and TLS. Each leaves in prov what the engine runs.

// provisionScript builds the script handler, or refuses a script on
// another handler.
func provisionScript(prov *Provisioned) error {
	s := &prov.Spec
	if s.Handler != HandlerScript {
		if s.Script != nil {
			return fieldErrorf("script", "only with HANDLER_SCRIPT (the handler is %s)", s.Handler)
		}
		return nil
	}
	if s.Script == nil {
		return fieldErrorf("script", "required with HANDLER_SCRIPT")
	}
	h, err := script.New(*s.Script, script.Options{ResponseFraming: s.Framing.Response, Datagram: s.Transport.IsDatagram()})
	if err != nil {
		return prefixField("script.", err)
	}
	prov.handler, prov.script = h, h
	return nil
}

// keepScript makes p run the script handler that runs now when the
// update leaves the script as it was, so its hit counters go on counting
// across a change of, say, faults or limits.
func (p *Provisioned) keepScript(running Spec, h *script.Handler) {
	s := p.Spec
	if h == nil || p.script == nil || running.Script == nil || s.Transport != running.Transport ||
		s.Framing.Response != running.Framing.Response || !script.Equal(*running.Script, *s.Script) {
		return
	}
	p.handler, p.script = h, h
}

// provisionFaults compiles the faults' matches and checks them as the
// engine will.
func provisionFaults(prov *Provisioned) error {
	s := &prov.Spec
	if len(s.Faults) == 0 {
		return nil
	}
	faults := make([]rawsock.Fault, len(s.Faults))
	for i, f := range s.Faults {
		rf := rawsock.Fault{Kind: f.Kind, Name: f.Name, Inbound: f.Inbound,
			Delay: f.Delay, Jitter: f.Jitter, After: f.After, BytesPerSecond: f.BytesPerSecond,
			AverageBytes: f.AverageBytes, VariationBytes: f.VariationBytes, Bytes: f.Bytes}
		if f.Probability != nil {
			rf.Probability = *f.Probability
			if rf.Probability == 0 {
				// rawsock reads 0 as its default, 1; a probability this
				// small is below every hash, so the fault never applies.
				rf.Probability = math.SmallestNonzeroFloat64
			}
		}
		if !f.Match.IsZero() {
			m, err := match.Compile(f.Match)
			if err != nil {
				return prefixField(fmt.Sprintf("faults[%d].match.", i), err)
			}
			rf.Match = m
		}
		faults[i] = rf
	}
	if err := rawsock.CheckFaults(faults, string(s.Transport)); err != nil {
		return err
	}
	prov.faults = faults
	return nil
}

// provisionTLS checks the TLS options, makes the self-signed certificate
// the first time, and loads the certificate the listener serves.
func provisionTLS(prov *Provisioned) error {
	s := &prov.Spec
	if s.TLS == nil {
		return nil
	}
	if s.Transport != TransportTCP && s.Transport != TransportUnix {
		return fieldErrorf("tls", "TRANSPORT_TCP and TRANSPORT_UNIX only")
	}
	t := s.TLS.WithDefaults()
	if err := t.Validate(); err != nil {
		return prefixField("tls.", err)
	}
	var hosts []string
	if s.Transport == TransportTCP {
		if host, _, err := net.SplitHostPort(s.Address); err == nil && host != "" {
			hosts = append(hosts, host)
		}
	}
	t, err := tlsconf.EnsureSelfSigned(t, hosts)
	if err != nil {
		return fmt.Errorf("make the self-signed certificate: %w", err)
	}
	cfg, info, err := tlsconf.Build(t)
	if err != nil {
		return prefixField("tls.", err)
	}
	s.TLS = &t
	prov.tls, prov.tlsInfo = cfg, &info
	return nil
}

// keepSelfSigned gives next the certificate cur made, when both are
// self-signed and next has none: an update that changes other TLS
// options (or none) keeps serving the same certificate.
func keepSelfSigned(cur, next *tlsconf.Spec) *tlsconf.Spec {
	if cur == nil || next == nil || !cur.SelfSigned || !next.SelfSigned || len(next.SelfSignedCertPEM) > 0 {
		return next
	}
	t := next.Clone()
	t.SelfSignedCertPEM, t.SelfSignedKeyPEM = cur.SelfSignedCertPEM, cur.SelfSignedKeyPEM
	return &t
}

// withMaterial returns spec with the certificate Provision made, so that
// the desired state, and the store, keep it.
func (p *Provisioned) withMaterial(spec Spec) Spec {
	if spec.TLS == nil || p.Spec.TLS == nil || !spec.TLS.SelfSigned {
		return spec
	}
	t := spec.TLS.Clone()
	t.SelfSignedCertPEM, t.SelfSignedKeyPEM = p.Spec.TLS.SelfSignedCertPEM, p.Spec.TLS.SelfSignedKeyPEM
	spec.TLS = &t
	return spec
}

// faultSeed is the seed the engine runs with.
func (p *Provisioned) faultSeed() uint64 {
	if p.Spec.FaultSeed != nil {
		return uint64(*p.Spec.FaultSeed)
	}
	return rand.Uint64()
}

// tlsConfig is the engine's TLS configuration, nil for plaintext.
func (p *Provisioned) tlsConfig() *tls.Config { return p.tls }

// prefixField puts prefix before the field a *rawsock.FieldError names.
func prefixField(prefix string, err error) error {
	var fe *rawsock.FieldError
	if errors.As(err, &fe) {
		return &rawsock.FieldError{Field: prefix + fe.Field, Reason: fe.Reason}
	}
	return err
}
