package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sockplane/sockplane/rawsock"
)

func TestBuildSelfSigned(t *testing.T) {
	s, err := EnsureSelfSigned(Spec{SelfSigned: true, ALPN: []string{"sockplane/1", "h2"}}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, info, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || len(cfg.Certificates[0].Certificate) != 1 {
		t.Fatalf("certificates %v, want one with no chain", cfg.Certificates)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2 by default", cfg.MinVersion)
	}
	if !slices.Equal(cfg.NextProtos, s.ALPN) {
		t.Errorf("NextProtos %q, want %q", cfg.NextProtos, s.ALPN)
	}
	cfg.NextProtos[0] = "changed"
	if s.ALPN[0] != "sockplane/1" {
		t.Error("the config shares its NextProtos with the spec")
	}
	if cfg.ClientAuth != tls.NoClientCert || cfg.ClientCAs != nil {
		t.Errorf("client auth %v without clientCaFile", cfg.ClientAuth)
	}

	if info.CertificatePEM != string(s.SelfSignedCertPEM) {
		t.Errorf("CertificatePEM %q, want the stored one %q", info.CertificatePEM, s.SelfSignedCertPEM)
	}
	block, _ := pem.Decode(s.SelfSignedCertPEM)
	sum := sha256.Sum256(block.Bytes)
	if want := hex.EncodeToString(sum[:]); info.FingerprintSHA256 != want {
		t.Errorf("fingerprint %s, want %s", info.FingerprintSHA256, want)
	}
	if len(info.FingerprintSHA256) != 64 || strings.ToLower(info.FingerprintSHA256) != info.FingerprintSHA256 {
		t.Errorf("fingerprint %q is not 64 lower-case hex digits", info.FingerprintSHA256)
	}
	leaf := parseSelfSigned(t, s)
	if !info.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("NotAfter %v, want %v", info.NotAfter, leaf.NotAfter)
	}
	if strings.Contains(info.CertificatePEM, "PRIVATE KEY") {
		t.Error("Info shows the key")
	}

	// A restart builds from the same spec: the same certificate.
	_, again, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if again != info {
		t.Errorf("a second Build shows %+v, the first %+v", again, info)
	}
}

func TestBuildMinVersion(t *testing.T) {
	s, err := EnsureSelfSigned(Spec{SelfSigned: true, MinVersion: "1.3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion %x, want TLS 1.3", cfg.MinVersion)
	}
	if cfg.NextProtos != nil {
		t.Errorf("NextProtos %q without alpn", cfg.NextProtos)
	}
}

func TestBuildValidates(t *testing.T) {
	_, _, err := Build(Spec{SelfSigned: true, MinVersion: "1.1"})
	wantFieldError(t, err, "minVersion")
	_, _, err = Build(Spec{CertFile: "c.pem"})
	wantFieldError(t, err, "keyFile")
}

