package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// MaxRequestBody bounds the body of a REST request: 1 MiB. The API's
// largest requests, a listener spec or a frame to send, are far smaller,
// and the gateway decodes a body whole in memory, so the bound is also
// what one request may make the daemon hold. (A gRPC message may be up
// to 4 MiB, gRPC's default, which the daemon states explicitly.)
const MaxRequestBody = 1 << 20

// HTTPGuardConfig is what NewHTTPGuard checks.
type HTTPGuardConfig struct {
	// Auth, when set, requires its bearer token in the Authorization
	// header of every request except the probes GET /healthz and
	// /readyz, which carry no credentials and tell nothing but whether
	// the daemon serves, and the web dashboard's own files (GET /ui/...,
	// ui.go: the same in every binary), which a browser loads without a
	// header and which then ask for the token. /metrics and
	// /openapi.json need the token: they show the listeners' ids,
	// addresses and traffic, and the API. The
	// REST API checks the token twice: here, before any body is read,
	// and in the gRPC server, to which the gateway forwards the header.
	// Default: nil, no token.
	Auth *TokenAuth
	// LoopbackOnly refuses every request whose Host header is not a
	// loopback name (localhost, 127.0.0.0/8 or [::1], with or without a
	// port) or one of ExtraHosts, with 403. Set it when the port is
	// bound to a loopback address: then a Host of any other name can
	// only come from a web page whose DNS name was rebound to 127.0.0.1,
	// which the browser lets read the replies as its own origin.
	// Default: false, any Host.
	LoopbackOnly bool
	// ExtraHosts are further names LoopbackOnly lets in, such as the DNS
	// names of the server's TLS certificate: with TLS a rebound name
	// fails the browser's certificate check anyway. Default: none.
	ExtraHosts []string
	// MaxBodyBytes bounds a request body; a larger one is refused with
	// 413. Default (0): MaxRequestBody, 1 MiB.
	MaxBodyBytes int64
}

// probePaths answer without the token (HTTPGuardConfig.Auth): the HTTP
// side of the gRPC health service, which is exempt too.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true}

// NewHTTPGuard returns next behind the checks of the daemon's HTTP port,
// in this order, each answering with a JSON error in the gateway's shape
// ({"code": <gRPC code>, "message": ..., "details": []}) when it refuses:
//
//   - Host, with cfg.LoopbackOnly: 403 PERMISSION_DENIED.
//   - the token, with cfg.Auth: 401 UNAUTHENTICATED, with a
//     WWW-Authenticate: Bearer challenge.
//   - a request with a body (any Content-Length but 0, or a chunked
//     one) must say Content-Type: application/json, parameters such as
//     charset allowed: else 415 INVALID_ARGUMENT. That stops cross-site
//     form and text/plain posts, the requests a browser sends anywhere
//     without asking (no CORS preflight); a JSON post from another
//     origin needs a preflight, which the daemon does not grant.
//   - a body over cfg.MaxBodyBytes: 413 RESOURCE_EXHAUSTED, at once when
//     Content-Length says so; a chunked body is read in (up to the
//     bound) before next runs, so it gets the same 413 and not the
//     gateway's 400 for a body cut short. The connection closes after a
//     413, once the rest of the body has been read and dropped (up to
//     8 MiB and 5 s), so that a client still sending it reads the 413
//     instead of a connection reset (tooLarge).
//
// Host comes first because a rebound page should learn nothing, not even
// whether a token is set; the token before the body checks so that an
// anonymous caller makes the daemon read no body.
func NewHTTPGuard(cfg HTTPGuardConfig, next http.Handler) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = MaxRequestBody
	}
	g := &httpGuard{next: next, auth: cfg.Auth, loopbackOnly: cfg.LoopbackOnly, maxBody: cfg.MaxBodyBytes, hosts: map[string]bool{"localhost": true}}
	for _, h := range cfg.ExtraHosts {
		g.hosts[strings.ToLower(h)] = true
	}
	return g
}

type httpGuard struct {
	next         http.Handler
	auth         *TokenAuth
	loopbackOnly bool
	hosts        map[string]bool // lowercase names besides loopback IPs; read only
	maxBody      int64
}

