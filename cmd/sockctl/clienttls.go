package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// listenerTLS are the flags of send, chat and bench that make them speak
// TLS to the listener. Their names --tls-ca, --tls-cert, --tls-key and
// --tls-server-name are also the root command's persistent flags for the
// connection to the daemon; send, chat and bench never call the daemon,
// so on them local flags of the same names shadow those (cobra merges a
// parent's persistent flag only when the command has no flag of its
// name), and they mean the listener's TLS.
type listenerTLS struct {
	// on asks for TLS with the system's roots. Default: false, but any
	// other flag of these turns TLS on.
	on bool
	// ca is a PEM file of the CA certificates (or the pinned self-signed
	// certificate) the listener's certificate must chain to. Default: "",
	// the system's roots.
	ca string
	// pin is the SHA-256 of the listener's leaf certificate, hex. With it
	// the certificate must be exactly that one; the chain and the name
	// are checked only when ca is given too. Default: "".
	pin string
	// insecure checks nothing of the listener's certificate.
	insecure bool
	// cert and key are a PEM client certificate and its key, for mutual
	// TLS. Default: none.
	cert, key string
	// serverName is the name the certificate must hold. Default: the host
	// of ADDR (an IP is checked against the IP addresses of the
	// certificate), or "localhost" for a Unix socket or an ADDR without a
	// host.
	serverName string
	// flags are the flags of the command, to tell --tls=false from
	// --tls not given.
	flags *pflag.FlagSet
}

// listenerTLSHelp is the part of the help of send, chat and bench about
// TLS.
const listenerTLSHelp = `TLS: --tls speaks TLS to the listener (TCP, or a Unix stream socket with
--unix), verifying its certificate with the system's roots against
--tls-server-name (default: the host of ADDR, an IP checked against the
certificate's IP addresses; localhost for --unix). --tls-ca FILE trusts the
PEM certificates in FILE instead, such as a self-signed listener's
certificate:

  sockctl listeners get web -o json | jq -r .status.tls.certificatePem > web.pem

--tls-pin SHA256 accepts exactly the certificate of that fingerprint, the
hex of status.tls.fingerprintSha256 (colons optional), whatever its name or
issuer; --insecure accepts any certificate. --tls-cert and --tls-key present
a client certificate, for a listener with mutual TLS. Every one of these
flags implies --tls. Here they mean the listener's TLS: the root command's
flags of the same names, for the daemon's API, do not apply.`

// addFlags defines the flags on cmd as local flags, shadowing the root
// command's persistent flags of the same names.
func (t *listenerTLS) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	t.flags = f
	f.BoolVar(&t.on, "tls", false, "speak TLS to the listener, verifying it with the system's roots (implied by every --tls-* flag and --insecure)")
	f.StringVar(&t.ca, "tls-ca", "", "`FILE` of PEM certificates to verify the listener with, e.g. its status.tls.certificatePem")
	f.StringVar(&t.pin, "tls-pin", "", "accept only the listener certificate of fingerprint `SHA256`: the hex of its status.tls.fingerprintSha256, colons optional")
	f.BoolVar(&t.insecure, "insecure", false, "speak TLS without verifying the listener's certificate")
	f.StringVar(&t.cert, "tls-cert", "", "PEM client certificate `FILE`, for a listener with mutual TLS; needs --tls-key")
	f.StringVar(&t.key, "tls-key", "", "PEM private key `FILE` of --tls-cert")
	f.StringVar(&t.serverName, "tls-server-name", "", "`NAME` the listener's certificate must hold (default: the host of ADDR; localhost for --unix)")
}

// enabled reports whether the flags ask for TLS.
func (t *listenerTLS) enabled() bool {
	return t.on || t.ca != "" || t.pin != "" || t.insecure || t.cert != "" || t.key != "" || t.serverName != ""
}

// check refuses TLS over a datagram network, and --tls=false with other
// TLS flags.
func (t *listenerTLS) check(network string) error {
	if t.flags != nil && t.flags.Changed("tls") && !t.on && t.enabled() {
		return errors.New("--tls=false cannot go with --tls-ca, --tls-pin, --insecure, --tls-cert, --tls-key or --tls-server-name, which speak TLS")
	}
	if !t.enabled() {
		return nil
	}
	if t.insecure && (t.ca != "" || t.pin != "") {
		return errors.New("--insecure verifies nothing: it cannot go with --tls-ca or --tls-pin, which verify the listener")
	}
	switch network {
	case "udp":
		return errors.New("TLS is for TCP and Unix stream listeners: it cannot go with --udp (DTLS is not supported)")
	case "unixgram":
		return errors.New("TLS is for TCP and Unix stream listeners: it cannot go with --unixgram")
	}
	return nil
}

