package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	sockplanev1 "github.com/sockplane/sockplane/gen/sockplane/v1"
	"github.com/sockplane/sockplane/internal/testcert"
)

const testAuthToken = "test-token-0123456789abcdef"

// withToken sets --auth-token.
func withToken(o *options) { o.authToken = testAuthToken }

// withTLS serves both ports with certs' server certificate; with
// clientCA, it requires client certificates too (mutual TLS).
func withTLS(certs testcert.Files, clientCA bool) func(*options) {
	return func(o *options) {
		o.tlsCert, o.tlsKey = certs.ServerCert, certs.ServerKey
		if clientCA {
			o.tlsClientCA = certs.CA
		}
	}
}

// dialSecure connects to the daemon's gRPC port with cfg (nil: plaintext).
func dialSecure(t *testing.T, d *daemon, cfg *tls.Config, opts ...grpc.DialOption) sockplanev1.ListenerServiceClient {
	t.Helper()
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(d.grpcAddr(), append(opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return sockplanev1.NewListenerServiceClient(conn)
}

// listListeners makes one ListListeners call with authorization metadata
// auth ("": none) and returns its code.
func listListeners(t *testing.T, ls sockplanev1.ListenerServiceClient, auth string) (codes.Code, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	}
	_, err := ls.ListListeners(ctx, &sockplanev1.ListListenersRequest{})
	return status.Code(err), err
}

// httpReq is one request to the daemon's HTTP port.
type httpReq struct {
	method, path string
	body         string
	contentType  string // "": none
	auth         string // the Authorization header; "": none
	host         string // the Host header; "": the daemon's address
}

// httpClient is a client of the daemon's HTTP port with cfg (nil:
// plaintext), and its base URL.
func httpClient(t *testing.T, d *daemon, cfg *tls.Config) (*http.Client, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	scheme := "http://"
	if cfg != nil {
		scheme = "https://"
	}
	return &http.Client{Transport: tr, Timeout: testTimeout}, scheme + d.httpAddr()
}

// doHTTP makes r and returns its status and body, or the error of a
// request that got no reply.
func doHTTP(t *testing.T, c *http.Client, base string, r httpReq) (int, string, error) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.host != "" {
		req.Host = r.host
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// wantHTTP makes r and checks its status.
func wantHTTP(t *testing.T, c *http.Client, base string, r httpReq, want int) string {
	t.Helper()
	got, body, err := doHTTP(t, c, base, r)
	if err != nil || got != want {
		t.Errorf("%s %s (auth %q, type %q, host %q): %d %v, want %d\n%s", r.method, r.path, r.auth, r.contentType, r.host, got, err, want, body)
	}
	return body
}

const createBody = `{"id":"%s","transport":"TRANSPORT_TCP","address":"127.0.0.1:0"}`

func TestAuthTokenOverGRPCAndREST(t *testing.T) {
	d := startDaemon(t, withToken)
	ls := dialSecure(t, d, nil)
	for _, tt := range []struct {
		auth string
		want codes.Code
	}{
		{"", codes.Unauthenticated},
		{"Bearer wrong", codes.Unauthenticated},
		{"Bearer " + testAuthToken, codes.OK},
	} {
		if got, err := listListeners(t, ls, tt.auth); got != tt.want {
			t.Errorf("gRPC ListListeners with %q: %v, want %v", tt.auth, err, tt.want)
		} else if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("gRPC ListListeners: the error %q echoes the token", err)
		}
	}

	// Health needs no token; reflection does.
	conn, err := grpc.NewClient(d.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v %v", hr, err)
	}
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		_ = refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = refl.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without a token: %v, want UNAUTHENTICATED", err)
	}

	c, base := httpClient(t, d, nil)
	bearer := "Bearer " + testAuthToken
	for _, path := range []string{"/v1/listeners", "/metrics", "/openapi.json"} {
		wantHTTP(t, c, base, httpReq{method: "GET", path: path}, http.StatusUnauthorized)
		wantHTTP(t, c, base, httpReq{method: "GET", path: path, auth: "Bearer wrong"}, http.StatusUnauthorized)
		wantHTTP(t, c, base, httpReq{method: "GET", path: path, auth: bearer}, http.StatusOK)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		wantHTTP(t, c, base, httpReq{method: "GET", path: path}, http.StatusOK)
	}
	create := httpReq{method: "POST", path: "/v1/listeners", body: strings.Replace(createBody, "%s", "authed", 1), contentType: "application/json"}
	wantHTTP(t, c, base, create, http.StatusUnauthorized)
	create.auth = bearer
	wantHTTP(t, c, base, create, http.StatusOK)
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners/authed:stop", auth: bearer}, http.StatusOK)

	// A server stream through the gateway: the forwarded header passes
	// the gRPC server's stream check too.
	wantHTTP(t, c, base, httpReq{method: "GET", path: "/v1/events"}, http.StatusUnauthorized)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
		t.Errorf("GET /v1/events with the token: %d %s", resp.StatusCode, ct)
	}
}

func TestAuthTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  "+testAuthToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(o *options) { o.authTokenFile = file })
	ls := dialSecure(t, d, nil)
	if got, err := listListeners(t, ls, "Bearer "+testAuthToken); got != codes.OK {
		t.Errorf("the token of the file, trimmed: %v", err)
	}
	if got, err := listListeners(t, ls, "Bearer "+testAuthToken+"x"); got != codes.Unauthenticated {
		t.Errorf("another token: %v, want UNAUTHENTICATED", err)
	}
}

func TestTLSOnBothPorts(t *testing.T) {
	certs := testcert.New(t)
	d := startDaemon(t, withTLS(certs, false))

	// gRPC: plaintext and an unknown CA refused, TLS served.
	if got, err := listListeners(t, dialSecure(t, d, nil), ""); got != codes.Unavailable {
		t.Errorf("gRPC plaintext to a TLS port: %v, want UNAVAILABLE", err)
	}
	untrusting := &tls.Config{RootCAs: testcert.Files{CA: certs.OtherCA}.ClientTLS(t, false).RootCAs}
	if got, err := listListeners(t, dialSecure(t, d, untrusting), ""); got != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("gRPC TLS with another CA: %v, want UNAVAILABLE for the certificate", err)
	}
	if got, err := listListeners(t, dialSecure(t, d, certs.ClientTLS(t, false)), ""); got != codes.OK {
		t.Errorf("gRPC over TLS: %v", err)
	}

	// HTTP: plaintext refused by net/http, TLS served, the gateway too.
	plain, plainBase := httpClient(t, d, nil)
	if body := wantHTTP(t, plain, plainBase, httpReq{method: "GET", path: "/v1/listeners"}, http.StatusBadRequest); !strings.Contains(body, "HTTPS") {
		t.Errorf("HTTP to a TLS port: %q", body)
	}
	if _, _, err := doHTTP(t, func() *http.Client { c, _ := httpClient(t, d, untrusting); return c }(), "https://"+d.httpAddr(), httpReq{method: "GET", path: "/healthz"}); err == nil {
		t.Error("HTTPS with another CA: no error")
	}
	c, base := httpClient(t, d, certs.ClientTLS(t, false))
	wantHTTP(t, c, base, httpReq{method: "GET", path: "/healthz"}, http.StatusOK)
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: strings.Replace(createBody, "%s", "over-tls", 1), contentType: "application/json"}, http.StatusOK)
	// The certificate's DNS name is a loopback name for the Host check.
	wantHTTP(t, c, base, httpReq{method: "GET", path: "/v1/listeners/over-tls", host: "localhost"}, http.StatusOK)
}

func TestMutualTLSOnBothPorts(t *testing.T) {
	certs := testcert.New(t)
	d := startDaemon(t, withTLS(certs, true))

	if got, err := listListeners(t, dialSecure(t, d, certs.ClientTLS(t, false)), ""); got != codes.Unavailable {
		t.Errorf("gRPC over TLS without a client certificate: %v, want UNAVAILABLE", err)
	}
	if got, err := listListeners(t, dialSecure(t, d, certs.ClientTLS(t, true)), ""); got != codes.OK {
		t.Errorf("gRPC with a client certificate: %v", err)
	}

	noCert, base := httpClient(t, d, certs.ClientTLS(t, false))
	if status, _, err := doHTTP(t, noCert, base, httpReq{method: "GET", path: "/v1/listeners"}); err == nil {
		t.Errorf("HTTPS without a client certificate: %d, want a TLS error", status)
	}
	c, base := httpClient(t, d, certs.ClientTLS(t, true))
	// The gateway calls the gRPC server in-process, without a certificate.
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: strings.Replace(createBody, "%s", "mtls", 1), contentType: "application/json"}, http.StatusOK)
	wantHTTP(t, c, base, httpReq{method: "GET", path: "/v1/listeners/mtls"}, http.StatusOK)
}

