package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// Info is what a listener's status shows of the certificate it serves,
// so that a client can pin it.
type Info struct {
	// CertificatePEM is the chain served, as PEM: the leaf first, then
	// the intermediates of certFile (a self-signed spec has the leaf
	// only). It is re-encoded from the parsed certificates, so nothing
	// else the file holds ever shows.
	CertificatePEM string
	// FingerprintSHA256 is the SHA-256 of the leaf's DER, in lower-case
	// hex without colons.
	FingerprintSHA256 string
	// NotAfter is the leaf's expiry.
	NotAfter time.Time
}

// maxPEMFile bounds what Build reads of a file, so that a path such as
// /dev/zero cannot exhaust memory.
const maxPEMFile = 1 << 20

// Build returns the server configuration s describes, and the Info of
// its certificate. It reads certFile, keyFile and clientCaFile every time
// (a restart picks up renewed files); a selfSigned spec serves its
// SelfSignedCertPEM and SelfSignedKeyPEM, which EnsureSelfSigned must
// have filled in.
//
// The configuration has one certificate, MinVersion per minVersion,
// NextProtos the alpn list, and with clientCaFile ClientAuth
// tls.RequireAndVerifyClientCert with ClientCAs from the file.
//
// s is validated first (see Validate). A file that cannot be read or
// holds no valid PEM of the right kind, or a key that does not match the
// certificate, gives a *rawsock.FieldError on "certFile", "keyFile" or
// "clientCaFile" naming the file and why; no error quotes a key. Broken
// self-signed material, which no user sets, gives a plain error.
// An expired certificate is served: Info.NotAfter shows it.
func Build(s Spec) (*tls.Config, Info, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, Info{}, err
	}
	var (
		cert tls.Certificate
		err  error
	)
	if s.SelfSigned {
		cert, err = selfSignedPair(s)
	} else {
		cert, err = loadPair(s.CertFile, s.KeyFile)
	}
	if err != nil {
		return nil, Info{}, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   versions[s.MinVersion],
		NextProtos:   slices.Clone(s.ALPN),
	}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile)
		if err != nil {
			return nil, Info{}, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = pool
	}
	return cfg, infoOf(cert), nil
}

// PeerSubject is the subject of the verified client certificate of a
// connection (as RFC 2253 spells it, e.g. "CN=client,O=Example"), or ""
// when the client presented none or it was not verified.
func PeerSubject(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.String()
}

// infoOf describes cert, whose Leaf is set.
func infoOf(cert tls.Certificate) Info {
	var b strings.Builder
	for _, der := range cert.Certificate {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	sum := sha256.Sum256(cert.Leaf.Raw)
	return Info{
		CertificatePEM:    b.String(),
		FingerprintSHA256: hex.EncodeToString(sum[:]),
		NotAfter:          cert.Leaf.NotAfter,
	}
}

// selfSignedPair parses a selfSigned spec's stored material.
func selfSignedPair(s Spec) (tls.Certificate, error) {
	if len(s.SelfSignedCertPEM) == 0 || len(s.SelfSignedKeyPEM) == 0 {
		return tls.Certificate{}, errors.New("tlsconf: the selfSigned spec has no certificate yet (EnsureSelfSigned makes it)")
	}
	chain, err := parseChain(s.SelfSignedCertPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: the stored self-signed certificate: %s", err)
	}
	key, err := parseKey(s.SelfSignedKeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: the stored self-signed key: %s", err)
	}
	if err := checkPair(chain[0], key); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: the stored self-signed key %s the certificate", err)
	}
	return pair(chain, key), nil
}

// loadPair reads and checks a certificate file and its key file.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	data, err := readPEMFile("certFile", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain, err := parseChain(data)
	if err != nil {
		return tls.Certificate{}, fileError("certFile", certFile, err.Error())
	}
	data, err = readPEMFile("keyFile", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := parseKey(data)
	clear(data)
	if err != nil {
		return tls.Certificate{}, fileError("keyFile", keyFile, err.Error())
	}
	if err := checkPair(chain[0], key); err != nil {
		return tls.Certificate{}, fileError("keyFile", keyFile, fmt.Sprintf("%s the certificate of certFile %s", err, certFile))
	}
	return pair(chain, key), nil
}

// pair assembles the tls.Certificate of a checked chain and key.
func pair(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert
}