func TestBuildSelfSignedWithoutMaterial(t *testing.T) {
	_, _, err := Build(Spec{SelfSigned: true})
	if err == nil || !strings.Contains(err.Error(), "EnsureSelfSigned") {
		t.Fatalf("Build of a selfSigned spec without material: %v", err)
	}
	if _, ok := errors.AsType[*rawsock.FieldError](err); ok {
		t.Errorf("%v is a FieldError: no user sets the material", err)
	}

	good, err := EnsureSelfSigned(Spec{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := EnsureSelfSigned(Spec{SelfSigned: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Spec{
		"garbage certificate": {SelfSigned: true, SelfSignedCertPEM: []byte("junk"), SelfSignedKeyPEM: good.SelfSignedKeyPEM},
		"garbage key":         {SelfSigned: true, SelfSignedCertPEM: good.SelfSignedCertPEM, SelfSignedKeyPEM: []byte("junk")},
		"mismatched":          {SelfSigned: true, SelfSignedCertPEM: good.SelfSignedCertPEM, SelfSignedKeyPEM: other.SelfSignedKeyPEM},
	} {
		_, _, err := Build(s)
		if err == nil {
			t.Errorf("%s: Build succeeded", name)
			continue
		}
		wantNoKeyBytes(t, err.Error(), good.SelfSignedKeyPEM)
		wantNoKeyBytes(t, err.Error(), other.SelfSignedKeyPEM)
	}
}

func TestBuildFiles(t *testing.T) {
	p := newPKI(t)
	cfg, info, err := Build(Spec{CertFile: p.certFile, KeyFile: p.keyFile, MinVersion: "1.3", ALPN: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.Certificates[0].Leaf == nil || !cfg.Certificates[0].Leaf.Equal(p.serverCert) {
		t.Fatalf("certificates %v, want the file's", cfg.Certificates)
	}
	if cfg.MinVersion != tls.VersionTLS13 || !slices.Equal(cfg.NextProtos, []string{"h2"}) {
		t.Errorf("MinVersion %x NextProtos %q", cfg.MinVersion, cfg.NextProtos)
	}
	fileData, err := os.ReadFile(p.certFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.CertificatePEM != string(fileData) {
		t.Errorf("CertificatePEM %q, want the file's %q", info.CertificatePEM, fileData)
	}
	sum := sha256.Sum256(p.serverCert.Raw)
	if info.FingerprintSHA256 != hex.EncodeToString(sum[:]) || !info.NotAfter.Equal(p.serverCert.NotAfter) {
		t.Errorf("info %+v", info)
	}
}

// TestBuildRereadsFiles: every Build reads the files, so a restart
// serves a renewed certificate.
func TestBuildRereadsFiles(t *testing.T) {
	p := newPKI(t)
	spec := Spec{CertFile: p.certFile, KeyFile: p.keyFile}
	_, first, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	key := newECKey(t)
	renewed := issue(t, serverTemplate(), nil, nil, key)
	writeFile(t, p.dir, filepath.Base(p.certFile), certPEM(renewed))
	writeFile(t, p.dir, filepath.Base(p.keyFile), pkcs8PEM(t, key))
	_, second, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if second.FingerprintSHA256 == first.FingerprintSHA256 || second.CertificatePEM != string(certPEM(renewed)) {
		t.Errorf("Build after renewal shows %+v, before %+v", second, first)
	}
}

func TestBuildChainAndCombinedFile(t *testing.T) {
	p := newPKI(t)
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// One file: the key between the leaf and its CA, as some tools write
	// it.
	combined := slices.Concat(certPEM(p.serverCert), keyPEM, certPEM(p.serverCA))
	file := writeFile(t, t.TempDir(), "combined.pem", combined)
	cfg, info, err := Build(Spec{CertFile: file, KeyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Certificates[0].Certificate; len(got) != 2 || !bytes.Equal(got[0], p.serverCert.Raw) || !bytes.Equal(got[1], p.serverCA.Raw) {
		t.Errorf("chain of %d certificates, want the leaf then the CA", len(got))
	}
	if want := string(certPEM(p.serverCert, p.serverCA)); info.CertificatePEM != want {
		t.Errorf("CertificatePEM %q, want the chain %q", info.CertificatePEM, want)
	}
	if strings.Contains(info.CertificatePEM, "PRIVATE KEY") {
		t.Error("CertificatePEM shows the key of a combined file")
	}
	sum := sha256.Sum256(p.serverCert.Raw)
	if info.FingerprintSHA256 != hex.EncodeToString(sum[:]) {
		t.Error("the fingerprint is not the leaf's")
	}
}

func TestBuildKeyFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := newECKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		keyPEM []byte
	}{
		{"PKCS #1 RSA", rsaKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		{"PKCS #8 RSA", rsaKey, pkcs8PEM(t, rsaKey)},
		{"SEC 1 EC", ecKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})},
		{"PKCS #8 P-384", p384, pkcs8PEM(t, p384)},
		{"PKCS #8 Ed25519", edKey, pkcs8PEM(t, edKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cert := issue(t, serverTemplate(), nil, nil, tc.key)
			spec := Spec{
				CertFile: writeFile(t, dir, "cert.pem", certPEM(cert)),
				KeyFile:  writeFile(t, dir, "key.pem", tc.keyPEM),
			}
			cfg, _, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			srv := serve(t, cfg)
			if _, err := echo(srv.addr, pinned(t, string(certPEM(cert)), "localhost")); err != nil {
				t.Fatalf("handshake with a %s key: %v", tc.name, err)
			}
		})
	}
}

func TestBuildBadFiles(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	certData, err := os.ReadFile(p.certFile)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyPEM := pkcs8PEM(t, newECKey(t))
	file := func(name string, data []byte) string { return writeFile(t, dir, name, data) }
	badBlock := func(typ string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte("not DER at all")})
	}
	encrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte("ciphertext"),
	})
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("ciphertext")})
	publicKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})
	missing := filepath.Join(dir, "missing.pem")
	big := file("big.pem", bytes.Repeat([]byte("#"), maxPEMFile+1))
	for _, tc := range []struct {
		name       string
		spec       Spec
		wantField  string
		wantReason []string
	}{
		{"cert file missing", Spec{CertFile: missing, KeyFile: p.keyFile}, "certFile", []string{missing, "no such file or directory"}},
		{"cert file a directory", Spec{CertFile: dir, KeyFile: p.keyFile}, "certFile", []string{dir, "not a regular file"}},
		{"cert file too large", Spec{CertFile: big, KeyFile: p.keyFile}, "certFile", []string{big, "larger than"}},
		{"cert file not PEM", Spec{CertFile: file("junk.pem", []byte("hello\n")), KeyFile: p.keyFile}, "certFile", []string{"junk.pem", "no PEM data"}},
		{"cert file empty", Spec{CertFile: file("empty.pem", nil), KeyFile: p.keyFile}, "certFile", []string{"no PEM data"}},
		{"cert file holds the key", Spec{CertFile: p.keyFile, KeyFile: p.certFile}, "certFile", []string{p.keyFile, "private key", "switched"}},
		{"cert file public key only", Spec{CertFile: file("pub.pem", publicKey), KeyFile: p.keyFile}, "certFile", []string{"no CERTIFICATE block, only PUBLIC KEY"}},
		{"cert block not DER", Spec{CertFile: file("bad-cert.pem", slices.Concat(certData, badBlock("CERTIFICATE"))), KeyFile: p.keyFile}, "certFile", []string{"bad-cert.pem", "PEM block 2", "not a valid certificate"}},
		{"key file missing", Spec{CertFile: p.certFile, KeyFile: missing}, "keyFile", []string{missing, "no such file or directory"}},
		{"key file not PEM", Spec{CertFile: p.certFile, KeyFile: file("junk-key.pem", []byte("hello\n"))}, "keyFile", []string{"junk-key.pem", "no PEM private key"}},
		{"key file holds a certificate", Spec{CertFile: p.certFile, KeyFile: p.certFile}, "keyFile", []string{p.certFile, "certificate but no private key", "switched"}},
		{"key block not DER", Spec{CertFile: p.certFile, KeyFile: file("bad-key.pem", badBlock("PRIVATE KEY"))}, "keyFile", []string{"bad-key.pem", "not valid PKCS #8"}},
		{"key encrypted", Spec{CertFile: p.certFile, KeyFile: file("enc.pem", encrypted)}, "keyFile", []string{"enc.pem", "encrypted"}},
		{"key encrypted PKCS #8", Spec{CertFile: p.certFile, KeyFile: file("enc8.pem", pkcs8Encrypted)}, "keyFile", []string{"encrypted"}},
		{"key of another certificate", Spec{CertFile: p.certFile, KeyFile: file("other-key.pem", otherKeyPEM)}, "keyFile", []string{"other-key.pem", "does not match", p.certFile}},
		{"client CA missing", Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: missing}, "clientCaFile", []string{missing, "no such file or directory"}},
		{"client CA empty", Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: file("empty-ca.pem", nil)}, "clientCaFile", []string{"empty-ca.pem", "no PEM data"}},
		{"client CA a key", Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.keyFile}, "clientCaFile", []string{"private key but no CERTIFICATE"}},
		{"client CA block not DER", Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: file("bad-ca.pem", badBlock("CERTIFICATE"))}, "clientCaFile", []string{"bad-ca.pem", "not a valid certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, info, err := Build(tc.spec)
			if cfg != nil || info != (Info{}) {
				t.Errorf("Build returned %v, %+v with an error", cfg, info)
			}
			wantFieldError(t, err, tc.wantField, tc.wantReason...)
			wantNoKeyBytes(t, err.Error(), keyPEM)
			wantNoKeyBytes(t, err.Error(), otherKeyPEM)
			if strings.Contains(err.Error(), "ciphertext") {
				t.Errorf("error %q quotes the file", err)
			}
			if tc.wantField == "clientCaFile" && strings.Contains(err.Error(), "switched") {
				t.Errorf("error %q talks of certFile and keyFile", err)
			}
		})
	}
}

func TestBuildClientCA(t *testing.T) {
	p := newPKI(t)
	// A bundle: another CA, a key block (skipped) and the client CA.
	bundle := slices.Concat(certPEM(p.serverCA), pkcs8PEM(t, newECKey(t)), certPEM(p.clientCA))
	caFile := writeFile(t, t.TempDir(), "bundle.pem", bundle)
	cfg, _, err := Build(Spec{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Fatalf("ClientAuth %v ClientCAs %v, want required and verified", cfg.ClientAuth, cfg.ClientCAs)
	}
	opts := x509.VerifyOptions{Roots: cfg.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := p.client.Leaf.Verify(opts); err != nil {
		t.Errorf("the client CA's certificate does not verify against ClientCAs: %v", err)
	}
	if _, err := p.stranger.Leaf.Verify(opts); err == nil {
		t.Error("a stranger's certificate verifies against ClientCAs")
	}
	want := x509.NewCertPool()
	want.AddCert(p.serverCA)
	want.AddCert(p.clientCA)
	if !cfg.ClientCAs.Equal(want) {
		t.Error("ClientCAs is not the bundle's two certificates")
	}
}
