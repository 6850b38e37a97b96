package tlsconf

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockplane/sockplane/rawsock"
)

// ioTimeout bounds every network step of a test, so that a bug fails it
// instead of hanging it. Nothing waits for it to pass.
const ioTimeout = 10 * time.Second

// --- certificates --------------------------------------------------------

var testSerial atomic.Int64

func newECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// newCA makes a self-signed CA certificate named cn.
func newCA(tb testing.TB, cn string) (*x509.Certificate, crypto.Signer) {
	tb.Helper()
	key := newECKey(tb)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	return issue(tb, tmpl, nil, nil, key), key
}

// issue signs tmpl's certificate for key with ca's caKey, or self-signs it
// when ca is nil.
func issue(tb testing.TB, tmpl, ca *x509.Certificate, caKey, key crypto.Signer) *x509.Certificate {
	tb.Helper()
	tmpl.SerialNumber = big.NewInt(testSerial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	if ca == nil {
		ca, caKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// serverTemplate is a server certificate for localhost and 127.0.0.1.
func serverTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// clientTemplate is a client certificate with subject CN=cn,O=sockplane
// tests.
func clientTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"sockplane tests"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func pkcs8PEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// pki is a server certificate from one CA and a client certificate from
// another, as files, with what a client needs to use them.
type pki struct {
	dir               string
	serverCA          *x509.Certificate // signed serverCert
	serverCert        *x509.Certificate // for localhost and 127.0.0.1
	certFile, keyFile string            // serverCert and its key
	clientCA          *x509.Certificate // signed client
	clientCAFile      string            // clientCA
	client            tls.Certificate   // CN=client-1,O=sockplane tests
	clientSubject     string            // client's subject, as PeerSubject shows it
	stranger          tls.Certificate   // a client certificate of a CA the server does not trust
}

func newPKI(tb testing.TB) *pki {
	tb.Helper()
	p := &pki{dir: tb.TempDir()}
	var serverCAKey, clientCAKey crypto.Signer
	p.serverCA, serverCAKey = newCA(tb, "server CA")
	p.clientCA, clientCAKey = newCA(tb, "client CA")
	strangersCA, strangersCAKey := newCA(tb, "strangers' CA")

	serverKey := newECKey(tb)
	p.serverCert = issue(tb, serverTemplate(), p.serverCA, serverCAKey, serverKey)
	p.certFile = writeFile(tb, p.dir, "server.pem", certPEM(p.serverCert))
	p.keyFile = writeFile(tb, p.dir, "server-key.pem", pkcs8PEM(tb, serverKey))
	p.clientCAFile = writeFile(tb, p.dir, "client-ca.pem", certPEM(p.clientCA))

	clientKey := newECKey(tb)
	clientCert := issue(tb, clientTemplate("client-1"), p.clientCA, clientCAKey, clientKey)
	p.client = tls.Certificate{Certificate: [][]byte{clientCert.Raw}, PrivateKey: clientKey, Leaf: clientCert}
	p.clientSubject = clientCert.Subject.String()

	strangerKey := newECKey(tb)
	strangerCert := issue(tb, clientTemplate("stranger"), strangersCA, strangersCAKey, strangerKey)
	p.stranger = tls.Certificate{Certificate: [][]byte{strangerCert.Raw}, PrivateKey: strangerKey, Leaf: strangerCert}
	return p
}

// pinned returns a client configuration that trusts only the PEM
// certificates given, for serverName.
func pinned(tb testing.TB, pemCerts, serverName string) *tls.Config {
	tb.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemCerts)) {
		tb.Fatalf("no certificate in %q", pemCerts)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}

// --- a TLS echo server --------------------------------------------------

// handshake is what the server saw of one connection's handshake.
type handshake struct {
	state tls.ConnectionState
	err   error
}

type testServer struct {
	addr       string
	handshakes chan handshake
}

// serve runs a TLS echo server with cfg on 127.0.0.1 until the test ends.
// Every connection's handshake result goes to handshakes, in the order
// they end.
func serve(tb testing.TB, cfg *tls.Config) *testServer {
	tb.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &testServer{addr: ln.Addr().String(), handshakes: make(chan handshake, 64)}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
		conns  = make(map[net.Conn]bool)
	)
	done := make(chan struct{})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				srv.handle(c.(*tls.Conn), done)
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		close(done)
		wg.Wait()
	})
	return srv
}

func (srv *testServer) handle(c *tls.Conn, done <-chan struct{}) {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return
	}
	err := c.Handshake()
	select {
	case srv.handshakes <- handshake{state: c.ConnectionState(), err: err}:
	case <-done:
		return
	}
	if err == nil {
		_, _ = io.Copy(c, c)
	}
}

// next returns the server's view of the next connection's handshake.
func (srv *testServer) next(tb testing.TB) handshake {
	tb.Helper()
	select {
	case h := <-srv.handshakes:
		return h
	case <-time.After(ioTimeout):
		tb.Fatal("the server saw no handshake")
		return handshake{}
	}
}

// echo connects to addr with cfg, sends a line and reads it back. An
// error is the dial's, the handshake's or the exchange's: with TLS 1.3 a
// server that refuses the client's certificate says so only after the
// client's handshake has finished.
func echo(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	d := &tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	c := nc.(*tls.Conn)
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return tls.ConnectionState{}, err
	}
	const msg = "ping over TLS\n"
	if _, err := io.WriteString(c, msg); err != nil {
		return c.ConnectionState(), err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return c.ConnectionState(), err
	}
	if string(got) != msg {
		return c.ConnectionState(), errors.New("echo: got " + string(got))
	}
	return c.ConnectionState(), nil
}

// --- errors --------------------------------------------------------------

// wantFieldError fails unless err is a *rawsock.FieldError on field whose
// message contains every one of contains.
func wantFieldError(tb testing.TB, err error, field string, contains ...string) *rawsock.FieldError {
	tb.Helper()
	fe, ok := errors.AsType[*rawsock.FieldError](err)
	if !ok {
		tb.Fatalf("error %v (%T), want a *rawsock.FieldError on %q", err, err, field)
	}
	if fe.Field != field {
		tb.Fatalf("error on field %q (%v), want %q", fe.Field, fe, field)
	}
	for _, s := range contains {
		if !strings.Contains(fe.Reason, s) {
			tb.Errorf("error %q does not contain %q", fe.Reason, s)
		}
	}
	return fe
}

// wantNoKeyBytes fails if msg quotes any 16 characters of the base64
// body of a PEM key, or their bytes.
func wantNoKeyBytes(tb testing.TB, msg string, keyPEM []byte) {
	tb.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		tb.Fatal("wantNoKeyBytes: not PEM")
	}
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	for i := 0; i+16 <= len(b64); i += 16 {
		if strings.Contains(msg, b64[i:i+16]) {
			tb.Errorf("error %q quotes the key", msg)
		}
	}
	for i := 0; i+8 <= len(block.Bytes); i += 8 {
		if strings.Contains(msg, string(block.Bytes[i:i+8])) || strings.Contains(msg, fmt.Sprintf("%x", block.Bytes[i:i+8])) {
			tb.Errorf("error %q quotes the key's bytes", msg)
		}
	}
}

// sha256Leaf is the SHA-256 of the certificate the server presented.
func sha256Leaf(cs tls.ConnectionState) [32]byte {
	if len(cs.PeerCertificates) == 0 {
		return [32]byte{}
	}
	return sha256.Sum256(cs.PeerCertificates[0].Raw)
}