func TestContentTypeOverRESTAndGRPC(t *testing.T) {
	d := startDaemon(t)
	c, base := httpClient(t, d, nil)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: strings.Replace(createBody, "%s", "typed", 1), contentType: ct}, http.StatusUnsupportedMediaType)
	}
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: strings.Replace(createBody, "%s", "typed", 1), contentType: "application/json; charset=utf-8"}, http.StatusOK)
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners/typed:stop"}, http.StatusOK) // no body, no type

	// gRPC-go itself refuses any content type but application/grpc with
	// 415; a browser cannot send application/grpc cross-origin without
	// a preflight.
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: h2c}
	defer tr.CloseIdleConnections()
	grpcClient := &http.Client{Transport: tr, Timeout: testTimeout}
	emptyMessage := make([]byte, 5) // not compressed, length 0: ListListenersRequest{}
	for _, tt := range []struct {
		contentType string
		status      int
	}{
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"application/grpc", http.StatusOK},
	} {
		req, err := http.NewRequest("POST", "http://"+d.grpcAddr()+sockplanev1.ListenerService_ListListeners_FullMethodName, bytes.NewReader(emptyMessage))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", tt.contentType)
		req.Header.Set("TE", "trailers")
		resp, err := grpcClient.Do(req)
		if err != nil {
			t.Fatalf("h2c %s: %v", tt.contentType, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("gRPC port, Content-Type %s: HTTP %d, want %d", tt.contentType, resp.StatusCode, tt.status)
		}
		if tt.status == http.StatusOK && resp.Trailer.Get("Grpc-Status") != "0" {
			t.Errorf("gRPC port, Content-Type %s: grpc-status %q, want 0", tt.contentType, resp.Trailer.Get("Grpc-Status"))
		}
	}
}

func TestBodySizeOverRESTAndGRPC(t *testing.T) {
	d := startDaemon(t)
	c, base := httpClient(t, d, nil)
	// Valid JSON of exactly 1 MiB, most of it whitespace, creates a
	// listener; one byte more is refused before the gateway reads it.
	head, tail := `{"id":"big","transport":"TRANSPORT_TCP",`, `"address":"127.0.0.1:0"}`
	padded := func(n int) string { return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail }
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: padded(1 << 20), contentType: "application/json"}, http.StatusOK)
	wantHTTP(t, c, base, httpReq{method: "POST", path: "/v1/listeners", body: padded(1<<20 + 1), contentType: "application/json"}, http.StatusRequestEntityTooLarge)

	// gRPC takes a message of up to 4 MiB: one just under reaches the
	// service (which refuses the id as too long), one over does not.
	ls := dialSecure(t, d, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, tt := range []struct {
		idLen int
		want  codes.Code
	}{
		{grpcMaxRecvMsgSize - 1024, codes.InvalidArgument},
		{grpcMaxRecvMsgSize + 1, codes.ResourceExhausted},
	} {
		_, err := ls.CreateListener(ctx, &sockplanev1.CreateListenerRequest{Listener: &sockplanev1.Listener{
			Id: strings.Repeat("a", tt.idLen), Transport: sockplanev1.Transport_TRANSPORT_TCP, Address: "127.0.0.1:0",
		}})
		if status.Code(err) != tt.want {
			t.Errorf("gRPC message with a %d-byte id: %v, want %v", tt.idLen, err, tt.want)
		}
	}
}

func TestHostCheckOnLoopback(t *testing.T) {
	d := startDaemon(t)
	c, base := httpClient(t, d, nil)
	_, port, _ := strings.Cut(d.httpAddr(), ":")
	for _, host := range []string{"evil.example", "evil.example:" + port, "localhost.evil.example:" + port} {
		for _, path := range []string{"/v1/listeners", "/healthz", "/metrics"} {
			wantHTTP(t, c, base, httpReq{method: "GET", path: path, host: host}, http.StatusForbidden)
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "localhost"} {
		wantHTTP(t, c, base, httpReq{method: "GET", path: "/v1/listeners", host: host}, http.StatusOK)
	}
	// gRPC has no Host check: a browser cannot speak it (HTTP/2 with
	// trailers and application/grpc), so a rebound page cannot reach it.
	if got, err := listListeners(t, dialSecure(t, d, nil, grpc.WithAuthority("evil.example")), ""); got != codes.OK {
		t.Errorf("gRPC with :authority evil.example: %v", err)
	}
}

// TestNonLoopbackRefusedWithoutAuth: an exposed API without a token or
// mutual TLS does not start, and binds nothing.
func TestNonLoopbackRefusedWithoutAuth(t *testing.T) {
	certs := testcert.New(t)
	for _, tt := range []struct {
		name  string
		edit  func(*options)
		wants []string
	}{
		{"http on every interface", func(o *options) { o.httpAddr = "0.0.0.0:0" }, []string{"--http-addr 0.0.0.0:0 is not a loopback address", "--auth-token-file", "--tls-client-ca", "127.0.0.1"}},
		{"grpc on every IPv6 interface", func(o *options) { o.grpcAddr = "[::]:0" }, []string{"--grpc-addr [::]:0 is not a loopback address"}},
		{"empty host", func(o *options) { o.grpcAddr = ":0" }, []string{"--grpc-addr :0 is not a loopback address"}},
		{"a host name", func(o *options) { o.httpAddr = "example.invalid:0" }, []string{"--http-addr example.invalid:0 is not a loopback address"}},
		{"TLS without client certificates", func(o *options) { withTLS(certs, false)(o); o.httpAddr = "0.0.0.0:0" }, []string{"--tls-cert alone encrypts but lets any client in"}},
	} {
		opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0"}
		tt.edit(&opts)
		_, err := newDaemon(opts, slog.New(slog.DiscardHandler))
		if err == nil {
			t.Fatalf("%s: newDaemon started", tt.name)
		}
		for _, want := range tt.wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", tt.name, err, want)
			}
		}
	}
	// The same from the command line.
	err := run([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "0.0.0.0:0", "--data-dir", ""})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address and the API has no authentication") {
		t.Errorf("run with --http-addr 0.0.0.0:0: %v", err)
	}
}

