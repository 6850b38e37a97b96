// Package tlsconf turns the TLS settings of a stream listener (TCP or
// Unix) into the *tls.Config that serves them, and into what the
// listener's status shows so that a client can pin the certificate.
//
// A Spec is the settings as the API spells them: either a self-signed
// certificate made when the listener is created (selfSigned) or a
// certificate and key read from PEM files (certFile, keyFile); a client
// CA bundle for mutual TLS (clientCaFile); the lowest TLS version
// (minVersion) and the ALPN protocol names (alpn).
//
// The life of a spec:
//
//   - WithDefaults and Validate check it; errors are *rawsock.FieldError
//     naming the field relative to the tls object ("certFile", "alpn[1]"),
//     for the caller to prefix.
//   - EnsureSelfSigned generates the certificate and key of a selfSigned
//     spec once, at create. They travel inside the Spec
//     (SelfSignedCertPEM, SelfSignedKeyPEM) so that they are stored with
//     the desired state and a restart serves the same certificate.
//   - Build, at every start, reads the files (so a restart picks up a
//     renewed certificate) or parses the stored material, and returns the
//     server's *tls.Config with the Info that status shows.
//   - PeerSubject names the verified client certificate of a connection.
//
// The package never returns or prints private key bytes: errors name the
// file and the reason, Info carries only certificates, and Spec's String
// and GoString leave the key out.
package tlsconf