// config returns the client TLS of the flags for the listener at addr on
// network, or nil when TLS is off.
func (t *listenerTLS) config(network, addr string) (*tls.Config, error) {
	if !t.enabled() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName}
	if cfg.ServerName == "" {
		cfg.ServerName = defaultServerName(network, addr)
	}
	if t.ca != "" {
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", t.ca)
		}
	}
	switch {
	case t.cert == "" && t.key == "":
	case t.cert == "" || t.key == "":
		return nil, errors.New("--tls-cert and --tls-key go together: the client certificate and its private key")
	default:
		cert, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", t.cert, t.key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch {
	case t.insecure:
		cfg.InsecureSkipVerify = true
	case t.pin != "":
		pin, err := parsePin(t.pin)
		if err != nil {
			return nil, err
		}
		// The chain is checked here, not by crypto/tls: a pinned
		// certificate is usually self-signed, and trusted because it is
		// the one pinned. With --tls-ca too, it must also chain to it.
		cfg.InsecureSkipVerify = true
		roots, name := cfg.RootCAs, cfg.ServerName
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPinned(cs, pin, roots, name)
		}
	}
	return cfg, nil
}

// defaultServerName is the name a listener's certificate is checked
// against when --tls-server-name is not given: the host of addr, or
// localhost for a Unix socket or an address without a host (":9000").
func defaultServerName(network, addr string) string {
	if network != "tcp" {
		return "localhost"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "localhost"
	}
	return host
}

// parsePin reads a --tls-pin: 64 hex digits, in any case, colons
// optional.
func parsePin(s string) (string, error) {
	pin := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(pin); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("--tls-pin %q: want the SHA-256 of the certificate, 64 hex digits (colons optional), as status.tls.fingerprintSha256 shows", s)
	}
	return pin, nil
}

// verifyPinned accepts the connection whose leaf certificate has the
// SHA-256 pin; with roots, it must also chain to them and hold name.
func verifyPinned(cs tls.ConnectionState, pin string, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the listener sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return fmt.Errorf("the listener's certificate has SHA-256 %s, not the --tls-pin %s", got, pin)
	}
	if roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
	return err
}

// handshake runs the TLS handshake of a new connection within its
// deadline and returns the TLS connection. A failure closes conn.
func handshake(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string) (*tls.Conn, error) {
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w%s", addr, err, tlsHint(err, true, len(cfg.Certificates) > 0))
	}
	return tc, nil
}

// tlsHint guesses, from the error of a handshake or of a read, at a TLS
// setting that does not match the listener's, and says what to pass.
// tlsOn says whether sockctl speaks TLS, clientCert whether it sent a
// certificate.
func tlsHint(err error, tlsOn, clientCert bool) string {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		recordHeader     tls.RecordHeaderError
	)
	msg := err.Error()
	switch {
	case !tlsOn:
		// A TLS listener reads the first frame as a ClientHello, finds it
		// is none and closes the connection, with an EOF or a reset.
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return " (if the listener speaks TLS, pass --tls, with --tls-ca FILE or --tls-pin SHA256 for a self-signed one)"
		}
	case errors.As(err, &recordHeader):
		return " (the listener answered in plaintext: does it speak TLS?)"
	case errors.As(err, &unknownAuthority):
		return " (pass --tls-ca FILE with the listener's certificate, as listeners get ID -o json shows it in status.tls.certificatePem, or --tls-pin with its status.tls.fingerprintSha256)"
	case errors.As(err, &hostname):
		return " (pass --tls-server-name with a name the certificate holds)"
	case !clientCert && containsAny(msg, "certificate required", "bad certificate", "broken pipe", "connection reset", "EOF"):
		// With TLS 1.3 the client's handshake ends before the server
		// checks for a client certificate, so the refusal shows on the
		// first read, as the alert or as a closed connection.
		return " (if the listener requires a client certificate, pass --tls-cert and --tls-key)"
	}
	return ""
}
