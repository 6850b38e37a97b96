// Package testcert makes throwaway TLS certificates for tests: a CA, a
// server certificate for 127.0.0.1, ::1 and localhost, and a client
// certificate, written as PEM files into a test's temporary directory.
// Keys live only as long as the test; none is ever committed.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Files are the paths of the PEM files New writes.
type Files struct {
	CA                    string // the CA's certificate: signs the others
	ServerCert, ServerKey string // for 127.0.0.1, ::1 and localhost
	ClientCert, ClientKey string // client authentication, CN "sockctl-test"
	// OtherCA is a second CA's certificate that signed neither: a client
	// or server that trusts only it must refuse the other side.
	OtherCA string
}

// New writes a CA, a server and a client certificate, and an unrelated
// CA, into tb.TempDir().
func New(tb testing.TB) Files {
	tb.Helper()
	dir := tb.TempDir()
	ca, caKey := newCA(tb, "sockplane test CA")
	other, _ := newCA(tb, "unrelated test CA")
	f := Files{
		CA:         writePEM(tb, dir, "ca.pem", "CERTIFICATE", ca.Raw),
		OtherCA:    writePEM(tb, dir, "other-ca.pem", "CERTIFICATE", other.Raw),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	issue(tb, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, f.ServerCert, f.ServerKey)
	issue(tb, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "sockctl-test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, f.ClientCert, f.ClientKey)
	return f
}

// ClientTLS returns a client config that trusts f's CA and, with
// withCert, presents f's client certificate.
func (f Files) ClientTLS(tb testing.TB, withCert bool) *tls.Config {
	tb.Helper()
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	cfg.RootCAs.AppendCertsFromPEM(pem)
	if withCert {
		cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// serial numbers the certificates, unique within the test binary.
var serial atomic.Int64

func template(tb testing.TB, t *x509.Certificate) *x509.Certificate {
	tb.Helper()
	t.SerialNumber = big.NewInt(serial.Add(1))
	t.NotBefore = time.Now().Add(-time.Hour)
	t.NotAfter = time.Now().Add(time.Hour)
	return t
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func newCA(tb testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key := newKey(tb)
	tmpl := template(tb, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

func issue(tb testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certPath, keyPath string) {
	tb.Helper()
	key := newKey(tb)
	tmpl = template(tb, tmpl)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, filepath.Dir(certPath), filepath.Base(certPath), "CERTIFICATE", der)
	writePEM(tb, filepath.Dir(keyPath), filepath.Base(keyPath), "PRIVATE KEY", keyDER)
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
