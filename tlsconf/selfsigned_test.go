package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"
)

// parseSelfSigned returns the certificate of a spec EnsureSelfSigned
// filled in, checking that its key is a P-256 key in PKCS #8 that
// matches it.
func parseSelfSigned(t *testing.T, s Spec) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(s.SelfSignedCertPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("SelfSignedCertPEM is not one CERTIFICATE block: %q", s.SelfSignedCertPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	kb, rest := pem.Decode(s.SelfSignedKeyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatal("SelfSignedKeyPEM is not one PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("key is a %T, want an ECDSA P-256 key", key)
	}
	if !ec.PublicKey.Equal(cert.PublicKey) {
		t.Fatal("the key does not match the certificate")
	}
	return cert
}

func TestEnsureSelfSigned(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	s, err := EnsureSelfSigned(Spec{SelfSigned: true}, []string{
		"Example.TEST.", "192.0.2.7", "[2001:db8::1]", "0.0.0.0", "::", "", "fe80::1%eth0", "example.test", "localhost", "::ffff:192.0.2.7",
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	cert := parseSelfSigned(t, s)

	if want := []string{"example.test", "localhost"}; !slices.Equal(cert.DNSNames, want) {
		t.Errorf("DNS names %q, want %q", cert.DNSNames, want)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"192.0.2.7", "2001:db8::1", "fe80::1", "127.0.0.1", "::1"}; !slices.Equal(ips, want) {
		t.Errorf("IP addresses %q, want %q", ips, want)
	}
	if cert.Subject.CommonName != "example.test" {
		t.Errorf("common name %q, want the first host", cert.Subject.CommonName)
	}

	// Valid from an hour before it was made, for a year.
	if nb := cert.NotBefore; nb.Before(before.Add(-time.Hour)) || nb.After(after.Add(-time.Hour)) {
		t.Errorf("NotBefore %v, want an hour before %v..%v", nb, before, after)
	}
	if na := cert.NotAfter; na.Before(before.AddDate(1, 0, 0)) || na.After(after.AddDate(1, 0, 0)) {
		t.Errorf("NotAfter %v, want a year after %v..%v", na, before, after)
	}

	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v, want a positive number of at most 128 bits", cert.SerialNumber)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign {
		t.Errorf("key usage %b", cert.KeyUsage)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("extended key usage %v", cert.ExtKeyUsage)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("basic constraints valid=%t CA=%t maxPathLen=%d", cert.BasicConstraintsValid, cert.IsCA, cert.MaxPathLen)
	}
	if len(cert.SubjectKeyId) == 0 || !bytes.Equal(cert.SubjectKeyId, cert.AuthorityKeyId) {
		t.Errorf("subject key id %x, authority key id %x: want the same, set", cert.SubjectKeyId, cert.AuthorityKeyId)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}

	// Pinned as its own root, it verifies for every name it carries, and
	// no other.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"localhost", "example.test", "127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	for _, name := range []string{"other.test", "10.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err == nil {
			t.Errorf("verify for %s succeeded", name)
		}
	}
}

func TestEnsureSelfSignedWithoutHosts(t *testing.T) {
	s, err := EnsureSelfSigned(Spec{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseSelfSigned(t, s)
	if !slices.Equal(cert.DNSNames, []string{"localhost"}) {
		t.Errorf("DNS names %q", cert.DNSNames)
	}
	if !slices.EqualFunc(cert.IPAddresses, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, net.IP.Equal) {
		t.Errorf("IP addresses %v", cert.IPAddresses)
	}
	if cert.Subject.CommonName != "localhost" {
		t.Errorf("common name %q", cert.Subject.CommonName)
	}
}

func TestEnsureSelfSignedIsIdempotent(t *testing.T) {
	first, err := EnsureSelfSigned(Spec{SelfSigned: true, ALPN: []string{"h2"}}, []string{"a.test"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := EnsureSelfSigned(first, []string{"b.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.SelfSignedCertPEM, second.SelfSignedCertPEM) || !bytes.Equal(first.SelfSignedKeyPEM, second.SelfSignedKeyPEM) {
		t.Error("a second call replaced the certificate")
	}
	if !Equal(first, second) {
		t.Errorf("second call changed the spec: %v, then %v", first, second)
	}

	// The result shares nothing with its argument.
	second.SelfSignedCertPEM[0] ^= 0xff
	if first.SelfSignedCertPEM[0] == second.SelfSignedCertPEM[0] {
		t.Error("the result shares its PEM with the argument")
	}

	// A fresh spec gets a fresh key and serial.
	other, err := EnsureSelfSigned(Spec{SelfSigned: true}, []string{"a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.SelfSignedKeyPEM, first.SelfSignedKeyPEM) {
		t.Error("two specs got the same key")
	}
	if a, b := parseSelfSigned(t, first), parseSelfSigned(t, other); a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Error("two certificates with one serial")
	}
}

func TestEnsureSelfSignedHalfMaterial(t *testing.T) {
	full, err := EnsureSelfSigned(Spec{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	half := full.Clone()
	half.SelfSignedKeyPEM = nil
	got, err := EnsureSelfSigned(half, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got.SelfSignedCertPEM, full.SelfSignedCertPEM) {
		t.Error("a certificate without its key was kept")
	}
	parseSelfSigned(t, got)
}

func TestEnsureSelfSignedNotSelfSigned(t *testing.T) {
	in := Spec{CertFile: "c.pem", KeyFile: "k.pem", SelfSignedCertPEM: []byte("stale"), SelfSignedKeyPEM: []byte("stale")}
	got, err := EnsureSelfSigned(in, []string{"a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.SelfSignedCertPEM != nil || got.SelfSignedKeyPEM != nil {
		t.Errorf("material kept for a spec that is not selfSigned: %v", got)
	}
	if got.CertFile != "c.pem" || got.KeyFile != "k.pem" {
		t.Errorf("fields changed: %v", got)
	}
	if string(in.SelfSignedKeyPEM) != "stale" {
		t.Error("the argument was modified")
	}
}

func TestEnsureSelfSignedBadHost(t *testing.T) {
	for _, h := range []string{"my host", "/run/sockplane.sock", "a..b", "-a.test", "a_b.test:80", "é.test"} {
		if _, err := EnsureSelfSigned(Spec{SelfSigned: true}, []string{h}); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
}
