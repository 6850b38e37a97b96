package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
)

// selfSignedServer builds spec after EnsureSelfSigned and serves it.
func selfSignedServer(t *testing.T, spec Spec) (*testServer, Info) {
	t.Helper()
	spec, err := EnsureSelfSigned(spec, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, info, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, cfg), info
}

func TestHandshakeSelfSignedPinned(t *testing.T) {
	srv, info := selfSignedServer(t, Spec{SelfSigned: true})

	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		t.Run("ServerName "+name, func(t *testing.T) {
			cs, err := echo(srv.addr, pinned(t, info.CertificatePEM, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%x", sha256Leaf(cs)); got != info.FingerprintSHA256 {
				t.Errorf("served certificate %s, status shows %s", got, info.FingerprintSHA256)
			}
			h := srv.next(t)
			if h.err != nil {
				t.Fatalf("server: %v", h.err)
			}
			if got := PeerSubject(h.state); got != "" {
				t.Errorf("PeerSubject without a client certificate = %q", got)
			}
		})
	}

	t.Run("by IP without ServerName", func(t *testing.T) {
		// tls.Dialer takes the name to verify from the address: 127.0.0.1.
		if _, err := echo(srv.addr, pinned(t, info.CertificatePEM, "")); err != nil {
			t.Fatal(err)
		}
		srv.next(t)
	})

	t.Run("another name", func(t *testing.T) {
		_, err := echo(srv.addr, pinned(t, info.CertificatePEM, "other.test"))
		if _, ok := errors.AsType[x509.HostnameError](err); !ok {
			t.Fatalf("ServerName other.test: %v, want a HostnameError", err)
		}
		srv.next(t)
	})

	t.Run("not pinned", func(t *testing.T) {
		_, err := echo(srv.addr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"})
		if _, ok := errors.AsType[x509.UnknownAuthorityError](err); !ok {
			t.Fatalf("a client that does not trust the certificate: %v, want an UnknownAuthorityError", err)
		}
		srv.next(t)
	})
}

// TestHandshakeRestart: a second Build of the stored spec, as a restart
// does, serves the certificate the client pinned from the first.
func TestHandshakeRestart(t *testing.T) {
	spec, err := EnsureSelfSigned(Spec{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	stored := spec.Clone() // what the desired state keeps
	restored, err := EnsureSelfSigned(stored, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, after, err := Build(restored)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	srv := serve(t, cfg)
	if _, err := echo(srv.addr, pinned(t, before.CertificatePEM, "localhost")); err != nil {
		t.Fatalf("a client pinned before the restart: %v", err)
	}
	srv.next(t)
}

func TestHandshakeMutualTLS(t *testing.T) {
	p := newPKI(t)
	cfg, info, err := Build(Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.clientCAFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, cfg)
	client := func(version uint16, certs ...tls.Certificate) *tls.Config {
		c := pinned(t, string(certPEM(p.serverCA)), "localhost")
		c.MaxVersion = version
		c.Certificates = certs
		return c
	}
	if info.CertificatePEM != string(certPEM(p.serverCert)) {
		t.Fatalf("CertificatePEM %q", info.CertificatePEM)
	}

	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			// With TLS 1.3 the client's handshake ends before the server
			// checks its certificate, so the refusal comes with the first
			// read: echo covers both.
			if _, err := echo(srv.addr, client(v.version)); err == nil {
				t.Error("a client without a certificate was served")
			}
			if h := srv.next(t); h.err == nil {
				t.Error("the server accepted a client without a certificate")
			}

			if _, err := echo(srv.addr, client(v.version, p.stranger)); err == nil {
				t.Error("a client with a certificate of an unknown CA was served")
			}
			if h := srv.next(t); h.err == nil {
				t.Error("the server accepted a certificate of an unknown CA")
			}

			cs, err := echo(srv.addr, client(v.version, p.client))
			if err != nil {
				t.Fatalf("a client with a certificate of the client CA: %v", err)
			}
			if cs.Version != v.version {
				t.Errorf("negotiated %x, want %x", cs.Version, v.version)
			}
			h := srv.next(t)
			if h.err != nil {
				t.Fatalf("server: %v", h.err)
			}
			if got := PeerSubject(h.state); got != p.clientSubject || got != "CN=client-1,O=sockplane tests" {
				t.Errorf("PeerSubject = %q, want %q", got, p.clientSubject)
			}
		})
	}
}

func TestHandshakeMinVersion(t *testing.T) {
	for _, tc := range []struct {
		minVersion string
		client     uint16
		ok         bool
	}{
		{"1.3", tls.VersionTLS12, false},
		{"1.3", tls.VersionTLS13, true},
		{"1.2", tls.VersionTLS12, true},
		{"", tls.VersionTLS12, true},
		{"", tls.VersionTLS11, false},
	} {
		t.Run(fmt.Sprintf("minVersion %q, client max %x", tc.minVersion, tc.client), func(t *testing.T) {
			srv, info := selfSignedServer(t, Spec{SelfSigned: true, MinVersion: tc.minVersion})
			c := pinned(t, info.CertificatePEM, "localhost")
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tc.client
			cs, err := echo(srv.addr, c)
			h := srv.next(t)
			if !tc.ok {
				if err == nil || h.err == nil {
					t.Fatalf("client %v, server %v: want both refused", err, h.err)
				}
				return
			}
			if err != nil || h.err != nil {
				t.Fatalf("client %v, server %v", err, h.err)
			}
			if cs.Version != tc.client {
				t.Errorf("negotiated %x, want %x", cs.Version, tc.client)
			}
		})
	}
}

func TestHandshakeALPN(t *testing.T) {
	srv, info := selfSignedServer(t, Spec{SelfSigned: true, ALPN: []string{"sockplane/2", "sockplane/1"}})
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
		ok      bool
	}{
		{"a common protocol", []string{"h2", "sockplane/1"}, "sockplane/1", true},
		{"the server's preference", []string{"sockplane/1", "sockplane/2"}, "sockplane/2", true},
		{"no ALPN", nil, "", true},
		{"nothing in common", []string{"h2"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pinned(t, info.CertificatePEM, "localhost")
			c.NextProtos = tc.offered
			cs, err := echo(srv.addr, c)
			h := srv.next(t)
			if !tc.ok {
				if err == nil || h.err == nil {
					t.Fatalf("client %v, server %v: want no_application_protocol", err, h.err)
				}
				return
			}
			if err != nil || h.err != nil {
				t.Fatalf("client %v, server %v", err, h.err)
			}
			if cs.NegotiatedProtocol != tc.want || h.state.NegotiatedProtocol != tc.want {
				t.Errorf("negotiated %q (server %q), want %q", cs.NegotiatedProtocol, h.state.NegotiatedProtocol, tc.want)
			}
		})
	}
}