// TestNonLoopbackWithAuthStarts binds 0.0.0.0:0 for as long as it takes
// to start and stop; it sends nothing there.
func TestNonLoopbackWithAuthStarts(t *testing.T) {
	certs := testcert.New(t)
	for _, edit := range []func(*options){withToken, withTLS(certs, true)} {
		t.Run("", func(t *testing.T) {
			d := startDaemon(t, edit, func(o *options) { o.httpAddr, o.grpcAddr = "0.0.0.0:0", "0.0.0.0:0" })
			if isLoopbackListener(d.httpLn) {
				t.Errorf("bound to %s", d.httpAddr())
			}
		})
	}
}

func TestSecurityFlagErrors(t *testing.T) {
	certs := testcert.New(t)
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	readable := write("readable", testAuthToken, 0o644)
	groupOnly := write("group", testAuthToken, 0o640)
	empty := write("empty", "\n \n", 0o600)
	spaced := write("spaced", "two words", 0o600)
	notPEM := write("not-pem", "hello", 0o600)
	for _, tt := range []struct {
		name string
		edit func(*options)
		want string
	}{
		{"token file readable by others", func(o *options) { o.authTokenFile = readable }, "mode 0644 lets other users read or change the token; run chmod 600"},
		{"token file readable by the group", func(o *options) { o.authTokenFile = groupOnly }, "mode 0640"},
		{"empty token file", func(o *options) { o.authTokenFile = empty }, "the token is empty"},
		{"token with a space", func(o *options) { o.authTokenFile = spaced }, "a space, a control character or a non-ASCII byte at byte 3"},
		{"missing token file", func(o *options) { o.authTokenFile = filepath.Join(dir, "nope") }, "no such file"},
		{"both token flags", func(o *options) { o.authToken, o.authTokenFile = "x", readable }, "--auth-token and --auth-token-file both set"},
		{"cert without key", func(o *options) { o.tlsCert = certs.ServerCert }, "--tls-cert and --tls-key go together"},
		{"client CA without cert", func(o *options) { o.tlsClientCA = certs.CA }, "--tls-client-ca needs --tls-cert and --tls-key"},
		{"key of another cert", func(o *options) { o.tlsCert, o.tlsKey = certs.ServerCert, certs.ClientKey }, "private key does not match public key"},
		{"client CA not PEM", func(o *options) { withTLS(certs, false)(o); o.tlsClientCA = notPEM }, "no PEM certificate in it"},
	} {
		opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0"}
		tt.edit(&opts)
		_, err := newDaemon(opts, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to say %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), testAuthToken) {
			t.Errorf("%s: the error %q holds the token", tt.name, err)
		}
	}
}

func TestGatewayListener(t *testing.T) {
	ln := newGatewayListener()
	accepted := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		_, _ = io.ReadFull(c, buf)
		accepted <- buf
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := ln.dial(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(c, binary.BigEndian, uint32(42)); err != nil {
		t.Fatal(err)
	}
	if got := <-accepted; !bytes.Equal(got, []byte{0, 0, 0, 42}) {
		t.Errorf("accepted end read %v", got)
	}
	_ = c.Close()
	_ = ln.Close()
	if _, err := ln.Accept(); err == nil {
		t.Error("Accept after Close: no error")
	}
	if _, err := ln.dial(ctx, ""); err == nil {
		t.Error("dial after Close: no error")
	}
}

// TestPortInUse: a bind error is returned, with everything opened so far
// closed again.
func TestPortInUse(t *testing.T) {
	d := startDaemon(t)
	for _, edit := range []func(*options){
		func(o *options) { o.grpcAddr = d.grpcAddr() },
		func(o *options) { o.httpAddr = d.httpAddr() },
	} {
		opts := options{grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", dataDir: t.TempDir()}
		edit(&opts)
		_, err := newDaemon(opts, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("newDaemon on a port in use: %v", err)
		}
	}
}
