package tlsconf

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/sockplane/sockplane/rawsock"
)

// Spec is a listener's TLS settings as the API spells them (JSON names in
// comments).
type Spec struct {
	SelfSigned   bool     // selfSigned: serve a certificate made at create (see EnsureSelfSigned)
	CertFile     string   // certFile (PEM): the certificate, then any intermediates
	KeyFile      string   // keyFile (PEM): the private key of certFile's first certificate
	ClientCAFile string   // clientCaFile (PEM bundle): require and verify client certificates
	MinVersion   string   // minVersion: "1.2" (default) or "1.3"
	ALPN         []string // alpn: the protocol names offered, most preferred first

	// SelfSignedCertPEM and SelfSignedKeyPEM hold the generated
	// certificate and key of a selfSigned spec, so that they are kept with
	// the desired state and a restart serves the same certificate.
	// EnsureSelfSigned sets them, never a user; the API layer must not
	// expose the key.
	SelfSignedCertPEM []byte
	SelfSignedKeyPEM  []byte
}

// DefaultMinVersion is the minVersion of a spec that leaves it empty.
const DefaultMinVersion = "1.2"

// versions maps each accepted minVersion to its tls constant.
var versions = map[string]uint16{
	"1.2": tls.VersionTLS12,
	"1.3": tls.VersionTLS13,
}

// maxALPNName is the longest protocol name ALPN can carry (RFC 7301: a
// one-byte length).
const maxALPNName = 255

// WithDefaults returns s with every defaulted field filled in: an empty
// MinVersion becomes DefaultMinVersion. A nil ALPN stays nil (no ALPN).
func (s Spec) WithDefaults() Spec {
	s = s.Clone()
	if s.MinVersion == "" {
		s.MinVersion = DefaultMinVersion
	}
	return s
}

// Validate checks the user-settable fields. An error is a
// *rawsock.FieldError whose Field is relative to the tls object:
//
//   - "selfSigned" when both selfSigned and certFile/keyFile are set, or
//     neither;
//   - "certFile" or "keyFile" when one is set without the other;
//   - "minVersion" for anything but "1.2" or "1.3" (an empty one is the
//     default, "1.2");
//   - "alpn[i]" for an empty protocol name or one over 255 bytes.
//
// Validate reads no file: Build does, at every start.
func (s Spec) Validate() error {
	hasFiles := s.CertFile != "" || s.KeyFile != ""
	switch {
	case s.SelfSigned && hasFiles:
		return fieldError("selfSigned", "cannot be combined with certFile and keyFile: give one or the other")
	case !s.SelfSigned && !hasFiles:
		return fieldError("selfSigned", "set selfSigned, or certFile and keyFile")
	case s.CertFile == "" && s.KeyFile != "":
		return fieldError("certFile", "required with keyFile")
	case s.CertFile != "" && s.KeyFile == "":
		return fieldError("keyFile", "required with certFile")
	}
	if _, ok := versions[s.MinVersion]; !ok && s.MinVersion != "" {
		return fieldError("minVersion", fmt.Sprintf("%q is not a supported TLS version: use \"1.2\" or \"1.3\"", s.MinVersion))
	}
	for i, p := range s.ALPN {
		field := fmt.Sprintf("alpn[%d]", i)
		switch {
		case p == "":
			return fieldError(field, "empty protocol name")
		case len(p) > maxALPNName:
			return fieldError(field, fmt.Sprintf("is %d bytes long; a protocol name has at most %d", len(p), maxALPNName))
		}
	}
	return nil
}

// Clone returns a copy of s that shares no slice with it. Nil slices stay
// nil.
func (s Spec) Clone() Spec {
	s.ALPN = slices.Clone(s.ALPN)
	s.SelfSignedCertPEM = bytes.Clone(s.SelfSignedCertPEM)
	s.SelfSignedKeyPEM = bytes.Clone(s.SelfSignedKeyPEM)
	return s
}

// Equal reports whether a and b serve the same thing: the same
// user-settable fields once defaults are filled in (an empty minVersion
// equals "1.2", a nil alpn an empty one) and the same self-signed
// material.
func Equal(a, b Spec) bool {
	a, b = a.WithDefaults(), b.WithDefaults()
	return a.SelfSigned == b.SelfSigned &&
		a.CertFile == b.CertFile &&
		a.KeyFile == b.KeyFile &&
		a.ClientCAFile == b.ClientCAFile &&
		a.MinVersion == b.MinVersion &&
		slices.Equal(a.ALPN, b.ALPN) &&
		bytes.Equal(a.SelfSignedCertPEM, b.SelfSignedCertPEM) &&
		bytes.Equal(a.SelfSignedKeyPEM, b.SelfSignedKeyPEM)
}

// String formats s for logs and test failures without its private key:
// the self-signed material shows as its size only.
func (s Spec) String() string {
	return fmt.Sprintf("tlsconf.Spec{SelfSigned:%t CertFile:%q KeyFile:%q ClientCAFile:%q MinVersion:%q ALPN:%q SelfSignedCertPEM:<%d bytes> SelfSignedKeyPEM:<%s>}",
		s.SelfSigned, s.CertFile, s.KeyFile, s.ClientCAFile, s.MinVersion, s.ALPN, len(s.SelfSignedCertPEM), redacted(s.SelfSignedKeyPEM))
}

// GoString is String, so that %#v does not print the key either.
func (s Spec) GoString() string { return s.String() }

func redacted(key []byte) string {
	if len(key) == 0 {
		return "none"
	}
	return "redacted"
}

func fieldError(field, reason string) *rawsock.FieldError {
	return &rawsock.FieldError{Field: field, Reason: reason}
}