func (g *httpGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.loopbackOnly && !g.loopbackHost(r.Host) {
		writeGuardError(w, http.StatusForbidden, codes.PermissionDenied, fmt.Sprintf(
			"Host %q is not a loopback name: the API is bound to a loopback address and answers only to localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding)", r.Host))
		return
	}
	if g.auth != nil && !probePaths[r.URL.Path] && !uiPublic(r) {
		if err := g.auth.check(r.Header.Values("Authorization")); err != nil {
			challenge := `Bearer realm="sockplane"`
			switch {
			case errors.Is(err, errWrongToken):
				challenge += `, error="invalid_token"`
			case !errors.Is(err, errNoCredentials):
				challenge += `, error="invalid_request"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeGuardError(w, http.StatusUnauthorized, codes.Unauthenticated, err.Error())
			return
		}
	}
	if r.ContentLength != 0 && !g.checkBody(w, r) {
		return
	}
	g.next.ServeHTTP(w, r)
}

// checkBody applies the body checks to a request that has a body, and
// answers and returns false when one fails.
func (g *httpGuard) checkBody(w http.ResponseWriter, r *http.Request) bool {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		if ct == "" {
			ct = "none"
		}
		writeGuardError(w, http.StatusUnsupportedMediaType, codes.InvalidArgument, fmt.Sprintf(
			"request body of type %q: the API takes only application/json (send the header Content-Type: application/json)", ct))
		return false
	}
	if r.ContentLength > g.maxBody {
		g.tooLarge(w, r)
		return false
	}
	if r.ContentLength < 0 { // chunked: the length is only known once read
		body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
		switch {
		case err != nil:
			writeGuardError(w, http.StatusBadRequest, codes.InvalidArgument, "reading the request body: "+err.Error())
			return false
		case int64(len(body)) > g.maxBody:
			g.tooLarge(w, r)
			return false
		}
		r.ContentLength = int64(len(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The server already reads no more than Content-Length; this keeps
	// the bound whatever changes above.
	r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
	return true
}

// Lingering close: how much of a refused body the guard reads, and for
// how long, so that the client reads the 413. See tooLarge.
const (
	lingerBytes = 8 << 20
	lingerTime  = 5 * time.Second
)

// tooLarge answers 413 to a request whose body is over the bound, and
// then reads and drops the rest of the body, up to lingerBytes and for at
// most lingerTime, before the connection closes: nginx's lingering close.
// A client that sends the whole body before it reads the reply (Python's
// urllib, most simple clients) would otherwise still be sending when the
// server closes the connection with the body unread, which resets the
// connection (TCP RST), and the reset discards the 413 in the client's
// receive buffer: the client sees "connection reset", not the 413.
//
// It does not read a body the client has not started sending: one it
// asked to send only if told to (Expect: 100-continue, as curl does for
// large bodies), which the 413 tells it not to; nor one whose stated
// length is over lingerBytes, which would be cut short anyway.
func (g *httpGuard) tooLarge(w http.ResponseWriter, r *http.Request) {
	linger := r.ProtoMajor == 1 && !strings.EqualFold(r.Header.Get("Expect"), "100-continue") && r.ContentLength <= lingerBytes
	if r.ProtoMajor == 1 {
		// The connection goes with this reply: what is left of the body on
		// it would be read as the next request.
		w.Header().Set("Connection", "close")
	}
	writeGuardError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, fmt.Sprintf(
		"request body over %d bytes, the API's limit", g.maxBody))
	if !linger {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush() // the reply is on its way while the client still sends
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, r.Body, lingerBytes)
}

// isJSON reports whether a Content-Type header value is application/json,
// with any parameters.
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/json"
}

// loopbackHost reports whether hostport, a Host header, names this
// machine's loopback: localhost, an IP of 127.0.0.0/8 or ::1, or one of
// g.hosts, with or without a port.
func (g *httpGuard) loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // "[::1]": an IPv6 literal without a port
	}
	if g.hosts[strings.ToLower(host)] {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// writeGuardError answers with an error in the JSON shape of the
// gateway's own errors, so a REST client reads every refusal the same
// way.
func writeGuardError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // "Bearer <token>" reads as itself; the type below is not HTML
	_ = enc.Encode(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details"`
	}{int(code), msg, []any{}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body.Bytes())
}