// loadPool reads a client CA bundle: every CERTIFICATE block must parse,
// and there must be at least one. Blocks of other types are skipped.
func loadPool(file string) (*x509.CertPool, error) {
	data, err := readPEMFile("clientCaFile", file)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fileError("clientCaFile", file, err.Error())
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// readPEMFile reads a regular file of at most maxPEMFile bytes; field
// names it in the error.
func readPEMFile(field, file string) ([]byte, error) {
	// Stat first: opening a FIFO for reading would block until a writer
	// comes.
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fileError(field, file, "cannot read it: "+pathReason(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fileError(field, file, "is not a regular file")
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fileError(field, file, "cannot read it: "+pathReason(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fileError(field, file, "cannot read it: "+pathReason(err))
	}
	if len(data) > maxPEMFile {
		clear(data)
		return nil, fileError(field, file, fmt.Sprintf("is larger than %d bytes, too large for PEM certificates or a key", maxPEMFile))
	}
	return data, nil
}

// pathReason is err without the path, which fileError puts first.
func pathReason(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

func fileError(field, file, reason string) error {
	return fieldError(field, fmt.Sprintf("%s: %s", file, reason))
}

// parseChain returns the certificates of a certificate file, leaf first,
// checked for use by a TLS server.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	certs, err := parseCerts(data)
	if errors.Is(err, errKeyNotCert) {
		return nil, fmt.Errorf("%w (are certFile and keyFile switched?)", err)
	}
	if err != nil {
		return nil, err
	}
	switch pub := certs[0].PublicKey.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("the certificate's ECDSA curve %s is not one TLS supports", pub.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("the certificate's %s public key cannot serve TLS (RSA, ECDSA or Ed25519 expected)", certs[0].PublicKeyAlgorithm)
	}
	return certs, nil
}

// errKeyNotCert is parseCerts' error for PEM that holds a key where
// certificates were expected.
var errKeyNotCert = errors.New("holds a private key but no CERTIFICATE block")

// parseCerts parses every CERTIFICATE block of data, skipping blocks of
// other types; none is an error. Errors never quote the data.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var (
		certs   []*x509.Certificate
		skipped []string
	)
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			skipped = append(skipped, block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid certificate: %v", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	switch {
	case len(skipped) == 0:
		return nil, errors.New("no PEM data")
	case slices.ContainsFunc(skipped, isKeyBlock):
		return nil, errKeyNotCert
	default:
		return nil, fmt.Errorf("no CERTIFICATE block, only %s", strings.Join(skipped, ", "))
	}
}

// isKeyBlock reports whether a PEM block type is that of a private key.
func isKeyBlock(typ string) bool {
	return typ == "PRIVATE KEY" || strings.HasSuffix(typ, " PRIVATE KEY")
}

// parseKey parses the first private key block of data: PKCS #8, PKCS #1
// (RSA) or SEC 1 (EC). Blocks of other types, such as a certificate in a
// combined file, are skipped. Errors never quote the data.
func parseKey(data []byte) (crypto.Signer, error) {
	sawCert := false
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		switch {
		case block == nil && sawCert:
			return nil, errors.New("holds a certificate but no private key (are certFile and keyFile switched?)")
		case block == nil:
			return nil, errors.New("no PEM private key block")
		case block.Type == "CERTIFICATE":
			sawCert = true
			continue
		case !isKeyBlock(block.Type):
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, errors.New("the private key is encrypted, which is not supported: give it unencrypted with file permissions restricting who reads it")
		}
		key, err := parseKeyDER(block.Bytes)
		clear(block.Bytes)
		return key, err
	}
}

// parseKeyDER parses a private key in PKCS #8, PKCS #1 or SEC 1 DER.
// Errors do not say which format failed how: the reasons of the parsers
// guessed wrong would mislead.
func parseKeyDER(der []byte) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if key, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, errors.New("the private key is not valid PKCS #8, PKCS #1 (RSA) or SEC 1 (EC)")
			}
		}
	}
	switch k := key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("the private key is a %T, which cannot sign TLS handshakes (RSA, ECDSA or Ed25519 expected)", key)
	}
}

// checkPair reports, as "does not match" or the like, whether key is not
// the private key of leaf.
func checkPair(leaf *x509.Certificate, key crypto.Signer) error {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return errors.New("does not match")
	}
	return nil
}
