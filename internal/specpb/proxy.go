package specpb

import (
	"google.golang.org/protobuf/types/known/durationpb"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/registry"
)

// proxyFromProto reads l's proxy options into spec.
func proxyFromProto(l *sockplanev1.Listener, spec *registry.Spec) error {
	p := l.GetProxy()
	if p == nil {
		return nil
	}
	ps := &registry.ProxySpec{Upstream: p.GetUpstream()}
	var err error
	if p.GetTransport() != sockplanev1.Transport_TRANSPORT_UNSPECIFIED {
		if ps.Transport, err = lookup(Transports, p.GetTransport(), "proxy.transport"); err != nil {
			return err
		}
	}
	if ps.ConnectTimeout, err = positiveDuration(p.GetConnectTimeout(), "proxy.connectTimeout", `"2s"`); err != nil {
		return err
	}
	if t := p.GetTls(); t != nil {
		ps.TLS = &registry.ProxyTLSSpec{ServerName: t.GetServerName(), CAFile: t.GetCaFile(), Insecure: t.GetInsecure()}
	}
	if r := p.GetRecord(); r != nil {
		ps.Record = &registry.ProxyRecordSpec{MaxExchanges: int(r.GetMaxExchanges())}
	}
	spec.Proxy = ps
	return nil
}

// proxyToProto writes spec's proxy options into l.
func proxyToProto(s registry.Spec, l *sockplanev1.Listener) {
	p := s.Proxy
	if p == nil {
		return
	}
	l.Proxy = &sockplanev1.ProxyOptions{Upstream: p.Upstream, Transport: Reverse(Transports, p.Transport)}
	if p.ConnectTimeout != 0 {
		l.Proxy.ConnectTimeout = durationpb.New(p.ConnectTimeout)
	}
	if t := p.TLS; t != nil {
		l.Proxy.Tls = &sockplanev1.ProxyTls{ServerName: t.ServerName, CaFile: t.CAFile, Insecure: t.Insecure}
	}
	if r := p.Record; r != nil {
		l.Proxy.Record = &sockplanev1.ProxyRecord{MaxExchanges: uint32(r.MaxExchanges)}
	}
}
