package tlsconf

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
)

// The validity of a self-signed certificate: from an hour before it is
// made (a client whose clock is a little behind still accepts it) to a
// year after.
const (
	selfSignedBackdate = time.Hour
	selfSignedYears    = 1
)

// alwaysHosts are in every self-signed certificate, after the hosts given.
var alwaysHosts = []string{"localhost", "127.0.0.1", "::1"}

// EnsureSelfSigned returns s with SelfSignedCertPEM and SelfSignedKeyPEM
// filled in if s is selfSigned and lacks either. A spec that already has
// both comes back unchanged, so calling it again (at restore, at
// update) keeps the certificate clients pinned. A spec that is not
// selfSigned comes back without any self-signed material, so a key no
// longer used is not kept in the desired state. s itself is not
// modified.
//
// The certificate made:
//
//   - an ECDSA P-256 key, PKCS #8 in a "PRIVATE KEY" PEM block;
//   - valid from one hour before now until one year after now;
//   - subject alternative names: hosts (DNS names or IP addresses, an
//     IPv6 one possibly in brackets; empty and unspecified ones such as
//     0.0.0.0 are skipped), then localhost, 127.0.0.1 and ::1;
//   - a random 128-bit serial number;
//   - key usage digital signature and certificate signing, extended key
//     usage server authentication, and basic constraints CA with path
//     length 0: it is its own issuer, so a client that trusts this one
//     PEM as its CA (Python's ssl.create_default_context(cadata=pem), Go's
//     RootCAs) verifies it, OpenSSL's strict mode included.
//
// A host that is neither an IP address nor a DNS name is an error.
func EnsureSelfSigned(s Spec, hosts []string) (Spec, error) {
	s = s.Clone()
	if !s.SelfSigned {
		s.SelfSignedCertPEM, s.SelfSignedKeyPEM = nil, nil
		return s, nil
	}
	if len(s.SelfSignedCertPEM) > 0 && len(s.SelfSignedKeyPEM) > 0 {
		return s, nil
	}
	certPEM, keyPEM, err := newSelfSigned(hosts, time.Now())
	if err != nil {
		return s, err
	}
	s.SelfSignedCertPEM, s.SelfSignedKeyPEM = certPEM, keyPEM
	return s, nil
}

// newSelfSigned makes the certificate and key EnsureSelfSigned describes,
// as PEM.
func newSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	names, ips, cn, err := sans(hosts)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: generating a key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: encoding the public key: %w", err)
	}
	// The key identifier: the first 160 bits of the SHA-256 of the public
	// key (RFC 7093 method 1 hashes only the key bits; any value unique to
	// the key will do, RFC 5280 4.2.1.2). The authority key identifier
	// repeats it: the certificate is its own issuer.
	sum := sha256.Sum256(spki)
	keyID := sum[:20]
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sockplane self-signed"}},
		NotBefore:             now.Add(-selfSignedBackdate),
		NotAfter:              now.AddDate(selfSignedYears, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID,
		AuthorityKeyId:        keyID,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: making the self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: encoding the private key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// sans splits hosts, then alwaysHosts, into DNS names and IP addresses,
// without repeats. first is the first of them, the certificate's common
// name: the first host given, else "localhost".
func sans(hosts []string) (names []string, ips []net.IP, first string, err error) {
	seen := make(map[string]bool)
	for _, h := range append(hosts[:len(hosts):len(hosts)], alwaysHosts...) {
		h = strings.TrimSpace(h)
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" {
			continue
		}
		if addr, perr := netip.ParseAddr(h); perr == nil {
			addr = addr.WithZone("").Unmap()
			if addr.IsUnspecified() || seen[addr.String()] {
				continue
			}
			seen[addr.String()] = true
			ips = append(ips, net.IP(addr.AsSlice()))
			first = cmp.Or(first, addr.String())
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(h), ".")
		if !isDNSName(name) {
			return nil, nil, "", fmt.Errorf("tlsconf: self-signed certificate host %q is neither an IP address nor a DNS name", h)
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
			first = cmp.Or(first, name)
		}
	}
	return names, ips, first, nil
}

// isDNSName reports whether name (lower case, no trailing dot) is a host
// name a certificate can carry: labels of letters, digits, '-' and '_',
// 1 to 63 bytes each, neither starting nor ending with '-', 253 bytes in
// all.
func isDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// randomSerial returns a random positive serial number of 128 bits.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("tlsconf: making a serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}
